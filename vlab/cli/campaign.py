"""``vlab demo``, ``run``, ``status``, ``kinds``, ``config``: campaigns and the engine."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from vlab.cli._options import add_cluster_options, calculator_words, positive_int
from vlab.errors import InputError, did_you_mean

if TYPE_CHECKING:
    from vlab.catalog.location import StoreURL

__all__ = ["register"]


def _cmd_demo(args: argparse.Namespace) -> int:
    from vlab import config
    from vlab.workflows.demo import run_demo

    base = Path(str(config.get("results_dir"))).expanduser()
    out = args.out or base / ("demo-quick" if args.quick else "demo")
    run_demo(
        Path(out),
        workers=args.workers,
        synchronous=args.synchronous,
        quick=args.quick,
        progress=not args.no_progress,
    )
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from vlab.campaign import get_kind, load_spec, run_campaigns

    spec = load_spec(args.spec)
    try:  # a bad kind or parameter is reported before the header
        get_kind(spec.kind).check_params(dict(spec.params))
    except InputError as err:
        raise type(err)(f"{spec.source}: {err}") from None
    (report,) = run_campaigns(
        [spec],
        on_checked=lambda: print(
            f"campaign {spec.name!r}: kind {spec.kind}, store {spec.store}", flush=True
        ),
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
            f"vlab: {report.failed} {'item' if report.failed == 1 else 'items'} failed, "
            f"{report.pending} pending: "
            f"vlab status {shlex.quote(str(report.store))} shows the errors; "
            "run again with --retry-failed to evaluate failed items again.",
            file=sys.stderr,
        )
        return 1
    return 0


def _status_store(name_or_path: str) -> Path | StoreURL:
    """The store at a path, or of a catalog entry; an :class:`InputError` otherwise."""
    from vlab import catalog

    path = catalog.as_location(name_or_path)
    if catalog.store_exists(path):
        return path
    exists = path.exists()
    names = [e.name for e in catalog.list_entries()]
    if name_or_path in names:  # a catalog name, even beside a file or folder of that name
        return catalog.get_entry(name_or_path).checked_location()
    what = "does not exist" if not exists else "is not a vlab store (no zarr.json)"
    if exists and catalog.is_url(path):
        what = "is not a vlab store (no zarr.json, or its creation did not finish)"
    raise InputError(
        f"{name_or_path!r} {what}. vlab status takes the path or s3:// URL of a .zarr store "
        "written by vlab run, or a catalog entry name (see vlab catalog list)."
        + ("" if exists else did_you_mean(str(name_or_path), names))
    )


def _verify(path: Path | StoreURL, repair: bool, *, as_json: bool = False) -> int:
    from vlab import catalog

    if repair:
        with catalog.writer_lock(path):
            report = catalog.verify_store(path, repair=True)
    else:
        report = catalog.verify_store(path)
    if as_json:
        record = {
            "store": str(path),
            "ok": report.ok,
            "checked": report.checked,
            "bad": {str(i): why for i, why in report.bad.items()},
            "lost_status": sorted(report.lost_status),
            "lost_metadata": report.lost_metadata,
            "repaired": report.repaired or report.restored,
            "summary": report.summary(),
        }
        print(json.dumps(record))
        return 0 if report.ok else 1
    print(report.summary())
    for i, why in list(report.bad.items())[:20]:
        print(f"  item {i}: {why}")
    if len(report.bad) > 20:
        print(f"  ... and {len(report.bad) - 20} more")
    return 0 if report.ok else 1


def _cmd_status(args: argparse.Namespace) -> int:
    from vlab import catalog

    path = _status_store(args.store)
    if args.repair and not args.verify:
        raise InputError("vlab status: --repair needs --verify (it repairs what verify finds).")
    if args.verify:
        return _verify(path, args.repair, as_json=args.json)
    from vlab.catalog.integrity import VERIFY_MARK, read_ledger_tolerant

    ds = catalog.open_store(path)
    # a damaged ledger chunk reads as pending here (and is named), not as a traceback
    ledger, unreadable = read_ledger_tolerant(path, ("status", "error"))
    status, error = ledger["status"], ledger["error"]
    counts = catalog.count_status(status)
    failed = (status == catalog.Status.FAILED).nonzero()[0]
    damaged = int(unreadable.sum())
    if args.json:  # JSON alone, for scripts
        keys = ("title", "kind", "kind_version", "vlab_version", "git_commit", "created", "updated")
        record = {
            "store": str(path),
            "items": int(ds.sizes["item"]),
            **counts,
            **({"unreadable_ledger_items": damaged} if damaged else {}),
            **{k: ds.attrs[k] for k in keys if k in ds.attrs},
            "failed_items": [
                {"item": int(i), "error": str(error[i])} for i in failed[: args.errors]
            ],
        }
        print(json.dumps(record, default=str))
        return 0
    print(
        f"store {path}: {ds.sizes['item']} items; "
        + ", ".join(f"{v} {k}" for k, v in counts.items())
    )
    if damaged:
        print(
            f"  {damaged} items are in ledger chunks that cannot be read (damaged; counted as "
            f"pending): vlab status {args.store} --verify --repair marks them to be computed "
            "again"
        )
    if counts["pending"]:
        errors = error[status == catalog.Status.PENDING]
        marked = sum(str(e).startswith(VERIFY_MARK) for e in errors)
        if marked:
            print(
                f"  {marked} of the pending items were marked by vlab status --verify --repair "
                "(damaged): run the campaign again to recompute them"
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
        if key == "kind_version" and calculator_words(ds.attrs):
            print(f"  calculator: {calculator_words(ds.attrs)}")
    for i in failed[: args.errors]:
        print(f"  item {i} failed: {error[i]}")
    if len(failed) > args.errors:
        print(f"  ... and {len(failed) - args.errors} more failed items (--errors N shows N)")
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

    user = config.user_config_path()
    print(f"# user file: {user}" + ("" if user.is_file() else " (none there: not used)"))
    print(yaml.safe_dump(config.as_dict(), sort_keys=False), end="")
    return 0


def register(sub) -> None:
    """Add this group's commands to the ``vlab`` sub-parsers."""
    p = sub.add_parser(
        "demo",
        help="run the main job on the embedded default (no downloads)",
        description="Run the embedded demo campaign end to end on a local Dask "
        "cluster and print where its results and plots are.",
    )
    p.add_argument(
        "--out",
        default=None,
        help="output folder (default: RESULTS_DIR/demo, with --quick RESULTS_DIR/demo-quick)",
    )
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: config)")
    p.add_argument("--synchronous", action="store_true", help="run in this process, without Dask")
    p.add_argument("--quick", action="store_true", help="a smaller demo (about a minute)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser(
        "run",
        help="run or resume a campaign from a YAML spec",
        description="Run a campaign spec on a Dask cluster: a new LocalCluster by "
        "default, an existing scheduler (--scheduler) or Kubernetes (--kubernetes). "
        "Running the same spec again resumes: only missing items are computed. "
        "The spec and the store's writer lock are checked before a cluster starts. "
        "Exit status: 0 all items done; 1 some items failed (vlab status STORE lists "
        "them; --retry-failed evaluates them again), or a damaged store or disk; 2 a bad "
        "spec or option, a store written by another spec, or a store that another campaign "
        "is writing; 130 interrupted (Ctrl-C): finished chunks "
        "are saved and the same command resumes.",
    )
    p.add_argument("spec", help="campaign spec (YAML); see examples/ and `vlab kinds`")
    add_cluster_options(p, kubernetes=True)
    p.add_argument("--retry-failed", action="store_true", help="evaluate failed items again")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser(
        "status",
        help="show the ledger of a store (done, failed, pending); --verify checks it",
        description="Count items by status, show provenance and failed items. With --verify, "
        "read every written item and compare it with the checksum recorded when it was "
        "written (a deleted or damaged chunk, a flipped bit or a damaged status byte is "
        "named); --repair then marks those items pending, and running the campaign again "
        "recomputes them. Exit status with --verify: 0 all good (or repaired), 1 bad items "
        "found, 2 not a store.",
    )
    p.add_argument("store", help="path of a .zarr store, or a catalog entry name")
    p.add_argument(
        "--errors",
        type=positive_int("--errors", low=0),
        default=5,
        help="failed items to show (default 5)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print only JSON: counts, provenance and the failed items shown",
    )
    p.add_argument(
        "--verify",
        action="store_true",
        help="check every written item against its checksum and every status byte; "
        "exit 1 if any is bad",
    )
    p.add_argument(
        "--repair",
        action="store_true",
        help="with --verify: mark the bad items pending (takes the store's writer lock), so "
        "that running the campaign again recomputes them",
    )
    p.set_defaults(func=_cmd_status)

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
