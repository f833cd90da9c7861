"""``vlab demo``: the conductance lab end to end on an embedded default (no downloads).

1. a ``break-junction-md`` campaign: gold [001] contacts stretched until they break, at 4 K
   and 300 K (EMT molecular dynamics; asap3 when installed, else vlab's vectorised EMT);
2. a ``conductance-reference`` campaign: the s-band tight-binding Landauer conductance of
   every snapshot, read from the first campaign's store through the catalog;
3. figures: conductance traces and the conductance histogram (linear and log axes), and a
   summary JSON with the histogram peak (experiment: just below 1 G0).

The specs are written next to the results, so ``vlab run OUT/specs/NAME.yaml`` reruns (and
resumes) each step by hand.
"""

from __future__ import annotations

import time
from pathlib import Path

import yaml

from vlab import catalog
from vlab.campaign import load_spec, run_campaigns

__all__ = ["demo_specs", "run_demo"]


def demo_specs(*, quick: bool = False) -> dict[str, dict]:
    """The two campaign specs of the demo.

    Default: 24 traces of Au [001] 2x2 nanowires (160 atoms) pulled at 0.2 Å/ps to rupture,
    catalog names ``demo-breakjunction`` and ``demo-sband``. ``quick``: 4 short traces of a
    one-atom neck between 2x2 electrodes (for tests), catalog names ``demo-quick-...``, so
    that either demo can run after the other.
    """
    prefix = "demo-quick" if quick else "demo"
    if quick:
        structure = {
            "builder": "contact",
            "neck_cross_section": [1, 1],
            "electrode_cross_section": [2, 2],
            "length": 2,
            "electrode_layers": 3,
        }
        protocol = {
            "speed": 0.5,
            "snapshot_every": 0.1,
            "equilibration": 1.0,
            "max_elongation": 6.0,
            "post_rupture": 1.0,
        }
        traces, what = 4, "one-atom Au [001] necks between 2x2 electrodes"
    else:
        structure = {"builder": "wire", "cross_section": [2, 2], "length": 4, "electrode_layers": 3}
        protocol = {
            "speed": 0.2,
            "snapshot_every": 0.1,
            "equilibration": 2.0,
            "max_elongation": 22.0,
            "post_rupture": 1.0,
        }
        traces, what = 24, "Au [001] 2x2 nanowires (160 atoms)"
    md = {
        "name": f"{prefix}-breakjunction",
        "kind": "break-junction-md",
        "description": f"{what} stretched to rupture at 4 K and 300 K",
        "params": {"structure": structure, "protocol": protocol},
        "inputs": {
            "generator": "traces",
            "n": traces,
            "seed": 2026,
            "params": {"temperatures": [4.0, 300.0]},
        },
        "chunk_size": 1,
        "store": "stores/breakjunction.zarr",
    }
    sband = {
        "name": f"{prefix}-sband",
        "kind": "conductance-reference",
        "description": "s-band tight-binding conductance of every demo snapshot",
        "params": {"fidelity": "sband", "energies": [-1.0, -0.5, 0.5, 1.0]},
        "inputs": {"catalog": f"{prefix}-breakjunction"},
        "chunk_size": 100,
        "store": "stores/sband.zarr",
    }
    return {"breakjunction": md, "sband": sband}


def _write_specs(out: Path, quick: bool) -> dict[str, Path]:
    folder = out / "specs"
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, spec in demo_specs(quick=quick).items():
        spec = {**spec, "store": f"../{spec['store']}"}
        paths[name] = folder / f"{name}.yaml"
        paths[name].write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return paths


def run_demo(
    out: Path,
    *,
    workers: int | None = None,
    synchronous: bool = False,
    quick: bool = False,
    progress: bool = True,
) -> dict:
    """Run the demo into ``out`` and print where the results and plots are (``progress``:
    a progress bar per campaign, on stderr)."""
    from vlab.workflows.conductance import conductance_figures

    out = Path(out).resolve()
    start = time.perf_counter()
    specs = _write_specs(out, quick)
    names = ("breakjunction", "sband")
    campaigns = [load_spec(specs[k]) for k in names]
    reports = run_campaigns(campaigns, synchronous=synchronous, workers=workers, progress=progress)
    for report in reports:
        print(report.summary())
    summary = conductance_figures(reports[1].store, out / "figures")
    minutes = (time.perf_counter() - start) / 60
    print(f"\nvlab demo finished in {minutes:.1f} min. Results in {out}:")
    registered = ", ".join(c.name for c in campaigns)
    rows = [
        ("stores", str(reports[0].store)),
        ("", str(reports[1].store)),
        ("catalog", f"{registered} in {catalog.index_dir()} (see: vlab catalog list)"),
    ]
    rows += [(key.replace("_", " "), str(path)) for key, path in summary["files"].items()]
    rows.append(("summary", summary["summary_json"]))
    peak = summary["histogram_peak_G0"]
    rows.append(
        ("histogram peak", f"{peak} G0 over {summary['snapshots']} snapshots "
         "(experiment: just below 1 G0)")
    )  # fmt: skip
    means = [
        f"{key.removeprefix('plateau_length_mean_A_')[:-1]} K {value:.2f} Å"
        for key, value in summary.items()
        if key.startswith("plateau_length_mean_A_")
    ] or [f"{summary['plateau_length_mean_A']:.2f} Å"]
    rows.append(
        ("plateau length", "mean " + ", ".join(means) + " (0.8-1.2 G0; in experiments on "
         "gold, monatomic chains make them longer at 4 K)")
    )  # fmt: skip
    suffixes = [k.removeprefix("traces_broken") for k in summary if k.startswith("traces_broken_")]
    medians = [
        f"{suffix[1:-1] + ' K ' if suffix else ''}"
        + (
            f"{at:.1f} Å"
            if (at := summary[f"rupture_elongation_median_A{suffix}"]) is not None
            else "none"
        )
        for suffix in suffixes or [""]
    ]
    intact = summary["traces"] - summary["traces_broken"]
    rows.append(
        ("rupture", "median elongation " + ", ".join(medians) + f"; {intact} of "
         f"{summary['traces']} traces do not break (G never falls through 0.5 G0)")
    )  # fmt: skip
    width = max(len(label) for label, _ in rows) + 2
    for label, value in rows:
        print(f"  {label + ':' if label else '':<{width}}{value}")
    return summary
