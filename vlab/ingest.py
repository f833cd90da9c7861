"""Ingest the polymer data sources into catalog stores (one item per canonical repeat unit).

Each source of :data:`vlab.polymers.SOURCES` becomes a zarr store with ``smiles``, every value
column with its units (temperatures in K), the raw-row ``count`` behind each repeat unit, and
provenance (source, license, citation, rows read, merged duplicates, skipped bad rows with
examples). It is registered in the catalog as ``polymers-NAME``.

Examples
--------
``vlab polymers ingest experimental_tc`` then, in Python::

    import vlab.catalog
    ds = vlab.catalog.open("polymers-experimental_tc")
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from vlab import catalog
from vlab._utils import content_hash
from vlab.catalog.schema import Status, Variable

__all__ = ["ingest_source"]


def ingest_source(name: str, folder: str | os.PathLike, *, replace: bool = False) -> Path:
    """Load source ``name`` (validated, merged by canonical SMILES) and write it as a store."""
    from vlab.polymers import load_source

    table = load_source(name)
    store = Path(folder) / f"polymers-{name}.zarr"
    if store.exists() and replace:
        shutil.rmtree(store)
    n = len(table)
    outputs = {
        col: Variable(units=table.units.get(col, "1"), long_name=col) for col in table.values
    }
    outputs["count"] = Variable(dtype="int32", long_name="raw rows merged into this repeat unit")
    for col in table.text:
        outputs[col] = Variable(dtype="str", long_name=col)
    bad = table.bad_rows
    attrs = catalog.provenance(
        title=f"polymers-{name}",
        kind="polymer-source",
        kind_version="1",
        source=table.source,
        license=table.license,
        citation=table.citation,
        n_raw=table.n_raw,
        n_merged=table.n_merged,
        n_bad_rows=int(bad.count),
        bad_row_examples=json.dumps([str(e) for e in bad.examples][:5]),
    )
    smiles = np.array(table.smiles, dtype=object)
    catalog.create_store(
        store,
        chunk_size=max(1, min(n, 5000)),
        inputs={"smiles": (Variable(dtype="str", long_name="canonical repeat unit"), smiles)},
        outputs=outputs,
        input_hashes=[content_hash(name, s) for s in table.smiles],
        attrs=attrs,
    )
    values = {col: np.asarray(v, float) for col, v in table.values.items()}
    values["count"] = np.asarray(table.counts, np.int32)
    values.update({col: np.array(v, dtype=object) for col, v in table.text.items()})
    for start, stop in catalog.chunk_bounds(n, max(1, min(n, 5000))):
        catalog.write_chunk(
            store,
            start,
            {k: v[start:stop] for k, v in values.items()},
            status=np.full(stop - start, Status.DONE),
            outputs=outputs,
            ledger={"worker": np.full(stop - start, "ingest", dtype=object)},
        )
    catalog.consolidate(store)
    catalog.register(
        f"polymers-{name}",
        store,
        kind="polymer-source",
        license=table.license,
        description=f"{table.source}: {n} repeat units ({table.n_raw} rows read)",
        source=name,
    )
    return store
