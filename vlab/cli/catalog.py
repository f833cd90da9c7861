"""``vlab catalog``: list, show, open and export the named stores."""

from __future__ import annotations

import argparse

from vlab.cli._options import calculator_words, help_when_bare
from vlab.errors import InputError, VlabError

__all__ = ["register"]


def _cmd_catalog(args: argparse.Namespace) -> int:
    from vlab import catalog

    if args.action == "list":
        if args.dest:
            raise InputError(
                f"vlab catalog list takes at most one PATTERN; got also {args.dest!r}."
            )
        return _list(args.name)
    if not args.name:
        raise InputError(f"vlab catalog {args.action} needs a NAME (see vlab catalog list).")
    if args.action == "export":
        return _export(args)
    entries = catalog.list_entries()
    if args.name not in {e.name for e in entries} and catalog.store_exists(
        catalog.as_location(args.name)
    ):
        path = catalog.as_location(args.name)  # a store given by its path
        if args.action == "show":
            same = [e.name for e in entries if str(e.location) == str(path)]
            named = f"catalog entry: {', '.join(same)}" if same else "no catalog entry"
            print(f"store: {path} ({named})")
            attrs = catalog.open_store(path).attrs
            for key in ("title", "description", "kind", "created", "updated"):
                if attrs.get(key) not in ("", None):
                    print(f"{key}: {attrs[key]}")
            _show_store(path)
            return 0
        print(catalog.open_store(path))
        print(f"\nIn Python: import vlab.catalog; ds = vlab.catalog.open_store({str(path)!r})")
        return 0
    entry = catalog.get_entry(args.name)
    if args.action == "show":
        from vlab.catalog.index import entry_dict

        for key, value in entry_dict(entry).items():
            print(f"{key}: {value if value not in ('', None) else '(not recorded)'}")
        _show_store(entry.location)
        return 0
    ds = entry.open()
    print(ds)
    print(f"\nIn Python: import vlab.catalog; ds = vlab.catalog.open({args.name!r})")
    return 0


def _show_store(location) -> None:
    """What a store holds: items by status and the calculator that computed them (nothing if
    the store cannot be read: ``list`` marks missing stores)."""
    from vlab import catalog

    try:
        ds = catalog.open_store(location)
        counts = catalog.count_status(ds["status"].values) if "status" in ds else None
    except (VlabError, OSError, KeyError, ValueError):  # moved or damaged: the entry is all
        return
    n = ds.sizes.get("item", 0)
    if counts is None:
        print(f"items: {n}")
    else:
        print(f"items: {n} (" + ", ".join(f"{v} {k}" for k, v in counts.items()) + ")")
    if calculator_words(ds.attrs):
        print(f"calculator: {calculator_words(ds.attrs)}")


def _list(pattern: str | None) -> int:
    """Print the entries (those whose names match ``pattern``, a shell-style pattern or a part
    of the name); on a terminal each row is cut to its width."""
    import fnmatch
    import shutil
    import sys

    from vlab import catalog

    entries = catalog.list_entries()
    where = f"shipped: {catalog.shipped_dir()}; yours: {catalog.index_dir()}"
    if pattern:
        glob = pattern if any(c in pattern for c in "*?[") else f"*{pattern}*"
        shown = [e for e in entries if fnmatch.fnmatchcase(e.name, glob)]
        print(f"catalog: {len(shown)} of {len(entries)} entries match {pattern!r} ({where})")
        entries = shown
    else:
        print(f"catalog: {len(entries)} entries ({where})")
    width = shutil.get_terminal_size().columns if sys.stdout.isatty() else None
    name_width = max((len(e.name) for e in entries), default=0)
    kind_width = max((len(e.kind) for e in entries), default=0)
    for e in entries:
        about = e.description or f"(no description) {e.location}"
        if e.missing:
            about = f"[missing: {e.location}] {e.description}".rstrip()
        row = f"  {e.name:{name_width}s}  {e.kind:{kind_width}s}  {about}"
        if width is not None and len(row) > width and not e.missing:
            row = row[: max(width - 3, name_width + kind_width + 8)] + "..."
        print(row)
    if width is not None and entries:
        print("(vlab catalog show NAME: the whole entry)")
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
        "package's copy of the repository's catalogs/, printed by list as 'shipped') and "
        "yours (configuration key catalog.index_dir, by default "
        "~/.local/share/vlab/catalogs), where campaigns register the stores they write; "
        "yours shadow shipped ones of the same name. "
        "list [PATTERN]: all entries, or those whose names match PATTERN (a part of the name "
        "or a shell pattern such as 'au-spd-*'), one row each, cut to the terminal's width "
        "([missing: ...] when a store was moved or deleted); show NAME: one entry; open NAME: "
        "the lazy Dataset; "
        "export NAME DEST: a compact copy (done items, float32, zstd) to commit or share.",
    )
    p.add_argument(
        "action", nargs="?", choices=["list", "show", "open", "export"], help="what to do"
    )
    p.add_argument(
        "name",
        nargs="?",
        help="show, open, export: a catalog entry name or a store path; list: a pattern of names",
    )
    p.add_argument("dest", nargs="?", help="export: path of the compact copy to write")
    p.add_argument("--all", action="store_true", help="export: all items, not only done ones")
    p.add_argument("--float64", action="store_true", help="export: keep float64 (default float32)")
    show_help = help_when_bare(p)
    p.set_defaults(func=lambda args: show_help(args) if args.action is None else _cmd_catalog(args))
