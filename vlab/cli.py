"""The ``vlab`` command line.

Exit statuses: 0 success; 2 a user mistake (a bad spec, option or path, or a store that
another campaign is writing), reported in one line ``vlab: error: ...`` before any cluster
starts; 1 failed calculations (``vlab run`` with failed items) or a broken store; 130 Ctrl-C,
after saying what was saved. No tracebacks unless ``--debug`` is given.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from vlab import __version__
from vlab._utils import pin_blas_threads
from vlab.errors import InputError, StoreLockedError, VlabError

__all__ = ["main"]

_EPILOG = "Docs and examples: README.md. Configuration: vlab config (VLAB_* variables override)."


def _cmd_demo(args: argparse.Namespace) -> int:
    from vlab.demo import run_demo

    run_demo(Path(args.out), workers=args.workers, synchronous=args.synchronous, quick=args.quick)
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from vlab.campaign import load_spec, run_campaigns

    spec = load_spec(args.spec)
    print(f"campaign {spec.name!r}: kind {spec.kind}, store {spec.store}")
    (report,) = run_campaigns(
        [spec],
        synchronous=args.synchronous,
        workers=args.workers,
        scheduler=args.scheduler,
        kubernetes=args.kubernetes,
        progress=not args.no_progress,
        retry_failed=args.retry_failed,
    )
    print(report.summary())
    for line in report.errors:
        print(f"  failed {line}")
    if report.performance_report:
        print(f"performance report: {report.performance_report}")
    if report.failed or report.pending:
        print(
            f"vlab: {report.failed} items failed, {report.pending} pending: "
            f"vlab status {shlex.quote(str(report.store))} shows the errors; "
            "run again with --retry-failed to evaluate failed items again.",
            file=sys.stderr,
        )
        return 1
    return 0


def _status_store(name_or_path: str) -> Path:
    """The store at a path, or of a catalog entry; an :class:`InputError` otherwise."""
    from vlab import catalog

    path = Path(name_or_path)
    if (path / "zarr.json").is_file():
        return path
    if not path.exists() and name_or_path in {e.name for e in catalog.list_entries()}:
        return catalog.get_entry(name_or_path).location
    what = "does not exist" if not path.exists() else "is not a vlab store (no zarr.json)"
    raise InputError(
        f"{name_or_path!r} {what}. vlab status takes the path of a .zarr store written by "
        "vlab run, or a catalog entry name (see vlab catalog list)."
    )


def _cmd_status(args: argparse.Namespace) -> int:
    from vlab import catalog

    path = _status_store(args.store)
    ds = catalog.open_store(path)
    counts = catalog.count_status(ds["status"].values)
    print(
        f"store {path}: {ds.sizes['item']} items; "
        + ", ".join(f"{v} {k}" for k, v in counts.items())
    )
    for key in (
        "title",
        "kind",
        "kind_version",
        "vlab_version",
        "git_commit",
        "created",
        "updated",
    ):
        if key in ds.attrs:
            print(f"  {key}: {ds.attrs[key]}")
    failed = (ds["status"] == catalog.Status.FAILED).values.nonzero()[0]
    for i in failed[: args.errors]:
        print(f"  item {i} failed: {ds['error'].values[i]}")
    if args.json:
        print(json.dumps({"items": int(ds.sizes["item"]), **counts}))
    return 0


def _cmd_catalog(args: argparse.Namespace) -> int:
    from vlab import catalog

    if args.action == "list":
        entries = catalog.list_entries()
        print(f"catalog index: {catalog.index_dir()} ({len(entries)} entries)")
        for e in entries:
            print(f"  {e.name:28s} {e.kind:22s} {e.description}")
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
    source = Path(args.name) if Path(args.name).exists() else catalog.get_entry(args.name).location
    status = None if args.all else "done"
    target = catalog.export_store(source, args.dest, status=status, float32=not args.float64)
    print(f"exported {source} -> {target} ({catalog.open_store(target).sizes['item']} items)")
    return 0


def _cmd_kinds(args: argparse.Namespace) -> int:
    from vlab.campaign import get_kind, kind_names

    for name in kind_names():
        kind = get_kind(name)
        gens = ", ".join(sorted(kind.generators)) or "-"
        print(f"{name:24s} v{kind.version:4s} generators: {gens:24s} {kind.description}")
    return 0


def _cmd_config(args: argparse.Namespace) -> int:
    import yaml

    from vlab import config

    print(f"# user file: {config.user_config_path()}")
    print(yaml.safe_dump(config.as_dict(), sort_keys=False), end="")
    return 0


def _parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="vlab",
        description="vlab: a Dask-distributed high-throughput virtual lab for materials discovery.",
        epilog=_EPILOG,
    )
    top.add_argument("--version", action="version", version=f"vlab {__version__}")
    top.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = top.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "demo",
        help="run the main job on the embedded default (no downloads)",
        description="Run the embedded demo campaign end to end on a local Dask "
        "cluster and print where its results and plots are.",
    )
    p.add_argument(
        "--out", default="vlab-results/demo", help="output folder (default: %(default)s)"
    )
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: config)")
    p.add_argument("--synchronous", action="store_true", help="run in this process, without Dask")
    p.add_argument("--quick", action="store_true", help="a smaller demo (about a minute)")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser(
        "run",
        help="run or resume a campaign from a YAML spec",
        description="Run a campaign spec on a Dask cluster: a new LocalCluster by "
        "default, an existing scheduler (--scheduler) or Kubernetes (--kubernetes). "
        "Running the same spec again resumes: only missing items are computed. "
        "The spec and the store's writer lock are checked before a cluster starts. "
        "Exit status: 0 all items done; 1 some items failed (vlab status STORE lists "
        "them; --retry-failed evaluates them again); 2 a bad spec or option, or a store "
        "that another campaign is writing; 130 interrupted (Ctrl-C): finished chunks "
        "are saved and the same command resumes.",
    )
    p.add_argument("spec", help="campaign spec (YAML); see examples/ and `vlab kinds`")
    from vlab._cli_labs import add_cluster_options

    add_cluster_options(p, kubernetes=True)
    p.add_argument("--retry-failed", action="store_true", help="evaluate failed items again")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser(
        "status",
        help="show the ledger of a store (done, failed, pending)",
        description="Count items by status, show provenance and failed items.",
    )
    p.add_argument("store", help="path of a .zarr store, or a catalog entry name")
    p.add_argument("--errors", type=int, default=5, help="failed items to show (default 5)")
    p.add_argument("--json", action="store_true", help="also print the counts as JSON")
    p.set_defaults(func=_cmd_status)

    p = sub.add_parser(
        "catalog",
        help="list, show or open named stores of the catalog",
        description="The catalog index (catalogs/*.yaml) names the stores. "
        "list: all entries; show NAME: one entry; open NAME: the lazy Dataset; "
        "export NAME DEST: a compact copy (done items, float32, zstd) to commit or share.",
    )
    p.add_argument("action", choices=["list", "show", "open", "export"], help="what to do")
    p.add_argument("name", nargs="?", help="entry name (for show, open, export) or store path")
    p.add_argument("dest", nargs="?", help="export: path of the compact copy to write")
    p.add_argument("--all", action="store_true", help="export: all items, not only done ones")
    p.add_argument("--float64", action="store_true", help="export: keep float64 (default float32)")
    p.set_defaults(func=_cmd_catalog)

    p = sub.add_parser(
        "kinds",
        help="list the registered campaign kinds",
        description="List the kinds a campaign spec can name, with generators.",
    )
    p.set_defaults(func=_cmd_kinds)

    p = sub.add_parser(
        "config",
        help="print the effective configuration",
        description="Print defaults merged with the user file and VLAB_* variables.",
    )
    p.set_defaults(func=_cmd_config)

    for register in _extensions():
        register(sub)
    return top


def _extensions():
    """Sub-command groups of the science labs (conductance, polymers)."""
    from vlab import _cli_labs

    return _cli_labs.REGISTER


def _interrupted(err: KeyboardInterrupt, argv: Sequence[str] | None) -> str:
    """One message: what was saved (the runner's note, if any) and how to resume."""
    words = sys.argv[1:] if argv is None else list(argv)
    command = shlex.join(["vlab", *words])
    notes = getattr(err, "__notes__", ())
    if not notes:
        return f"vlab: interrupted. Run the same command again to resume: {command}"
    return f"vlab: interrupted: {'; '.join(notes)}. Resume with the same command: {command}"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``vlab`` command."""
    pin_blas_threads(1)
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (InputError, StoreLockedError) as err:
        if args.debug:
            raise
        print(f"vlab: error: {err}", file=sys.stderr)
        return 2
    except VlabError as err:
        if args.debug:
            raise
        print(f"vlab: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as err:
        print(_interrupted(err, argv), file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `vlab status STORE | head`: the reader went away
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
