"""Progress of a campaign in units finer than items (e.g. SMC steps of a long chain).

A kind that declares ``Kind.progress_units(params, item)`` (units one item reports while it
runs) calls :func:`report_progress` from its evaluation function after each unit of work.
On a Dask worker the report is a worker event (``Worker.log_event`` on the topic
:data:`TOPIC`, tagged with the running task's key) that the client receives through
``Client.subscribe_topic``; in a synchronous run it goes straight to the local bar. The
runner's :class:`ProgressBar` counts those units and, when a chunk is written, tops the
chunk up to its full count (copied items, failed items and late events are thus counted
exactly once). Kinds without ``progress_units`` count one unit per item, written.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["TOPIC", "ProgressBar", "report_progress"]

TOPIC = "vlab-progress"
"""Worker-event topic of progress reports."""

_LOCAL: list[Callable[[str, int], None]] = []  # listeners of synchronous runs (this process)


def report_progress(n: int = 1) -> None:
    """Report ``n`` units of progress of the running item (a no-op if nobody listens).

    Parameters
    ----------
    n : int, default 1
        Units completed since the last report (e.g. one SMC step).
    """
    worker = _current_worker()
    if worker is None:
        for listener in list(_LOCAL):
            listener("", n)
        return
    worker.log_event(TOPIC, {"key": str(worker.get_current_task() or ""), "n": int(n)})


def _current_worker():
    try:
        from distributed import get_worker

        return get_worker()
    except (ImportError, ValueError):
        return None


class ProgressBar:
    """A tqdm bar over progress units, fed by chunk writes and by :func:`report_progress`.

    Parameters
    ----------
    units : sequence of int
        Units of every item of the campaign (by item index).
    todo : sequence of int
        Indices of the items this run fills.
    client : distributed.Client or None
        Where the reports come from (None: this process).
    enabled : bool
        Draw the bar (on stderr).
    name : str
        Label of the bar.
    unit : str
        Name of one unit, e.g. ``"item"`` or ``"step"``.
    """

    def __init__(
        self,
        units: Sequence[int],
        todo: Sequence[int],
        *,
        client=None,
        enabled: bool = True,
        name: str = "",
        unit: str = "item",
    ) -> None:
        from vlab._utils import progress_bar as tqdm

        self.units, self.client = list(units), client
        self._reported: dict[str, int] = {}
        self._finished: set[str] = set()
        self._lock = threading.Lock()
        self.n = 0  # units counted so far (also when the bar is not drawn)
        total = sum(self.units[i] for i in todo)
        self.bar = tqdm(total=total, unit=unit, desc=name, disable=not enabled, smoothing=0.1)

    def __enter__(self) -> ProgressBar:
        if self.client is not None:
            self.client.subscribe_topic(TOPIC, self._on_event)
        else:
            _LOCAL.append(self._on_local)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.client is not None:
            with contextlib.suppress(Exception):  # a closing client: nothing left to hear
                self.client.unsubscribe_topic(TOPIC)
        elif self._on_local in _LOCAL:
            _LOCAL.remove(self._on_local)
        self.bar.close()

    def _on_event(self, event: tuple[float, Mapping[str, Any]]) -> None:
        msg = event[1]
        if isinstance(msg, Mapping):
            self._add(str(msg.get("key", "")), int(msg.get("n", 0)))

    def _on_local(self, key: str, n: int) -> None:
        self._add(key, n)

    def _add(self, key: str, n: int) -> None:
        with self._lock:
            if key in self._finished:  # a late event of a chunk already counted in full
                return
            self._reported[key] = self._reported.get(key, 0) + n
            self._count(n)

    def done(self, items: Sequence[int], key: str = "") -> None:
        """Items ``items`` were written (by the task ``key``): count what was not reported."""
        with self._lock:
            reported = self._reported.pop(key, 0)
            if key:
                self._finished.add(key)
            self._count(max(sum(self.units[i] for i in items) - reported, 0))

    def _count(self, n: int) -> None:
        self.n += n
        self.bar.update(n)
