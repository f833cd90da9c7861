"""Which public data the design models learn from (science constants of the iQSPR design).

``LM_SOURCES``: the sources of repeat units the SMILES language model learns from.
``DESIGN_PROPERTIES``: target property -> (source, column) of the forward models' training data.

Examples
--------
>>> sorted(DESIGN_PROPERTIES)
['Tg', 'thermal_conductivity']
"""

from __future__ import annotations

__all__ = ["DESIGN_PROPERTIES", "LM_SOURCES", "training_smiles"]

LM_SOURCES = ("radonpy_pi1070", "polymon_tg", "polymon_tg_raw", "hightcond_initial_smiles")
DESIGN_PROPERTIES = {
    "thermal_conductivity": ("radonpy_pi1070", "thermal_conductivity"),
    "Tg": ("polymon_tg", "Tg"),
}


def training_smiles() -> list[str]:
    """The repeat units the language model learns from (canonical, deduplicated)."""
    from vlab.polymers import load_source

    seen: dict[str, None] = {}
    for name in LM_SOURCES:
        seen.update(dict.fromkeys(load_source(name, normalize=False).smiles))
    return list(seen)
