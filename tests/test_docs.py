"""The documentation: README shape, generated benchmark page, relative links, Python examples."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def load_report():
    """benchmarks/report.py as a module (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location(
        "vlab_benchmarks_report", ROOT / "benchmarks" / "report.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def relative_links(path: Path) -> list[str]:
    """Targets of Markdown links and images in ``path`` that point into the repository."""
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.DOTALL)  # no code blocks
    targets = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # URL, mailto:, or an anchor in the same page
        targets.append(target.split("#", 1)[0])
    return targets


def test_benchmarks_page_is_up_to_date():
    report = load_report()
    page = ROOT / "docs" / "benchmarks.md"
    assert page.exists(), "docs/benchmarks.md is missing: run python benchmarks/report.py"
    assert page.read_text() == report.render(), (
        "docs/benchmarks.md differs from benchmarks/results/*.json: run python benchmarks/report.py"
    )


def test_benchmarks_page_has_every_results_file():
    text = load_report().render()
    for path in (ROOT / "benchmarks" / "results").glob("*.json"):
        assert f"## {path.stem}\n" in text


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.98123, "0.9812"), (1893.3, "1893"), (11677.0, "11680"), (2.0e-5, "2e-05"), (0.0, "0")],
)
def test_report_formats_floats_to_four_significant_digits(value, expected):
    assert load_report().format_number(value) == expected


def test_report_flattens_and_skips_long_lists():
    rows = dict(load_report().flatten({"a": {"b": 1.23456}, "c": list(range(13)), "d": [1, 2]}))
    assert rows == {"a.b": "1.235", "c": "(list of 13 items, not shown)", "d": "[1, 2]"}


def test_readme_is_short():
    n_lines = len(README.read_text().splitlines())
    assert n_lines <= 200, (
        f"README.md has {n_lines} lines; the limit is 200 (move details to docs/)"
    )


def test_readme_has_the_test_command_block():
    lines = README.read_text().splitlines()
    assert "<!-- test-command -->" in lines, "README.md lost the <!-- test-command --> marker"
    i = lines.index("<!-- test-command -->")
    assert lines[i + 1] == "```bash", (
        "the line after <!-- test-command --> must open a ```bash block"
    )
    assert lines[i + 2].strip() and not lines[i + 2].startswith("`")
    assert lines[i + 3] == "```"


@pytest.mark.parametrize("path", [README, *DOCS], ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_to_files(path):
    missing = [t for t in relative_links(path) if not (path.parent / t).exists()]
    assert not missing, f"{path.relative_to(ROOT)} links to missing files: {missing}"


NOT_RUN = "<!-- not run:"  # put right before a ```python block that cannot run here


def python_blocks(path: Path) -> list[tuple[int, str]]:
    """(first line, code) of each ```python block of ``path`` not marked ``NOT_RUN``."""
    lines = path.read_text().splitlines()
    blocks, start = [], None
    for i, line in enumerate(lines):
        if start is None and line == "```python":
            if not (i and lines[i - 1].startswith(NOT_RUN)):
                start = i + 1
            continue
        if start is not None and line == "```":
            blocks.append((start + 1, "\n".join(lines[start:i]) + "\n"))
            start = None
    return blocks


def _floats(text: str) -> list[float]:
    return [float(x) for x in re.findall(r"-?\d+\.\d+", text)]


EXAMPLES = [p for p in (README, *DOCS) if python_blocks(p)]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: str(p.relative_to(ROOT)))
def test_python_examples_in_the_documentation_run(path, tmp_path, monkeypatch):
    """Every ```python block runs, in order, in one namespace per page; a block whose last
    line is a comment ``# about X, Y and Z`` after a print must print those numbers (to
    within 0.01)."""
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__doc_example__"}
    for line, code in python_blocks(path):
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(compile(code, f"{path.name}:{line}", "exec"), namespace)
        last = code.strip().splitlines()[-1]
        if last.startswith("# about"):
            expected, got = _floats(last), _floats(printed.getvalue())
            assert len(got) == len(expected), (path.name, line, printed.getvalue())
            assert got == pytest.approx(expected, abs=0.01), (path.name, line, last)


