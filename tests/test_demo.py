"""The main job, small: `vlab demo --quick --synchronous` end to end."""

import json

from vlab import catalog
from vlab.cli import main


def test_quick_demo_runs_end_to_end_and_reports_its_files(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--synchronous", "--no-progress", "--out", str(out)]) == 0
    printed, err = capsys.readouterr()
    assert "item/s" not in err and "%|" not in err  # --no-progress: no bars
    summary = json.loads((out / "figures" / "sband-summary.json").read_text())
    assert summary["traces"] == 4 and summary["snapshots"] > 40
    for path in summary["files"].values():
        assert path in printed
        with open(path, "rb") as handle:
            assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    assert 0.5 < summary["histogram_peak_G0"] < 1.3
    assert (out / "specs" / "breakjunction.yaml").is_file()
    assert "histogram peak" in printed
    assert (
        f"plateau length:         mean 4 K {summary['plateau_length_mean_A_4K']:.2f} Å" in printed
    )
    assert "rupture:                median elongation 4 K " in printed
    assert f"{summary['traces'] - summary['traces_broken']} of 4 traces do not break" in printed
    assert f"summary:                {out / 'figures' / 'sband-summary.json'}" in printed
    assert "demo-quick-sband" in printed and "vlab catalog list" in printed
    listing = printed[printed.index("Results in") :].splitlines()[1:]
    starts = {len(line) - len(line.split(":", 1)[1].lstrip()) for line in listing if ": " in line}
    assert len(starts) == 1, f"the demo's listing of results is not aligned:\n{printed}"

    names = [e.name for e in catalog.list_entries()]  # the demo's stores join the shipped ones
    assert {"demo-quick-breakjunction", "demo-quick-sband", "au-sband-small"} <= set(names)
    assert catalog.get_entry("demo-quick-sband").location == (out / "stores/sband.zarr")
    assert int(catalog.open("demo-quick-sband")["status"].max()) == 1
