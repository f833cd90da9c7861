"""Render every ``benchmarks/results/*.json`` as one Markdown page, ``docs/benchmarks.md``.

Usage::

    python benchmarks/report.py            # writes docs/benchmarks.md
    python benchmarks/report.py --check    # exit status 1 if docs/benchmarks.md is out of date

One section per results file, with its numbers as a two-column table: nested dictionaries are
flattened into dotted keys, floats are shown with 4 significant digits, short lists inline,
lists of up to ``MAX_LIST`` records one row per field, and longer lists are left out with a
note. The page is a pure function of the JSON files (no clock, no machine), so a test can
regenerate it in memory and compare.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
OUTPUT = ROOT / "docs" / "benchmarks.md"
MAX_LIST = 12

# What each results file measures, and the scripts that write it.
DESCRIPTIONS = {
    "active_learning": (
        "Active learning of the conductance surrogate: labels chosen by the ensemble's spread "
        "against random labels, same pool and batches, learning curves on blind traces.",
        ["active_learning.py"],
    ),
    "active_learning_settings": (
        "The active-learning loop's settings (retraining, batch rule) chosen on the validation "
        "traces by replaying the loop with labels read from the pool stores.",
        ["active_learning_settings.py"],
    ),
    "active_learning_fast": (
        "Active against random labels with the fast bottleneck model (a learner whose curve "
        "reaches R² 0.95), in memory on the validation traces: labels to the target.",
        ["active_learning_fast.py"],
    ),
    "active_learning_fast_blind": (
        "Active learning through the engine with the fast bottleneck model and the batch rule "
        "chosen on the validation traces, against random labels: learning curves on the blind "
        "traces.",
        ["active_learning.py"],
    ),
    "point_estimates": (
        "Which point estimate of a snapshot's conductance (the prediction, or the mean, median "
        "or mode of the reference given it) places the histogram peak, against the predictive "
        "draws; shipped models, validation traces split by trace.",
        ["point_estimates.py"],
    ),
    "neck_physics": (
        "A physics term at the constriction: wide-band s-band and spd transmissions of the "
        "atoms around the neck plane, added to the fast model's features or alone, scored on "
        "the validation traces (and the 280-atom junctions).",
        ["neck_physics.py"],
    ),
    "blind_peaks": (
        "The shipped models' histogram peaks on a third, larger blind set (48 traces, 24 per "
        "temperature), scored once: point predictions, median and mode maps fixed on the "
        "validation traces, predictive draws; the reference peak's trace bootstrap.",
        ["blind_peaks.py"],
    ),
    "bottleneck_loss": (
        "The fast bottleneck model with a squared or an absolute loss (conditional means or "
        "medians), refitted with the settings chosen for the squared loss and scored on the "
        "validation traces.",
        ["bottleneck_loss.py"],
    ),
    "design": (
        "iQSPR inverse design of polymer repeat units: sampler speed, hit rates, library quality.",
        ["design.py"],
    ),
    "design_models": (
        "Forward models for design compared on held-out polymers of the sampler's data: "
        "accuracy, calibration of the std, cost per proposal.",
        ["design_models.py"],
    ),
    "design_selection": (
        "The design's sampling margin chosen on a rehearsal inside the sampler's data (its own "
        "judge on a third of it), never on the blind judge of design.py.",
        ["design_selection.py"],
    ),
    "emt": (
        "EMT for the break-junction MD: ASE's, vlab's vectorised one and asap3's, force calls and "
        "a short trace, interleaved in one run; forces of ASE's and the vectorised one compared.",
        ["emt.py"],
    ),
    "engine": (
        "Campaign engine: parallel efficiency, overhead against a plain loop, resume scan.",
        ["engine.py"],
    ),
    "faults": (
        "Fault injection: crashes, kills, lost schedulers and damaged stores, each recovered and "
        "compared item by item with an uninterrupted run.",
        ["faults.py"],
    ),
    "polymers": (
        "Polymer lab: transfer learning to thermal conductivity (protocols A and B, pretraining "
        "variants), Tg cross-validation, screening throughput.",
        ["polymers.py", "polymers_throughput.py"],
    ),
    "reference": (
        "Conductance references: cost per snapshot of s-band TB and extended-Hückel spd, "
        "campaign costs, the break-junction conductance histogram.",
        ["reference.py", "histogram.py"],
    ),
    "scale": (
        "Scaling: the store writer against the previous xarray-region writer, the runner in "
        "process, 64 concurrent worker slots (efficiency by chunk size and window of futures, "
        "client CPU and memory, scheduler cost per task). The plan for 1,000 workers is in "
        "[scaling.md](scaling.md).",
        ["scale.py"],
    ),
    "surrogate": (
        "Conductance surrogate: R² on held-out traces and larger structures, speed against the "
        "references, the virtual experiment.",
        ["surrogate.py", "surrogate_spd.py"],
    ),
    "virtual_experiment_spd": (
        "The virtual experiment at the spd level: the shipped surrogate on every snapshot of "
        "200 traces of 280-atom junctions against spd labels of a random sample, and active "
        "learning that extends the shipped model's training set to that junction.",
        ["virtual_experiment_spd.py"],
    ),
}


def format_number(value: float) -> str:
    """A float with 4 significant digits, without exponent between 1e-4 and 1e15."""
    if math.isnan(value) or math.isinf(value):
        return str(value)
    if value == 0:
        return "0"
    text = f"{value:.4g}"
    if "e" in text and 1e-4 <= abs(value) < 1e15:
        digits = 3 - math.floor(math.log10(abs(value)))
        text = f"{round(value, digits):.{max(digits, 0)}f}"
    return text


def format_scalar(value) -> str:
    """One table cell: numbers formatted, strings escaped for Markdown."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_number(value)
    return escape(str(value))


