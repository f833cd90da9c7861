"""Make a campaign's items from its spec: a generator, a file, or a catalog store.

Files may be YAML or JSON (a list of mappings) or CSV (one item per row; a column of plain
numbers is read as numbers, any other column as text). A catalog store gives, for kinds
without their own reader (``items_from_dataset``), one item per selected row with the store's
per-item scalars, except its ledger and the variables the campaign's kind writes itself.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from vlab import catalog
from vlab._yaml import load_yaml_text, one_line
from vlab.campaign.kinds import Item, Kind
from vlab.campaign.spec import MAX_INPUT_FILE_BYTES, MAX_ITEMS, CampaignSpec, _plain
from vlab.catalog.schema import ITEM_DIM, LEDGER_VARIABLES
from vlab.errors import InputError, SpecError, did_you_mean

__all__ = ["make_items"]


_INT = re.compile(r"[+-]?(0|[1-9][0-9]*)")
_FLOAT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|[+-]?(inf|nan)", re.I)


def _column(cells: list[str]) -> list[Any]:
    """A CSV column's cells: all integers, else all numbers, else all text as written.

    Only plain ASCII numbers count (``001``, ``1_2``, `` 7 `` or other scripts' digits stay
    text: sample labels keep their meaning), and one text cell keeps the whole column text,
    so that a column has one type.
    """
    if cells and all(_INT.fullmatch(c) for c in cells):
        return [int(c) for c in cells]
    if cells and all(_FLOAT.fullmatch(c) or _INT.fullmatch(c) for c in cells):
        return [float(c) for c in cells]
    return list(cells)


def _read_text(path: Path, source: str) -> str:
    """The file as UTF-8 text; one-line errors for a missing, huge, binary or non-UTF-8 file."""
    shown = f"{source}: the inputs file {one_line(repr(str(path)), 200)}"
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_INPUT_FILE_BYTES + 1)
    except OSError as err:
        raise SpecError(f"{shown} cannot be read: {one_line(err.strerror, 100)}.") from None
    if len(raw) > MAX_INPUT_FILE_BYTES:
        raise SpecError(f"{shown} has more than {MAX_INPUT_FILE_BYTES:,} bytes (the limit).")
    if b"\x00" in raw:
        raise SpecError(f"{shown} is binary (it has NUL bytes); it must be text.")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise SpecError(f"{shown} is not UTF-8 text (byte {err.start}).") from None


def _csv_rows(text: str, shown: str) -> list[dict]:
    rows = []
    try:
        for i, row in enumerate(csv.DictReader(io.StringIO(text, newline="")), start=2):
            if None in row or None in row.values():
                raise SpecError(f"{shown}: line {i} has not as many cells as the header line.")
            rows.append(dict(row))
            if len(rows) > MAX_ITEMS:
                break
    except csv.Error as err:
        raise SpecError(f"{shown} is not valid CSV: {one_line(err, 100)}.") from None
    if not rows:
        return rows
    columns = {k: _column([row[k] for row in rows]) for k in rows[0]}
    return [{k: columns[k][i] for k in columns} for i in range(len(rows))]


def _parse_rows(path: Path, text: str, shown: str) -> Any:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _csv_rows(text, shown)
    if suffix == ".json":
        try:
            return json.loads(text)
        except (ValueError, RecursionError) as err:
            raise SpecError(f"{shown} is not valid JSON: {one_line(err, 100)}.") from None
    return load_yaml_text(text, source=shown, error=SpecError, max_nodes=5 * MAX_ITEMS)


def _from_file(path: Path, source: str) -> list[Item]:
    shown = f"{source}: inputs file {one_line(repr(str(path)), 200)}"
    if path.suffix.lower() not in (".csv", ".yaml", ".yml", ".json"):
        raise SpecError(f"{shown} must be .csv, .yaml, .yml or .json.")
    rows = _parse_rows(path, _read_text(path, source), shown)
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        raise SpecError(f"{shown} must hold a non-empty list of items (mappings).")
    if len(rows) > MAX_ITEMS:
        raise SpecError(f"{shown} has more than {MAX_ITEMS:,} items (MAX_ITEMS).")
    for i, row in enumerate(rows):
        _plain(row, shown, f"item {i}")
    return rows


def _from_catalog(spec: CampaignSpec, kind: Kind, params: dict) -> list[Item]:
    entry = catalog.get_entry(spec.inputs.catalog)
    ds = entry.open()
    select = dict(spec.inputs.select)
    status = select.pop("status", "done")
    ranges = {k: tuple(v) for k, v in select.items()}
    try:
        chosen = catalog.select(ds, status=status, ranges=ranges)
    except InputError as err:
        raise SpecError(
            f"{spec.source}: 'inputs.select' of catalog store {spec.inputs.catalog!r}: "
            f"{str(err).removeprefix('select: ')}"
        ) from None
    if kind.items_from_dataset is not None:
        try:
            return kind.items_from_dataset(chosen, params)
        except InputError as err:
            if spec.source in str(err):
                raise
            raise type(err)(
                f"{spec.source}: 'inputs.catalog' {spec.inputs.catalog!r}: {err}"
            ) from None
    # the source's per-item scalars, but not its ledger (status, timings, workers, errors,
    # checksums: no input of anything) nor what this campaign computes anew (its outputs)
    try:
        computed = set(kind.outputs(params, []))
    except Exception:  # outputs that depend on the items: none known before they exist
        computed = set()
    skip = set(LEDGER_VARIABLES) | computed
    scalars = [n for n, v in chosen.data_vars.items() if v.dims == (ITEM_DIM,)]
    frame = {n: chosen[n].values for n in scalars if n not in skip}
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
        allowed = kind.generator_params.get(inputs.generator)
        unknown = sorted(set(inputs.params) - set(allowed or ())) if allowed is not None else []
        if unknown:
            takes = ", ".join(allowed) if allowed else "none"
            hint = did_you_mean(unknown[0], allowed) if len(unknown) == 1 else ""
            raise SpecError(
                f"{spec.source}: unknown 'inputs.params' {', '.join(map(repr, unknown))} of "
                f"the generator {inputs.generator!r} of kind {kind.name!r}; it takes: "
                f"{takes}.{hint}"
            )
        rng = np.random.default_rng(inputs.seed)
        try:
            items = kind.generators[inputs.generator](dict(inputs.params), inputs.n, rng)
        except SpecError as err:
            raise SpecError(f"{spec.source}: {err}") from None
    elif inputs.file is not None:
        if kind.items_from_dataset is not None and not kind.item_fields:
            raise SpecError(
                f"{spec.source}: kind {kind.name!r} takes its items from a catalog store "
                "(inputs.catalog: a store of MD snapshots or of labelled snapshots); a file "
                "(inputs.file) cannot hold its structures."
            )
        items = _from_file(inputs.file, spec.source)
    else:
        items = _from_catalog(spec, kind, params)
    if not items:
        raise SpecError(f"{spec.source}: the inputs give no items.")
    for i, item in enumerate(items):
        missing = [f for f in kind.item_fields if f not in item]
        if missing:
            has = ", ".join(map(str, item)) or "none"
            raise SpecError(
                f"{spec.source}: item {i} has no {', '.join(map(repr, missing))} field, which "
                f"kind {kind.name!r} needs (its fields: {has})."
                + did_you_mean(missing[0], [str(k) for k in item])
            )
    return items
