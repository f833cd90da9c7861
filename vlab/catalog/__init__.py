"""The data catalog: zarr v3 stores written through xarray, and their named index.

``vlab.catalog.open("NAME")`` returns a lazy xarray Dataset of a named store.
"""

from vlab.catalog.index import (
    CatalogEntry,
    get_entry,
    index_dir,
    list_entries,
    open,
    register,
    shipped_dir,
)
from vlab.catalog.query import select
from vlab.catalog.schema import LEDGER_VARIABLES, SCHEMA_VERSION, Status, Variable
from vlab.catalog.store import (
    StoreLock,
    chunk_bounds,
    consolidate,
    count_status,
    create_store,
    export_store,
    open_store,
    provenance,
    read_ledger,
    update_attrs,
    write_chunk,
)
from vlab.catalog.structures import decode_structures, encode_structures, structure_variables

__all__ = [
    "LEDGER_VARIABLES",
    "SCHEMA_VERSION",
    "CatalogEntry",
    "Status",
    "StoreLock",
    "Variable",
    "chunk_bounds",
    "consolidate",
    "count_status",
    "create_store",
    "decode_structures",
    "encode_structures",
    "export_store",
    "get_entry",
    "index_dir",
    "list_entries",
    "open",
    "open_store",
    "provenance",
    "read_ledger",
    "register",
    "select",
    "shipped_dir",
    "structure_variables",
    "update_attrs",
    "write_chunk",
]
