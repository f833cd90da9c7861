"""Sub-command groups of the science labs, added to the ``vlab`` parser.

Each function in :data:`REGISTER` takes the sub-parsers object of ``vlab`` and adds its group.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _store_path(name_or_path: str) -> Path:
    """A store path, or the location of a catalog entry of that name."""
    path = Path(name_or_path)
    if path.exists():
        return path
    from vlab import catalog

    return catalog.get_entry(name_or_path).location


def _cmd_conductance_plot(args: argparse.Namespace) -> int:
    from vlab.reports import conductance_figures

    store = _store_path(args.store)
    summary = conductance_figures(store, Path(args.out), max_traces=args.traces)
    print(json.dumps(summary, indent=2))
    return 0


def _conductance(sub) -> None:
    group = sub.add_parser(
        "conductance",
        help="conductance lab: plots of traces and histograms",
        description="Conductance lab commands. plot: conductance traces G(elongation) and the "
        "conductance histogram (linear and log axes, bins in G0) of a conductance-reference "
        "store, as PNG files, with a summary JSON (histogram peak).",
    )
    actions = group.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = actions.add_parser(
        "plot",
        help="traces and histogram PNGs of a reference store",
        description="Draw G versus elongation for traces and the conductance "
        "histogram from a conductance-reference store (path or catalog name).",
    )
    p.add_argument("store", help="store path or catalog entry name (e.g. au-sband)")
    p.add_argument("--out", default="vlab-results/figures", help="folder for the PNG files")
    p.add_argument("--traces", type=int, default=12, help="traces to draw (default 12)")
    p.set_defaults(func=_cmd_conductance_plot)


REGISTER: list = [_conductance]
