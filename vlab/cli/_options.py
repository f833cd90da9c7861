"""Options shared by the command groups."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["add_cluster_options", "help_when_bare", "store_path"]


def help_when_bare(parser: argparse.ArgumentParser):
    """Make ``parser``, a command group, print its help (the commands it has) on stderr and
    exit with status 2 when it is given no command, instead of argparse's one-line error.
    Returns that command function, for a parser whose command is an optional positional."""

    def show_help(args: argparse.Namespace) -> int:
        sys.stderr.write(parser.format_help())
        return 2

    parser.set_defaults(func=show_help)
    return show_help


def store_path(name_or_path: str) -> Path:
    """A store path, or the location of a catalog entry of that name."""
    path = Path(name_or_path)
    if path.exists():
        return path
    from vlab import catalog

    return catalog.get_entry(name_or_path).checked_location()


def add_cluster_options(p: argparse.ArgumentParser, *, kubernetes: bool = False) -> None:
    """Where campaigns run: --workers N | --scheduler ADDRESS | [--kubernetes] | --synchronous."""
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=None, help="LocalCluster worker processes")
    where.add_argument("--scheduler", default=None, help="address tcp://HOST:PORT of a scheduler")
    if kubernetes:
        where.add_argument(
            "--kubernetes",
            action="store_true",
            help="create the cluster on Kubernetes (needs vlab[k8s])",
        )
    where.add_argument("--synchronous", action="store_true", help="run here, without Dask")


def calculator_words(attrs) -> str | None:
    """The calculator (or model) that computed a store's items, in a few words (its id,
    version and named parameter set), from its ``calculator`` record; None if it has none."""
    import json

    from vlab.workflows.conductance import reference_name

    try:
        identity = json.loads(attrs.get("calculator") or "null")
    except (TypeError, ValueError):
        return None
    if not isinstance(identity, dict) or not {"id", "version"} <= identity.keys():
        return None
    if identity["id"] == attrs.get("kind"):  # the kind's own identity: says nothing more
        return None
    return reference_name(identity)
