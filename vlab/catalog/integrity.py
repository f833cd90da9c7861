"""Per-item checksums in the ledger, and the check that finds corrupted items.

Every item written by :func:`vlab.catalog.store.write_chunk` gets a 64-bit checksum (BLAKE2b)
of its ``status``, its ``input_hash``, its inputs and its outputs, stored in the ledger
variable ``checksum`` (0 means "none recorded"). The store's attribute ``checksum_variables``
lists the variables it covers. A deleted or truncated chunk, a flipped bit, a status byte
that is not a status: each makes the item's data disagree with its checksum, and
:func:`verify_store` names it. With ``repair=True`` the bad items are marked *pending*, with
an ``error`` that starts with :data:`VERIFY_MARK`, so that running the campaign again
recomputes them (and rewrites the whole chunk they are in).

Examples
--------
>>> import numpy as np
>>> cols = {"status": np.array([1, 1], np.int8), "y": np.array([1.0, 2.0])}
>>> a = item_checksums(cols)
>>> cols["y"][1] = 2.5
>>> b = item_checksums(cols)
>>> bool(a[0] == b[0]), bool(a[1] == b[1])
(True, False)
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vlab.catalog.location import StoreURL
from vlab.catalog.schema import Status
from vlab.errors import StoreError

__all__ = [
    "VERIFY_MARK",
    "VerifyReport",
    "checksum_names",
    "item_checksums",
    "read_ledger_tolerant",
    "trusted_items",
    "verify_store",
]

VERIFY_MARK = "verify: "
_BLOCK_ITEMS = 4096  # items read at once while verifying


def _per_item(column: np.ndarray) -> list[bytes]:
    """The bytes of each item of ``column`` (text as length-prefixed UTF-8)."""
    column = np.asarray(column)
    if column.dtype.kind in "OUST":
        out = []
        for row in column.reshape(len(column), -1) if column.ndim else column.reshape(1, 1):
            parts = [str(v).encode("utf-8", "surrogatepass") for v in row]
            out.append(b"".join(len(p).to_bytes(8, "little") + p for p in parts))
        return out
    data = np.ascontiguousarray(column)
    if data.dtype.byteorder == ">":
        data = data.astype(data.dtype.newbyteorder("<"))
    return [data[j].tobytes() for j in range(len(data))]


def item_checksums(columns: Mapping[str, np.ndarray]) -> np.ndarray:
    """One uint64 checksum (never 0) per item of ``columns`` (``{name: array of n items}``)."""
    names = sorted(columns)
    if not names:
        raise ValueError("item_checksums needs at least one column")
    parts = [(name.encode(), _per_item(columns[name])) for name in names]
    n = len(parts[0][1])
    out = np.empty(n, np.uint64)
    for j in range(n):
        h = hashlib.blake2b(digest_size=8)
        for name, rows in parts:
            h.update(name)
            h.update(len(rows[j]).to_bytes(8, "little"))
            h.update(rows[j])
        out[j] = int.from_bytes(h.digest(), "little") or 1
    return out


def checksum_names(group) -> list[str] | None:
    """The variables the store's checksums cover, or ``None`` for a store without checksums."""
    raw = group.attrs.get("checksum_variables")
    if raw is None or "checksum" not in group:
        return None
    return list(json.loads(raw) if isinstance(raw, str) else raw)


def _read(group, names: Sequence[str], index) -> dict[str, np.ndarray]:
    """Raw (undecoded) values of ``names`` at ``index`` (a slice or an integer array)."""
    out = {}
    for name in names:
        array = group[name]
        if isinstance(index, slice):
            out[name] = np.asarray(array[index])
        else:
            selection = (np.asarray(index),) + (slice(None),) * (array.ndim - 1)
            out[name] = np.asarray(array.get_orthogonal_selection(selection))
    return out


def trusted_items(path: str | os.PathLike, index: Sequence[int]) -> np.ndarray:
    """Which of the items ``index`` of a store are *done* and match their checksum.

    A store without checksums, or one that cannot be read, trusts none of them.
    """
    from vlab.catalog.store import open_group

    index = np.asarray(index, dtype=np.int64)
    ok = np.zeros(len(index), bool)
    if not len(index):
        return ok
    try:
        group = open_group(path, "r")
        names = checksum_names(group)
        if names is None:
            return ok
        order = np.argsort(index)
        sorted_index = index[order]
        columns = _read(group, [*names, "checksum"], sorted_index)
    except Exception:  # any failure to read means "not trusted"
        return ok
    recorded = columns.pop("checksum")
    done = columns["status"] == Status.DONE
    good = done & (item_checksums(columns) == recorded)
    ok[order] = good
    return ok


