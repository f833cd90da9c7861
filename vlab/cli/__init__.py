"""The ``vlab`` command line.

Exit statuses: 0 success; 2 a user mistake (a bad spec, option or path, a store written by
another spec, or a store that another campaign is writing), reported in one line
``vlab: error: ...`` before any cluster starts; 1 failed calculations (``vlab run`` with
failed items), a broken store, or trouble with the disk or memory (a full or read-only disk,
a permission denied, out of memory), also in one line that names the file; 130 Ctrl-C, after
saying what was saved (143 for SIGTERM, as sent by Kubernetes or a batch scheduler, handled
the same way). No tracebacks unless ``--debug`` is given.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from vlab import __version__
from vlab._utils import pin_blas_threads
from vlab._yaml import one_line, os_error_text
from vlab.cli import campaign, catalog, conductance, polymers
from vlab.cli._options import help_when_bare, resolve_results_paths
from vlab.errors import InputError, StoreLockedError, VlabError

__all__ = ["main"]

_EPILOG = (
    "Docs and examples: README.md. Configuration: vlab config (VLAB_* variables override). "
    "Outputs go by default to RESULTS_DIR, the results_dir setting (./vlab-results unless set, "
    "e.g. VLAB_RESULTS_DIR=/data/runs)."
)
_PACKAGE = Path(__file__).resolve().parent.parent


def _parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="vlab",
        description="vlab: a Dask-distributed high-throughput virtual lab for materials discovery.",
        epilog=_EPILOG,
    )
    top.add_argument("--version", action="version", version=f"vlab {__version__}")
    top.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = top.add_subparsers(dest="command", metavar="COMMAND")
    help_when_bare(top)

    for group in (campaign, catalog, conductance, polymers):
        group.register(sub)
    return top


#: Commands that keep nothing of an interrupted run (they train or compare in memory).
_STARTS_OVER = {
    ("polymers", "train"),
    ("polymers", "transfer"),
    ("conductance", "train"),
    ("conductance", "validate"),
    ("conductance", "predict"),
    ("conductance", "plot"),
    ("polymers", "predict"),
    ("catalog", "export"),
}


def _interrupted(err: KeyboardInterrupt, argv: Sequence[str] | None) -> str:
    """One message: what was saved (the runner's note, if any) and how to resume."""
    words = sys.argv[1:] if argv is None else list(argv)
    command = shlex.join(["vlab", *words])
    notes = getattr(err, "__notes__", ())
    what = "terminated (SIGTERM)" if isinstance(err, _Terminated) else "interrupted"
    if not notes and tuple(w for w in words if not w.startswith("-"))[:2] in _STARTS_OVER:
        return f"vlab: {what}; this command keeps nothing of an unfinished run: {command}"
    if not notes:
        return f"vlab: {what}. Run the same command again to resume: {command}"
    return f"vlab: {what}: {'; '.join(notes)}. Resume with the same command: {command}"


@contextmanager
def _plain_warnings(debug: bool) -> Iterator[None]:
    """Show vlab's own warnings as one line ``vlab: warning: ...`` (not Python's file, line
    and source line; those stay with ``--debug`` and for warnings from other packages)."""
    original = warnings.formatwarning

    def format_warning(message, category, filename, lineno, line=None):
        try:
            ours = Path(filename).resolve().is_relative_to(_PACKAGE)
        except (OSError, TypeError, ValueError):
            ours = False
        if ours and issubclass(category, UserWarning):
            return f"vlab: warning: {one_line(message, 2000)}\n"
        return original(message, category, filename, lineno, line)

    if not debug:
        warnings.formatwarning = format_warning
    try:
        yield
    finally:
        warnings.formatwarning = original


class _Terminated(KeyboardInterrupt):
    """SIGTERM (a batch scheduler or Kubernetes stopping the job): handled like Ctrl-C, so
    that finished chunks are saved and the message says how to resume."""


def _on_sigterm(signum, frame) -> None:
    raise _Terminated()


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into :class:`_Terminated` while a command runs (main thread only, and only
    where SIGTERM has its default action)."""
    import signal
    import threading

    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGTERM) != signal.SIG_DFL
    ):
        yield
        return
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``vlab`` command."""
    pin_blas_threads(1)
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        with _plain_warnings(args.debug), _sigterm_as_interrupt():
            resolve_results_paths(args)
            return int(args.func(args) or 0)
    except (InputError, StoreLockedError) as err:
        return _error(err, args.debug, 2)
    except VlabError as err:
        return _error(err, args.debug, 1)
    except KeyboardInterrupt as err:
        print(_interrupted(err, argv), file=sys.stderr)
        _quiet_exit()
        return 143 if isinstance(err, _Terminated) else 130
    except BrokenPipeError:  # e.g. `vlab status STORE | head`: the reader went away
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as err:  # a full or read-only disk, a permission denied, ...
        if type(err).__module__.startswith("distributed."):  # CommClosedError and its kin
            return _error(_connection_lost(err), args.debug, 1)
        return _error(os_error_text(err), args.debug, 1)
    except MemoryError:
        return _error("out of memory; use smaller inputs or more memory", args.debug, 1)


def _quiet_exit() -> None:
    """After an interrupt: zarr's writes abandoned mid-way are collected on the way out, each
    with a "Task was destroyed but it is pending!" log record, a "never awaited" warning or an
    "Event loop is closed" traceback, hundreds of them under the one line that matters."""
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    warnings.filterwarnings("ignore", message="coroutine .* was never awaited")
    sys.unraisablehook = lambda unraisable: None


def _connection_lost(err: OSError) -> str:
    return (
        f"Lost the connection to the Dask cluster ({type(err).__name__}: "
        f"{one_line(err, 200) or 'no detail'}). Run the same command again once the "
        "scheduler is reachable; campaigns resume where they stopped."
    )


def _error(err: object, debug: bool, code: int) -> int:
    """Print ``vlab: error: ...`` on one line (or re-raise with --debug); return ``code``."""
    if debug:
        raise  # the exception being handled: this is called from its except block
    print(f"vlab: error: {one_line(err, 2000)}", file=sys.stderr)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
