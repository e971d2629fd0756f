"""Test support: real servers (Mosquitto, VictoriaMetrics) started on loopback by the tests."""
