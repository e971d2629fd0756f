"""``simulators.stack``: every process kind survives SIGKILL and restarts on its data dir.

Real processes (Mosquitto, ``mrv-sim run``, ``mrv-agent run``, ``mrv-collector run``) on a
60x plant clock. After each kill -9 + restart the collector keeps storing the agent's chain,
and at the end every batch the agent committed is stored exactly once, in order, acked,
with nothing quarantined. Waits poll the evidence store and the outbox; no sleeps.
"""

from __future__ import annotations

import json
import signal
import time
import urllib.request
from pathlib import Path

from simulators.stack import BrokerProcess, PlantClockSpec, Stack, wait_until
from tests.conftest import _require


def test_kill_and_restart_each_process_kind(tmp_path: Path) -> None:
    _require("mosquitto")
    with Stack(tmp_path / "stack", broker_prefer="mosquitto") as st:
        st.start_broker()
        col = st.add_collector({"plant": "other"})
        col.start()
        clock = PlantClockSpec(1_767_225_600_000, speed=60.0, anchor_wall_s=time.time())
        sim = st.add_simulator("meter", clock=clock)
        sim.start()
        sim.wait_ready()
        ag = st.add_agent(sim, site="plant", agent="meter1", poll_s=5.0, publish_s=10.0)
        ag.start()
        col.wait_ready()
        ag.wait_ready()
        st.wait_stored(ag, 3)

        def more_stored(n: int = 3) -> None:
            p = st.stored(ag)
            st.wait_stored(ag, (p.contiguous_through if p else 0) + n, timeout=90)

        # the agent: its outbox republishes what was not acked, the chain goes on
        assert ag.kill() == -signal.SIGKILL
        ag.start()
        ag.wait_ready()
        more_stored()

        # the collector: same evidence store, it acks again from where it stood
        assert col.kill() == -signal.SIGKILL
        col.start()
        col.wait_ready()
        more_stored()
        assert col.url is not None
        with urllib.request.urlopen(col.url + "login", timeout=10) as resp:  # UI is back
            assert resp.status == 200

        # the plant: same port and clock; the agent reconnects by itself
        assert sim.kill() == -signal.SIGKILL
        sim.start()
        sim.wait_ready()
        assert sim.ready_info["port"] == sim.port
        more_stored()

        # the broker: same port; agent and collector both reconnect
        broker = st.broker
        assert isinstance(broker, BrokerProcess)
        assert broker.kill() == -signal.SIGKILL
        broker.start()
        broker.wait_ready()
        more_stored()

        # graceful restarts (SIGTERM) keep working too
        ag.restart()
        col.restart()
        more_stored()

        heads = st.wait_drained([ag])
        p = st.stored(ag)
        # the running agent may commit more after the head snapshot: at least that head,
        # and every stored batch contiguous
        assert p is not None and p.contiguous_through >= heads[ag.name]
        assert p.contiguous_through == p.stored
        assert p.quarantined == 0
        status = col.status_cli()
        (a,) = status["agents"]
        assert a["gaps"] == [] and a["equivocations"] == 0
        assert a["contiguous_through"] >= heads[ag.name]
        assert json.loads(json.dumps(sim.state()))["kind"] == "meter"
        assert st.close() == []  # every process exits on SIGTERM
    for proc in st.processes:
        assert not proc.running


def test_wait_reports_a_crash_not_a_timeout(tmp_path: Path) -> None:
    with Stack(tmp_path / "stack") as st:
        clock = PlantClockSpec(1_767_225_600_000, speed=1.0, anchor_wall_s=time.time())
        sim = st.add_simulator("meter", clock=clock)
        sim.start()
        sim.wait_ready()
        sim.kill()
        try:
            wait_until(lambda: False, timeout=60, what="nothing", watch=[sim])
        except Exception as exc:
            assert "exited with code -9" in str(exc)
        else:
            raise AssertionError("wait_until did not notice the dead process")


