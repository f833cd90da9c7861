"""The documentation: README shape, generated benchmark page, relative links, Python examples."""

from __future__ import annotations

import contextlib
import importlib.util
import io
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