def read_ledger_tolerant(
    path: str | os.PathLike, columns: Sequence[str]
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Ledger ``columns`` of a store, and a mask of the items in chunks that could not be read.

    Unreadable chunks read as pending (``status``), ``""`` (text) or 0; the campaign runner
    rewrites those chunks whole.
    """
    from vlab.catalog.store import open_group

    group = open_group(path, "r")
    n = int(group["status"].shape[0])
    bad = np.zeros(n, bool)
    out = {}
    for name in columns:
        array = group[name]
        try:
            out[name] = np.asarray(array[...])
            continue
        except Exception:  # find the damaged chunks
            pass
        text = array.dtype.kind in "OUST" or str(array.dtype).startswith("<U")
        column = np.full(n, "" if text else 0, dtype=object if text else array.dtype)
        chunk = int(array.chunks[0])
        for start in range(0, n, chunk):
            stop = min(start + chunk, n)
            try:
                column[start:stop] = np.asarray(array[start:stop])
            except Exception:
                bad[start:stop] = True
        out[name] = column
    return out, bad


@dataclass
class VerifyReport:
    """What :func:`verify_store` found."""

    store: Path | StoreURL
    n_items: int
    checked: int = 0
    checksums: bool = True
    bad: dict[int, str] = field(default_factory=dict)  # item -> reason
    repaired: bool = False
    #: variables whose own metadata file is gone (restored from the consolidated copy by a
    #: repair: ``restored``)
    lost_metadata: list[str] = field(default_factory=list)
    restored: bool = False
    #: items that read as pending but whose data match their checksum as done (or failed):
    #: only their status byte was lost; a repair gives it back (item -> status)
    lost_status: dict[int, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Nothing bad left: no bad item and no lost metadata, or all of it repaired."""
        fixed = self.repaired or not (self.bad or self.lost_status)
        return fixed and (not self.lost_metadata or self.restored)

    def summary(self) -> str:
        lost = ""
        if self.lost_metadata:
            names = ", ".join(self.lost_metadata)
            lost = (
                f"; the metadata file of {names} was missing and was restored from the "
                "consolidated metadata (its chunks are kept)"
                if self.restored
                else f"; the metadata file of {names} is missing (its chunks are kept: run "
                "vlab status --verify --repair to restore it from the consolidated metadata)"
            )
        if self.lost_status:
            done = sum(v == Status.DONE for v in self.lost_status.values())
            what = f"{len(self.lost_status)} items read as pending but match their checksums as "
            what += f"written ({done} done): their status byte was lost"
            lost += (
                f"; {what}, and was restored"
                if self.repaired
                else f"; {what} (vlab status --verify --repair restores it; a rerun would "
                "compute them again)"
            )
        return self._items() + lost + "."

    def _items(self) -> str:
        if not self.checksums:
            head = (
                f"store {self.store}: no checksums recorded (written by an older vlab); "
                f"{self.checked} status bytes checked"
            )
        else:
            head = (
                f"store {self.store}: {self.checked} items checked (the written ones against "
                "their checksums)"
            )
        if not self.bad:
            return head + ("; all good" if not self.lost_metadata else "; all items good")
        action = (
            "marked pending: run the campaign again to recompute them"
            if self.repaired
            else "run vlab status --verify --repair to mark them for recomputation"
        )
        return f"{head}; {len(self.bad)} bad ({action})"


def _check_block(group, names, start, stop, lost: dict[int, int] | None = None) -> dict[int, str]:
    """Bad items of ``[start, stop)`` with reasons; raises if the block cannot be read.

    Pending items that still carry a checksum are checked as done and as failed: one whose
    data match the checksum so lost only its status byte (e.g. a deleted status chunk) and is
    put in ``lost`` (item -> its status), not counted bad."""
    region = slice(start, stop)
    columns = _read(group, [*(names or ["status"]), *(["checksum"] if names else [])], region)
    _read(group, [n for n in ("error", "worker", "duration") if n in group], region)  # readable?
    status = columns["status"]
    bad: dict[int, str] = {}
    valid = np.isin(status, [s.value for s in Status])
    for j in np.flatnonzero(~valid):
        bad[start + int(j)] = f"invalid status byte {int(status[j])}"
    if names is None:
        return bad
    recorded = columns.pop("checksum")
    written = valid & (status != Status.PENDING)
    orphans = np.flatnonzero((status == Status.PENDING) & (recorded != 0))
    for was in (Status.DONE, Status.FAILED) if orphans.size else ():
        trial = {**columns, "status": np.full(orphans.size, was.value, status.dtype)}
        for key in columns:
            if key != "status":
                trial[key] = columns[key][orphans]
        match = item_checksums(trial) == recorded[orphans]
        for j in orphans[match]:
            if lost is not None:
                lost.setdefault(start + int(j), int(was.value))
    if not written.any():
        return bad
    computed = item_checksums(columns)
    for j in np.flatnonzero(written & (recorded == 0)):
        bad[start + int(j)] = "written without a checksum"
    for j in np.flatnonzero(written & (recorded != 0) & (computed != recorded)):
        bad[start + int(j)] = "data do not match the checksum"
    return bad


def verify_store(path: str | os.PathLike, *, repair: bool = False) -> VerifyReport:
    """Check every written item of a store against its checksum (and every status byte).

    With ``repair=True`` the bad items are marked pending (``status`` 0, ``checksum`` 0,
    ``error`` starting with :data:`VERIFY_MARK`); the caller must hold the store's writer lock
    (:class:`vlab.catalog.StoreLock`). Unreadable chunks make all their items bad.

    Raises
    ------
    StoreError
        If ``path`` is not a vlab store.
    """
    from vlab.catalog.store import _check_store, lost_metadata, open_group, restore_metadata

    path = _check_store(path)
    lost = lost_metadata(path)
    if lost and repair:
        restore_metadata(path)
    try:
        group = open_group(path, "r")
        n = int(group["input_hash"].shape[0])
        chunk = int(group["status"].chunks[0])
    except Exception as err:
        raise StoreError(f"The store {str(path)!r} cannot be opened: {err}") from None
    names = checksum_names(group)
    report = VerifyReport(store=path, n_items=n, checksums=names is not None)
    report.lost_metadata, report.restored = lost, bool(lost and repair)
    block = max(chunk, (_BLOCK_ITEMS // chunk) * chunk)
    for start in range(0, n, block):
        stop = min(start + block, n)
        try:
            report.bad.update(_check_block(group, names, start, stop, report.lost_status))
        except Exception:  # find the unreadable chunks one by one
            for s in range(start, stop, chunk):
                e = min(s + chunk, stop)
                try:
                    report.bad.update(_check_block(group, names, s, e, report.lost_status))
                except Exception as err:
                    why = f"chunk unreadable ({type(err).__name__}: {str(err)[:120]})"
                    report.bad.update(dict.fromkeys(_not_yet_marked(group, s, e), why))
    report.checked = n
    if repair and report.bad:
        _mark_pending(path, report.bad, chunk)
        report.repaired = True
    if repair and report.lost_status:
        _restore_status(path, report.lost_status, chunk)
        report.repaired = True
    return report


def _not_yet_marked(group, start: int, stop: int) -> list[int]:
    """Items of ``[start, stop)`` that an earlier repair has not already marked pending (their
    unreadable data are rewritten when the campaign computes them again)."""
    try:
        status = _read(group, ["status"], slice(start, stop))["status"]
        error = np.asarray(group["error"][start:stop], dtype=object)
    except Exception:  # the ledger is unreadable too: all of them
        return list(range(start, stop))
    marked = (status == Status.PENDING) & np.array(
        [str(e).startswith(VERIFY_MARK) for e in error], dtype=bool
    )
    return [start + int(j) for j in np.flatnonzero(~marked)]


def _restore_status(path: Path | StoreURL, lost: Mapping[int, int], chunk: int) -> None:
    """Give items whose data match their checksum as done (or failed) that status back."""
    from vlab.catalog.store import open_group

    group = open_group(path, "r+")
    n = int(group["status"].shape[0])
    for start in sorted({(i // chunk) * chunk for i in lost}):
        stop = min(start + chunk, n)
        status = np.asarray(group["status"][start:stop]).copy()
        for i in range(start, stop):
            if i in lost:
                status[i - start] = lost[i]
        group["status"][start:stop] = status


def _mark_pending(path: Path | StoreURL, bad: Mapping[int, str], chunk: int) -> None:
    """Rewrite the ledger chunks holding ``bad`` items: pending, no checksum, a reason."""
    from vlab.catalog.store import open_group

    group = open_group(path, "r+")
    n = int(group["status"].shape[0])
    starts = sorted({(i // chunk) * chunk for i in bad})
    has_checksum = "checksum" in group
    for start in starts:
        stop = min(start + chunk, n)
        columns = {}
        for name, fill in (("status", Status.PENDING), ("checksum", 0), ("error", "")):
            if name == "checksum" and not has_checksum:
                continue
            try:
                columns[name] = np.asarray(group[name][start:stop]).copy()
            except Exception:  # an unreadable ledger chunk starts over
                dtype = object if name == "error" else group[name].dtype
                columns[name] = np.full(stop - start, fill, dtype=dtype)
            if name == "status":  # anything but a valid status is pending
                valid = np.isin(columns[name], [s.value for s in Status])
                columns[name][~valid] = Status.PENDING
        for i in range(start, stop):
            if i in bad:
                columns["status"][i - start] = Status.PENDING
                if has_checksum:
                    columns["checksum"][i - start] = 0
                columns["error"][i - start] = VERIFY_MARK + bad[i]
        for name in ("error", "checksum"):
            if name in columns:
                group[name][start:stop] = columns[name]
        group["status"][start:stop] = columns["status"]  # last, as in write_chunk
