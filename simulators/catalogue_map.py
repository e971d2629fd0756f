"""How the simulated plants' registers map onto the key-parameter catalogue.

The simulators name registers as the devices do (``dc_energy_kwh``); records speak the
catalogue's ids and units (``dc_energy_mwh``). The example agent configs
(``config/agent/generate.py``) and the demo/test stacks (``simulators.stack``) both read this
one table, so an agent generated either way publishes the same ids.
"""

from __future__ import annotations

#: register name → (catalogue id, factor to the catalogue unit, unit)
RENAMES: dict[str, dict[str, tuple[str, float, str]]] = {
    "aluminium": {
        "dc_energy_kwh": ("dc_energy_mwh", 0.001, "MWh"),
        "ac_energy_kwh": ("ac_energy_mwh", 0.001, "MWh"),
        "cells_in_operation": ("operating_cells", 1.0, "cells"),
    },
    "cement": {
        "clinker_total_t": ("clinker_t", 1.0, "t"),
        "coal_kiln_total_t": ("kiln_coal_t", 1.0, "t"),
        "coal_calciner_total_t": ("calciner_coal_t", 1.0, "t"),
        "kiln_feed_tph": ("kiln_feed_t_per_h", 1.0, "t/h"),
        "energy_import_kwh": ("power_import_mwh", 0.001, "MWh"),
    },
    "steel": {
        "coke_total_t": ("coke_t", 1.0, "t"),
        "pci_coal_total_t": ("pci_coal_t", 1.0, "t"),
        "bfg_total_nm3": ("bf_gas_nm3", 1.0, "Nm³"),
        "cog_total_nm3": ("coke_oven_gas_nm3", 1.0, "Nm³"),
        "energy_import_kwh": ("power_import_mwh", 0.001, "MWh"),
        "coking_coal_total_t": ("coking_coal_t", 1.0, "t"),
        "coke_produced_total_t": ("coke_produced_t", 1.0, "t"),
        "tar_total_t": ("tar_t", 1.0, "t"),
        "crude_benzene_total_t": ("crude_benzene_t", 1.0, "t"),
        "limestone_total_t": ("limestone_t", 1.0, "t"),
        "dolomite_total_t": ("dolomite_t", 1.0, "t"),
        "coke_breeze_total_t": ("sinter_coke_breeze_t", 1.0, "t"),
        "scrap_total_t": ("scrap_t", 1.0, "t"),
        "bofg_total_nm3": ("bof_gas_nm3", 1.0, "Nm³"),
        "bfg_export_total_nm3": ("bf_gas_export_nm3", 1.0, "Nm³"),
    },
    "meter": {
        "import_energy_kwh": ("power_import_mwh", 0.001, "MWh"),
        "export_energy_kwh": ("power_export_mwh", 0.001, "MWh"),
    },
}

#: simulator kind → the industry whose catalogue its agent announces
INDUSTRY: dict[str, str] = {
    "aluminium": "aluminium",
    "cement": "cement",
    "steel": "steel",
    "meter": "generic",
}
