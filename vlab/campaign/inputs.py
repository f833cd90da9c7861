"""Make a campaign's items from its spec: a generator, a file, or a catalog store.

Files may be YAML or JSON (a list of mappings) or CSV (one item per row; numbers are
parsed, other cells stay text).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from vlab import catalog
from vlab.campaign.kinds import Item, Kind
from vlab.campaign.spec import CampaignSpec
from vlab.catalog.schema import ITEM_DIM
from vlab.errors import SpecError

__all__ = ["make_items"]


def _cell(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            continue
    return text


def _from_file(path: Path, source: str) -> list[Item]:
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            rows = [{k: _cell(v) for k, v in row.items()} for row in csv.DictReader(handle)]
    elif path.suffix.lower() in (".yaml", ".yml", ".json"):
        text = path.read_text(encoding="utf-8")
        rows = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    else:
        raise SpecError(f"{source}: inputs file {str(path)!r} must be .csv, .yaml, .yml or .json.")
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        raise SpecError(f"{source}: inputs file {str(path)!r} must hold a non-empty list of items.")
    return rows


def _from_catalog(spec: CampaignSpec, kind: Kind, params: dict) -> list[Item]:
    entry = catalog.get_entry(spec.inputs.catalog)
    ds = entry.open()
    select = dict(spec.inputs.select)
    status = select.pop("status", "done")
    ranges = {k: tuple(v) for k, v in select.items()}
    chosen = catalog.select(ds, status=status, ranges=ranges)
    if kind.items_from_dataset is not None:
        return kind.items_from_dataset(chosen, params)
    scalars = [n for n, v in chosen.data_vars.items() if v.dims == (ITEM_DIM,)]
    frame = {n: chosen[n].values for n in scalars if n not in ("status", "input_hash")}
    n = chosen.sizes[ITEM_DIM]
    return [
        {k: (v[i].item() if isinstance(v[i], np.generic) else v[i]) for k, v in frame.items()}
        for i in range(n)
    ]


def make_items(spec: CampaignSpec, kind: Kind, params: dict) -> list[Item]:
    """The list of items of ``spec`` (deterministic: the same spec gives the same items)."""
    inputs = spec.inputs
    if inputs.generator is not None:
        if inputs.generator not in kind.generators:
            known = ", ".join(sorted(kind.generators)) or "none"
            raise SpecError(
                f"{spec.source}: the 'inputs.generator' {inputs.generator!r} is not a "
                f"generator of kind {kind.name!r}; its generators: {known}."
            )
        rng = np.random.default_rng(inputs.seed)
        items = kind.generators[inputs.generator](dict(inputs.params), inputs.n, rng)
    elif inputs.file is not None:
        items = _from_file(inputs.file, spec.source)
    else:
        items = _from_catalog(spec, kind, params)
    if not items:
        raise SpecError(f"{spec.source}: the inputs give no items.")
    return items
