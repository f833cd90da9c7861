"""The data catalog: zarr v3 stores written through xarray, and their named index.

``vlab.catalog.open("NAME")`` returns a lazy xarray Dataset of a named store.

The names below are imported on first use (PEP 562), so that ``vlab.catalog.schema`` and the
command line's checks do not pay for importing xarray, Dask arrays and zarr.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "index": (
        "CatalogEntry",
        "get_entry",
        "index_dir",
        "list_entries",
        "locate",
        "open",
        "register",
        "shipped_dir",
    ),
    "query": ("select",),
    "rows": (
        "TrainingSet",
        "training_digest",
        "training_properties",
        "training_rows",
        "training_set",
        "training_store",
        "training_units",
    ),
    "location": ("StoreURL", "as_location", "is_url"),
    "lease": ("StoreLease",),
    "schema": ("LEDGER_VARIABLES", "SCHEMA_VERSION", "Status", "Variable"),
    "integrity": ("VerifyReport", "verify_store"),
    "store": (
        "ChunkData",
        "StoreLock",
        "add_checksums",
        "chunk_bounds",
        "consolidate",
        "count_status",
        "create_store",
        "export_store",
        "open_group",
        "open_store",
        "provenance",
        "read_ledger",
        "store_exists",
        "update_attrs",
        "write_chunk",
        "write_chunks",
        "writer_lock",
        "zarr_chunk_items",
    ),
    "structures": ("decode_structures", "encode_structures", "structure_variables"),
}
_MODULE_OF = {name: module for module, names in _WHERE.items() for name in names}

__all__ = [
    "LEDGER_VARIABLES",
    "SCHEMA_VERSION",
    "CatalogEntry",
    "ChunkData",
    "Status",
    "StoreLease",
    "StoreLock",
    "StoreURL",
    "TrainingSet",
    "Variable",
    "VerifyReport",
    "add_checksums",
    "as_location",
    "chunk_bounds",
    "consolidate",
    "count_status",
    "create_store",
    "decode_structures",
    "encode_structures",
    "export_store",
    "get_entry",
    "index_dir",
    "is_url",
    "list_entries",
    "locate",
    "open",
    "open_group",
    "open_store",
    "provenance",
    "read_ledger",
    "register",
    "select",
    "shipped_dir",
    "store_exists",
    "structure_variables",
    "training_digest",
    "training_properties",
    "training_rows",
    "training_set",
    "training_store",
    "training_units",
    "update_attrs",
    "verify_store",
    "write_chunk",
    "write_chunks",
    "writer_lock",
    "zarr_chunk_items",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'vlab.catalog' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"vlab.catalog.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