def escape(text: str) -> str:
    """Escape the characters that Markdown tables and emphasis would interpret."""
    for char in "\\`*[]<>|":
        text = text.replace(char, "\\" + char)
    return text.replace("\n", " ")


def flatten(value, key: str = "") -> list[tuple[str, str]]:
    """Rows (dotted key, formatted value) of a JSON value."""
    if isinstance(value, dict):
        rows = []
        for name, item in value.items():
            rows += flatten(item, f"{key}.{name}" if key else str(name))
        return rows
    if isinstance(value, list):
        return flatten_list(value, key)
    return [(key, format_scalar(value))]


def flatten_list(value: list, key: str) -> list[tuple[str, str]]:
    """Short lists of scalars inline, short lists of records row by row, long ones noted."""
    if len(value) > MAX_LIST:
        return [(key, f"(list of {len(value):,} items, not shown)")]
    if all(not isinstance(item, dict | list) for item in value):
        return [(key, "[" + ", ".join(format_scalar(item) for item in value) + "]")]
    rows = []
    for i, item in enumerate(value):
        rows += flatten(item, f"{key}[{i}]")
    return rows


def section(path: Path) -> str:
    """The Markdown section of one results file."""
    name = path.stem
    data = json.loads(path.read_text())
    description, scripts = DESCRIPTIONS.get(name, ("", []))
    lines = [f"## {name}", ""]
    if description:
        lines += [description, ""]
    source = f"From [`benchmarks/results/{path.name}`](../benchmarks/results/{path.name})"
    existing = [s for s in scripts if (ROOT / "benchmarks" / s).exists()]
    if existing:
        source += ", written by " + " and ".join(f"`python benchmarks/{s}`" for s in existing)
    lines += [source + ".", "", "| key | value |", "|---|---|"]
    lines += [f"| `{key}` | {value} |" for key, value in flatten(data)]
    return "\n".join(lines) + "\n"


def render(results: Path = RESULTS) -> str:
    """The whole page for the JSON files in ``results``."""
    paths = sorted(results.glob("*.json"))
    head = [
        "<!-- Generated by benchmarks/report.py from benchmarks/results/*.json: do not edit. -->",
        "# Benchmark results",
        "",
        "Every number the benchmark scripts wrote, one section per results file. Regenerate "
        "with `python benchmarks/report.py` after running a benchmark. Nested keys are joined "
        f"with dots; floats have 4 significant digits; lists longer than {MAX_LIST} items are "
        "left out (they are in the JSON files). The narratives are in "
        "[conductance.md](conductance.md), [active-learning.md](active-learning.md), "
        "[polymers.md](polymers.md) and [engine.md](engine.md).",
        "",
        "Contents: " + ", ".join(f"[{p.stem}](#{p.stem})" for p in paths) + ".",
        "",
    ]
    return "\n".join(head) + "\n" + "\n".join(section(p) for p in paths)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that it is up to date")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = OUTPUT.read_text() if OUTPUT.exists() else ""
        if current != text:
            print(f"{OUTPUT} is out of date: run python benchmarks/report.py", file=sys.stderr)
            return 1
        return 0
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT.relative_to(ROOT)} ({len(text.splitlines())} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
