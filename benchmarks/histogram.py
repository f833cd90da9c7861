"""Histogram peak of the >= 100-trace break-junction campaign, merged into reference.json.

Run after ``vlab run examples/au-breakjunction.yaml && vlab run examples/au-sband.yaml``::

    python benchmarks/histogram.py [STORE_OR_CATALOG_NAME]   # default: catalog entry au-sband

Adds ``histogram_peak_G0`` (all snapshots), the peaks at each temperature, the numbers of traces
and snapshots, and the campaigns' measured costs (median seconds per item from the ledgers) to
``benchmarks/results/reference.json``.
"""

from __future__ import annotations

import sys

import _common
import numpy as np

from vlab import catalog
from vlab.errors import CatalogError
from vlab.workflows.conductance import conductance_figures


def _ledger_seconds(name: str) -> dict:
    try:
        ds = catalog.open(name)
    except CatalogError:
        return {}
    return {
        "items": int(ds.sizes["item"]),
        "median_seconds_per_item": round(float(np.nanmedian(ds["duration"].values)), 4),
        "total_cpu_seconds": round(float(np.nansum(ds["duration"].values)), 1),
    }


def main() -> None:
    target = sys.argv[1] if len(sys.argv) > 1 else "au-sband"
    store = target if target.endswith(".zarr") else catalog.get_entry(target).location
    summary = conductance_figures(store, _common.RESULTS.parent.parent / "docs" / "figures")
    data = {
        "histogram_peak_G0": summary["histogram_peak_G0"],
        "histogram": {k: v for k, v in summary.items() if k != "files"},
        "campaign_costs": {
            name: _ledger_seconds(name)
            for name in (
                "au-breakjunction",
                "au-sband",
                "au-small-md",
                "au-spd-small",
                "au-spd-large",
            )
        },
    }
    rows = [
        ("histogram peak, all snapshots (goal 0.8-1.1 G0)", f"{summary['histogram_peak_G0']}"),
        ("traces / snapshots", f"{summary['traces']} / {summary['snapshots']}"),
    ]
    rows += [(k, str(v)) for k, v in summary.items() if k.startswith("histogram_peak_G0_")]
    _common.write_result("reference", data, rows)


if __name__ == "__main__":
    main()