def test_a_marked_example_is_not_run(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(f"```python\na = 1\n```\n\n{NOT_RUN} no bucket -->\n```python\nb\n```\n")
    assert python_blocks(page) == [(2, "a = 1\n")]


def _at(data, path: str):
    for part in path.split("."):
        data = data[part]
    return data


def _faults(key: str):
    return lambda d: sum(fault[key] for fault in d["faults"].values())


# Each number of the README's results table, as the committed benchmark result gives it:
# (results file, dotted key or function of the file's data, format).
README_RESULTS = [
    ("reference.json", "histogram_peak_G0", "{:.3f} G0"),
    ("surrogate.json", "r2_same_size", "{:.3f}"),
    ("surrogate.json", "r2_larger_a", "{:.3f}"),
    ("surrogate.json", "r2_larger_b", "{:.3f}"),
    ("surrogate.json", "speedup_warm_160_atoms", "{:,.0f}x"),
    ("surrogate.json", "speedup_warm_160_atoms_bottleneck", "{:,.0f}x"),
    ("surrogate.json", "speedup_at_150_atoms", "{:,.0f}x"),
    ("surrogate.json", "peak_blind_reference_G0", "{:.3f}"),
    ("surrogate.json", "peak_blind_predictive_G0", "{:.3f}"),
    ("surrogate.json", "peak_blind_surrogate_G0", "{:.3f} G0"),
    ("virtual_experiment_spd.json", "learning.labels_to_target_ratio", "{:.2f};"),
    ("active_learning_fast_blind.json", "labels_to_target_ratio", "{:.2f}"),
    ("polymers.json", "protocol_a_ratio", "{:.3f} ±"),
    ("polymers.json", "protocol_a_ratio_std", "{:.3f}"),
    ("polymers.json", "sim2real_deployed.loo_mae", "{:.4f}"),
    ("polymers.json", "sim2real_deployed.loo_mae_scratch", "{:.4f}"),
    ("polymers.json", "sim2real_loo_mae_mean", "{:.4f}"),
    ("polymers.json", "tg_cv_mae_K", "MAE {:.1f} K"),
    ("polymers.json", "tg_cv_r2", "R² {:.2f}"),
    ("design.json", lambda d: 100 * d["judge_in_box_fraction"], "{:.1f} %"),
    ("design.json", lambda d: 100 * d["valid_fraction"], "{:.0f} %"),
    ("design.json", lambda d: 100 * d["novel_fraction"], "{:.1f} %"),
    ("design.json", lambda d: 100 * d["judge_prior_only_in_box_fraction"], "{:.1f} %"),
    ("design.json", lambda d: 100 * d["judge_base_rate"]["judge_training_units"], "{:.1f} %"),
    ("design.json", lambda d: 100 * d["library_plausible_fraction"], "{:.1f} % that pass"),
    ("design.json", lambda d: 100 * d["judge_in_box_fraction_plausible"], "rules: {:.1f} %"),
    ("engine.json", "efficiency_100ms_2workers", "{:.3f};"),
    ("scale.json", "efficiency_64_slots", "{:.3f}"),
    ("engine.json", "overhead_ratio_vs_loop", "{:.3f};"),
    ("engine.json", "resume_scan_seconds_1e5", "{:.2f} s"),
    ("scale.json", "writer_speedup_local", "×{:.0f}"),
    ("scale.json", "writer_s3_by_chunk_size.10.speedup", "×{:.0f}"),
    ("faults.json", _faults("survived"), "{} of"),
    ("faults.json", _faults("trials"), "of {} trials"),
    ("faults.json", lambda d: d["items_lost_total"] + d["items_wrong_total"], "{} items lost"),
]
NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


def readme_results_numbers() -> str:
    """The 'number' column of the README's results table, one cell per line."""
    text = README.read_text().split("\n## Results\n", 1)[1].split("\n## ", 1)[0]
    rows = [line.split(" | ") for line in text.splitlines() if line.startswith("| ")]
    return "\n".join(row[1] for row in rows[1:])  # below the header


def test_readme_results_are_the_committed_benchmark_results():
    results = ROOT / "benchmarks" / "results"
    cells = readme_results_numbers()
    expected = []
    for name, key, fmt in README_RESULTS:
        data = json.loads((results / name).read_text())
        text = fmt.format(key(data) if callable(key) else _at(data, key))
        expected.append(text)
        assert text in cells, (
            f"README.md's results table should show {text!r} ({name}: {key}); its numbers are:\n"
            f"{cells}"
        )
    covered = {n for text in expected for n in NUMBER.findall(text)}
    stray = [n for n in NUMBER.findall(cells) if n not in covered]
    assert not stray, f"README.md's results table has numbers no benchmark result gives: {stray}"
