"""The single-writer lease of a store on object storage (no ``flock`` there).

A writer holds the object ``STORE.lock`` beside the store (``s3://b/run.zarr.lock`` for
``s3://b/run.zarr``). Its body names an owner token, the holder (``pid N on HOST since T``)
and the lease's time to live. The lease is:

* **taken** with a conditional write: ``If-None-Match: *`` creates the object only if there is
  none, so of two writers starting together exactly one succeeds;
* **renewed** by a background thread every third of the time to live, each time with
  ``If-Match: ETAG`` of the object it wrote last, so a renewal never overwrites somebody
  else's lease;
* **expired** when the object was last written (the server's ``Last-Modified``) more than its
  time to live ago: the writer crashed or lost its network. A new writer then takes it over,
  again with ``If-Match``, so of two writers taking over together only one succeeds;
* **released** by deleting the object when the campaign ends.

A writer whose lease was taken over (it could not renew it for a whole time to live) stops:
the renewal thread interrupts the main thread and leaving the ``with`` block raises
:class:`~vlab.errors.StoreLockedError`.

The server must support conditional writes (AWS S3, MinIO and moto do). Expiry compares the
server's clock with this machine's: keep them within a few seconds of each other, far below
the time to live (``storage.lease_ttl``, 60 s by default).
"""

from __future__ import annotations

import _thread
import datetime as _dt
import json
import logging
import os
import socket
import threading
import uuid

from vlab import config
from vlab.catalog.location import StoreURL, storage_errors
from vlab.errors import InputError, StoreLockedError

__all__ = ["StoreLease"]

_log = logging.getLogger(__name__)


def _precondition_failed(err: BaseException) -> bool:
    text = str(err)
    return isinstance(err, FileExistsError) or "pre-condition" in text or "412" in text


class StoreLease:
    """Exclusive writer lease of a store on object storage: ``with StoreLease(url): ...``.

    Parameters
    ----------
    store : StoreURL
        The store the lease guards.
    ttl : float, optional
        Seconds the lease lives without renewal (default: configuration key
        ``storage.lease_ttl``). A crashed writer's lease is taken over after this long.

    Raises
    ------
    StoreLockedError
        On entering, if another writer holds a lease that has not expired; on leaving, if
        this writer's lease was taken over while it ran.
    """

    def __init__(self, store: StoreURL, *, ttl: float | None = None) -> None:
        ttl = float(config.get("storage.lease_ttl", 60.0) if ttl is None else ttl)
        if not 0.5 <= ttl <= 86400:
            raise InputError(
                f"The lease time to live (storage.lease_ttl) must be from 0.5 to 86400 seconds. "
                f"Got {ttl!r}."
            )
        self.store = store
        self.path = store.with_name(store.name + ".lock")
        self.ttl = ttl
        self.token = uuid.uuid4().hex
        self.lost = False
        self._etag: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- object-storage calls -------------------------------------------------------------
    def _call(self, method: str, **kw):
        fs = self.store.fs()
        with storage_errors(self.store):
            return fs.call_s3(method, Bucket=self.path.bucket, Key=self.path.key, **kw)

    def _body(self) -> bytes:
        stamp = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
        holder = f"pid {os.getpid()} on {socket.gethostname()} since {stamp}"
        return json.dumps({"owner": self.token, "holder": holder, "ttl": self.ttl}).encode()

    def _put(self, **condition) -> bool:
        """Write the lease under ``condition``; ``False`` if the condition did not hold."""
        try:
            self._etag = self._call("put_object", Body=self._body(), **condition)["ETag"]
        except Exception as err:
            if _precondition_failed(err):
                return False
            raise
        return True

    def _read(self) -> tuple[dict, str, bool] | None:
        """``(body, etag, expired)`` of the current lease, or ``None`` if there is none."""
        try:
            out = self._call("get_object")
        except FileNotFoundError:
            return None
        data = _read_body(self.store.fs(), out["Body"])
        try:
            body = json.loads(data)
            ttl = float(body.get("ttl", self.ttl))
        except (ValueError, TypeError, AttributeError):
            body, ttl = {"holder": "an unreadable lease object"}, self.ttl
        age = _dt.datetime.now(_dt.UTC) - out["LastModified"]
        return body, out["ETag"], age.total_seconds() > ttl

    # -- the lease ------------------------------------------------------------------------
    def _refuse(self, body: dict) -> StoreLockedError:
        holder = str(body.get("holder", "unknown writer"))[:200]
        return StoreLockedError(
            f"The store {str(self.store)!r} is being written by another campaign ({holder}; "
            f"lease {str(self.path)!r}). Wait for it to finish or stop it; its lease expires "
            f"{self.ttl:g} s after its last renewal. Two writers are refused so that results "
            "never interleave."
        )

    def acquire(self) -> None:
        """Take the lease (a free or expired one), or raise :class:`StoreLockedError`."""
        if self._put(IfNoneMatch="*"):
            return self._start()
        current = self._read()
        if current is None:  # released in between: try once more
            if self._put(IfNoneMatch="*"):
                return self._start()
            current = self._read() or ({}, "", False)
        body, etag, expired = current
        if expired and etag and self._put(IfMatch=etag):
            _log.warning("took over the expired lease of %s (%s)", self.store, body.get("holder"))
            return self._start()
        raise self._refuse(body)

    def _start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._renew_loop, name="vlab-lease", daemon=True)
        self._thread.start()

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                renewed = self._put(IfMatch=self._etag)
            except Exception as err:  # a network hiccup: try again at the next period
                _log.warning("could not renew the lease of %s: %s", self.store, err)
                continue
            if not renewed:
                self.lost = True
                _log.error("the lease of %s was taken over; stopping", self.store)
                _thread.interrupt_main()
                return

    def release(self) -> None:
        """Stop renewing and delete the lease object if it is still this writer's."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        if self.lost:
            return
        current = self._read()
        if current is not None and current[0].get("owner") == self.token:
            self._call("delete_object")

    def __enter__(self) -> StoreLease:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        if self.lost:
            raise StoreLockedError(
                f"The lease of the store {str(self.store)!r} ({str(self.path)!r}) was taken "
                "over by another writer while this campaign ran; it stopped writing. Run it "
                "again once the other writer is done."
            )


def _read_body(fs, stream) -> bytes:
    """The bytes of an aiobotocore streaming body, read on the filesystem's event loop."""
    from fsspec.asyn import sync

    async def _all():
        async with stream:
            return await stream.read()

    return sync(fs.loop, _all)
