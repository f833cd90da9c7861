"""Options shared by the command groups."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = [
    "ResultsPath",
    "add_cluster_options",
    "help_when_bare",
    "positive_int",
    "resolve_results_paths",
]


def help_when_bare(parser: argparse.ArgumentParser):
    """Make ``parser``, a command group, print its help (the commands it has) on stderr and
    exit with status 2 when it is given no command, instead of argparse's one-line error.
    Returns that command function, for a parser whose command is an optional positional."""

    def show_help(args: argparse.Namespace) -> int:
        sys.stderr.write(parser.format_help())
        return 2

    parser.set_defaults(func=show_help)
    return show_help


class ResultsPath(str):
    """A default output path inside the configured results folder (``results_dir`` of
    ``vlab config``). Its text, shown by ``--help``, is ``RESULTS_DIR/SUB``;
    :func:`resolve_results_paths` replaces it once the command line is parsed."""

    sub: str

    def __new__(cls, sub: str) -> ResultsPath:
        obj = super().__new__(cls, f"RESULTS_DIR/{sub}")
        obj.sub = sub
        return obj


def resolve_results_paths(args: argparse.Namespace) -> None:
    """Replace every :class:`ResultsPath` default of ``args`` by its path in ``results_dir``."""
    defaults = {k: v for k, v in vars(args).items() if isinstance(v, ResultsPath)}
    if defaults:
        from vlab import config

        base = Path(str(config.get("results_dir"))).expanduser()
        for key, value in defaults.items():
            setattr(args, key, str(base / value.sub))


def positive_int(option: str, high: int | None = None, low: int = 1):
    """argparse type: an integer from ``low`` (1) to ``high``, with an error naming ``option``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if value < low or (high is not None and value > high):
            allowed = f">= {low}" if high is None else f"from {low} to {high:,}"
            raise argparse.ArgumentTypeError(
                f"{option} must be an integer {allowed}. Got {text[:40]!r}."
            )
        return value

    return parse


def add_cluster_options(p: argparse.ArgumentParser, *, kubernetes: bool = False) -> None:
    """Where campaigns run: --workers N | --scheduler ADDRESS | [--kubernetes] | --synchronous."""
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=None, help="LocalCluster worker processes")
    where.add_argument("--scheduler", default=None, help="address tcp://HOST:PORT of a scheduler")
    if kubernetes:
        where.add_argument(
            "--kubernetes",
            action="store_true",
            help='create the cluster on Kubernetes (needs the k8s extra: pip install ".[k8s]")',
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
