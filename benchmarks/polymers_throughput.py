"""Throughput of polymer-predict: featurise + predict in batches on the cluster vs a plain loop.

Run: ``python benchmarks/polymers_throughput.py``; merges ``predict_per_second_cluster``,
``predict_per_second_loop_batched`` (the same batches of 200, one process, no engine) and
``predict_per_second_loop`` (one item at a time) into ``benchmarks/results/polymers.json``, with
``predict_cluster_per_core_vs_batched_loop`` = cluster / (2 x batched loop): batched against
batched, so the ratio shows what the two workers add, not what batching adds. The model is
the built-in thermal-conductivity model (trained once per worker at setup, excluded from both
timings); the candidates are the 852 design seeds of Wu et al., repeated to 2,000
distinct-hash items.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import _common

from vlab import config
from vlab.campaign import connect, get_kind, parse_spec, run_campaign
from vlab.polymers import load_smiles_list

CHUNK = 200  # items per batch, on the cluster and in the batched loop


def _items(n: int) -> list[dict]:
    smiles = list(load_smiles_list("hightcond_initial_smiles"))
    return [{"smiles": smiles[i % len(smiles)], "copy": i // len(smiles)} for i in range(n)]


def main() -> None:
    n, repeats = 2000, 3
    kind = get_kind("polymer-predict")
    params = kind.check_params({})
    model = kind.setup(params)
    items = _items(n)
    loops, batched = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        for item in items:
            kind.evaluate_batch([item], params, model)
        loops.append(n / (time.perf_counter() - start))
        start = time.perf_counter()
        for i in range(0, n, CHUNK):
            kind.evaluate_batch(items[i : i + CHUNK], params, model)
        batched.append(n / (time.perf_counter() - start))
    folder = Path(tempfile.mkdtemp(prefix="vlab-bench-poly-"))
    csv = folder / "items.csv"
    csv.write_text("smiles,copy\n" + "".join(f"{i['smiles']},{i['copy']}\n" for i in items))
    cluster = []
    with config.override({"campaign.performance_report": False}), connect(workers=2) as client:
        for r in range(repeats + 1):  # the first run also sets up the model on each worker
            spec = parse_spec(
                {
                    "name": f"tp{r}",
                    "kind": "polymer-predict",
                    "chunk_size": CHUNK,
                    "store": f"tp{r}.zarr",
                    "register": False,
                    "inputs": {"file": str(csv)},
                },
                base=folder,
            )
            start = time.perf_counter()
            run_campaign(spec, client=client, progress=False)
            if r:
                cluster.append(n / (time.perf_counter() - start))
    data = {
        "predict_per_second_cluster": round(statistics.median(cluster), 1),
        "predict_per_second_loop_batched": round(statistics.median(batched), 1),
        "predict_per_second_loop": round(statistics.median(loops), 1),
        "predict_cluster_per_core_vs_batched_loop": round(
            statistics.median(cluster) / (2 * statistics.median(batched)), 3
        ),
        "predict_throughput_settings": {
            "items": n,
            "chunk_size": CHUNK,
            "workers": 2,
            "repeats": repeats,
        },
    }
    _common.write_result(
        "polymers",
        data,
        [
            ("predict/s, 2 workers, batches of 200", str(data["predict_per_second_cluster"])),
            ("predict/s, plain loop, batches of 200", str(data["predict_per_second_loop_batched"])),
            ("predict/s, plain loop, one at a time", str(data["predict_per_second_loop"])),
            (
                "cluster per core / batched loop",
                str(data["predict_cluster_per_core_vs_batched_loop"]),
            ),
        ],
    )


if __name__ == "__main__":
    main()