_ORPHAN_PARENT = """
import json, sys, time
from pathlib import Path
from simulators.stack import PlantClockSpec, Stack
st = Stack(Path(sys.argv[1]), broker_prefer="mosquitto")
broker = st.start_broker()
sim = st.add_simulator("meter", clock=PlantClockSpec(1_767_225_600_000, speed=1.0, anchor_wall_s=time.time()))
sim.start()
sim.wait_ready()
print(json.dumps([broker.pid, sim.pid]), flush=True)
sys.stdin.read()  # until the test SIGKILLs us
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"  # a zombie has already exited
    except FileNotFoundError:
        return False


def test_children_do_not_outlive_a_sigkilled_parent(tmp_path: Path) -> None:
    """A demo killed with SIGKILL cannot clean up; its broker and plants must still go."""
    import subprocess
    import sys

    _require("mosquitto")
    parent = subprocess.Popen(
        [sys.executable, "-c", _ORPHAN_PARENT, str(tmp_path / "stack")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None
        children = json.loads(parent.stdout.readline())
        assert all(_alive(pid) for pid in children)
        parent.send_signal(signal.SIGKILL)
        parent.wait(30)
        wait_until(
            lambda: not any(_alive(pid) for pid in children),
            timeout=30,
            what="the SIGKILLed parent's broker and simulator to exit",
        )
    finally:
        parent.kill()
        parent.wait()


def test_embedded_amqtt_broker_carries_the_whole_path(tmp_path: Path) -> None:
    """Without Mosquitto the demo falls back to amqtt (MQTT 3.1.1 only): batches, acks, a
    restart of the agent and the birth status all work through it as through Mosquitto."""
    with Stack(tmp_path / "stack", broker_prefer="amqtt") as st:
        broker = st.start_broker()
        assert isinstance(broker, BrokerProcess) and broker.kind == "amqtt"
        col = st.add_collector({"plant": "other"})
        col.start()
        clock = PlantClockSpec(1_767_225_600_000, speed=60.0, anchor_wall_s=time.time())
        sim = st.add_simulator("meter", clock=clock)
        sim.start()
        sim.wait_ready()
        ag = st.add_agent(sim, site="plant", agent="meter1", poll_s=5.0, publish_s=10.0)
        ag.start()
        col.wait_ready()
        ag.wait_ready()
        st.wait_stored(ag, 3)
        ag.stop()  # SIGTERM: the agent commits what it spooled and leaves
        ag.start()
        ag.wait_ready()
        before = st.stored(ag)
        assert before is not None
        st.wait_stored(ag, before.contiguous_through + 2, timeout=90)
        drained = st.wait_drained([ag])
        progress = st.stored(ag)
        assert progress is not None and progress.quarantined == 0
        assert progress.contiguous_through == drained[ag.name]
        assert progress.online is True


def test_an_opcua_plant_through_the_stack(tmp_path: Path) -> None:
    """`mrv-sim run cement --protocol opcua` → `mrv-agent run` (OPC UA driver) → collector;
    a killed and restarted OPC UA server is bad readings, then a new session."""
    _require("mosquitto")
    with Stack(tmp_path / "stack", broker_prefer="mosquitto") as st:
        st.start_broker()
        col = st.add_collector({"kiln": "cement"})
        col.start()
        clock = PlantClockSpec(1_767_225_600_000, speed=60.0, anchor_wall_s=time.time())
        sim = st.add_simulator("cement", clock=clock, protocol="opcua")
        sim.start()
        sim.wait_ready()
        assert sim.ready_info["endpoint"] == sim.endpoint
        ag = st.add_agent(sim, site="kiln", agent="dcs1", poll_s=5.0, publish_s=10.0)
        ag.start()
        col.wait_ready()
        ag.wait_ready()
        st.wait_stored(ag, 3)
        assert sim.kill() == -signal.SIGKILL
        sim.start()
        sim.wait_ready()
        wait_until(
            lambda: '"device_recovered"' in ag.log_text(),
            timeout=90,
            what="the agent's new OPC UA session",
            watch=[ag, sim],
        )
        assert '"device_failed"' in ag.log_text()
        p = st.stored(ag)
        st.wait_stored(ag, (p.contiguous_through if p else 0) + 3, timeout=90)
        heads = st.wait_drained([ag])
        p = st.stored(ag)
        assert p is not None and p.contiguous_through == heads[ag.name] and p.quarantined == 0
