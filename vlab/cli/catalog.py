"""``vlab catalog``: list, show, open and export the named stores."""

from __future__ import annotations

import argparse

from vlab.cli._options import help_when_bare
from vlab.errors import InputError

__all__ = ["register"]


def _cmd_catalog(args: argparse.Namespace) -> int:
    from vlab import catalog

    if args.action == "list":
        entries = catalog.list_entries()
        print(
            f"catalog: {len(entries)} entries (shipped: {catalog.shipped_dir()}; "
            f"yours: {catalog.index_dir()})"
        )
        name_width = max((len(e.name) for e in entries), default=0)
        kind_width = max((len(e.kind) for e in entries), default=0)
        for e in entries:
            about = e.description or f"(no description) {e.location}"
            if e.missing:
                about = f"[missing: {e.location}] {e.description}".rstrip()
            print(f"  {e.name:{name_width}s}  {e.kind:{kind_width}s}  {about}")
        return 0
    if not args.name:
        raise InputError(f"vlab catalog {args.action} needs a NAME (see vlab catalog list).")
    if args.action == "export":
        return _export(args)
    entry = catalog.get_entry(args.name)
    if args.action == "show":
        from vlab.catalog.index import entry_dict

        for key, value in entry_dict(entry).items():
            print(f"{key}: {value}")
        return 0
    ds = entry.open()
    print(ds)
    print(f"\nIn Python: import vlab.catalog; ds = vlab.catalog.open({args.name!r})")
    return 0


def _export(args: argparse.Namespace) -> int:
    from vlab import catalog

    if not args.dest:
        raise InputError("vlab catalog export needs NAME (or store path) and DEST.")
    source = catalog.as_location(args.name)
    if not catalog.store_exists(source):
        source = catalog.get_entry(args.name).checked_location()
    status = None if args.all else "done"
    target = catalog.export_store(source, args.dest, status=status, float32=not args.float64)
    print(f"exported {source} -> {target} ({catalog.open_store(target).sizes['item']} items)")
    return 0


def register(sub) -> None:
    """Add this group's commands to the ``vlab`` sub-parsers."""
    p = sub.add_parser(
        "catalog",
        help="list, show, open or export named stores of the catalog",
        description="Catalog entries name stores: the entries shipped with vlab (the "
        "repository's catalogs/) and yours (configuration key catalog.index_dir, by default "
        "~/.local/share/vlab/catalogs), where campaigns register the stores they write; "
        "yours shadow shipped ones of the same name. "
        "list: all entries ([missing: ...] when a store was moved or deleted); show NAME: one "
        "entry; open NAME: the lazy Dataset; "
        "export NAME DEST: a compact copy (done items, float32, zstd) to commit or share.",
    )
    p.add_argument(
        "action", nargs="?", choices=["list", "show", "open", "export"], help="what to do"
    )
    p.add_argument("name", nargs="?", help="entry name (for show, open, export) or store path")
    p.add_argument("dest", nargs="?", help="export: path of the compact copy to write")
    p.add_argument("--all", action="store_true", help="export: all items, not only done ones")
    p.add_argument("--float64", action="store_true", help="export: keep float64 (default float32)")
    show_help = help_when_bare(p)
    p.set_defaults(func=lambda args: show_help(args) if args.action is None else _cmd_catalog(args))
