"""``vlab catalog``: list, show, open and export the named stores."""

from __future__ import annotations

import argparse

from vlab.cli._options import calculator_words, help_when_bare
from vlab.errors import InputError, VlabError

__all__ = ["register"]


def _cmd_catalog(args: argparse.Namespace) -> int:
    from vlab import catalog

    if args.action == "list":
        if len(args.patterns) > 1:
            raise InputError(
                f"vlab catalog list takes at most one PATTERN; got also {args.patterns[1]!r}."
            )
        return _list(args.patterns[0] if args.patterns else None)
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
    """What a store holds: items by status and the calculator that computed them, or that it
    is missing or cannot be read."""
    from vlab import catalog

    try:
        ds = catalog.open_store(location)
        counts = catalog.count_status(ds["status"].values) if "status" in ds else None
    except (VlabError, OSError, KeyError, ValueError, RuntimeError) as err:  # moved, damaged
        if not catalog.is_url(location) and not catalog.as_location(location).exists():
            print(f"store: missing ({location} does not exist: moved or deleted)")
        else:
            print(f"store: unreadable ({type(err).__name__}: {' '.join(str(err).split())[:160]})")
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
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    help_when_bare(p)
    q = actions.add_parser(
        "list",
        help="all entries, or those whose names match PATTERN",
        description="All catalog entries, or those whose names match PATTERN (a part of the "
        "name or a shell pattern such as 'au-spd-*'), one row each, cut to the terminal's "
        "width ([missing: ...] when a store was moved or deleted).",
    )
    q.add_argument("patterns", nargs="*", metavar="PATTERN", help="a part of names or a pattern")
    q.set_defaults(func=_cmd_catalog)
    for action, what in (("show", "one entry, its store's items"), ("open", "the lazy Dataset")):
        q = actions.add_parser(action, help=what, description=f"{action} NAME: {what}.")
        q.add_argument("name", metavar="NAME", help="a catalog entry name or a store path")
        q.set_defaults(func=_cmd_catalog)
    q = actions.add_parser(
        "export",
        help="a compact copy (done items, float32, zstd) to commit or share",
        description="Write a compact copy of a store: its done items (--all: every item), "
        "float32 (--float64 keeps float64), zstd, consolidated, with checksums of its own. "
        "DEST must not exist; a failed export leaves nothing there.",
    )
    q.add_argument("name", metavar="NAME", help="a catalog entry name or a store path")
    q.add_argument("dest", metavar="DEST", help="path of the compact copy to write")
    q.add_argument("--all", action="store_true", help="all items, not only done ones")
    q.add_argument("--float64", action="store_true", help="keep float64 (default float32)")
    q.set_defaults(func=_cmd_catalog)
