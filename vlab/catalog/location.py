"""Where a store lives: a local path, or an object-storage URL (``s3://BUCKET/PATH.zarr``).

:func:`as_location` parses what a user typed. A plain path or a ``file://`` URL becomes a
:class:`pathlib.Path`; an ``s3://`` URL becomes a :class:`StoreURL`, a small path-like value
with the few path operations vlab needs (``name``, ``parent``, ``with_name``, ``/``,
``exists``). Anything else is refused with one line that names the input.

Object storage is reached through fsspec's ``s3fs`` (the ``s3`` extra: ``pip install
'vlab[s3]'``), the storage layer that zarr v3's ``FsspecStore`` and xarray use. Credentials
come from the usual places of the AWS SDK: ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``
(e.g. a Kubernetes Secret mounted as environment variables), a shared credentials file or an
instance role. The endpoint of an S3-compatible server comes from the configuration key
``storage.endpoint_url`` (``VLAB_STORAGE__ENDPOINT_URL``) or ``AWS_ENDPOINT_URL``.

Examples
--------
>>> as_location("s3://bucket/runs/a.zarr")
StoreURL('s3://bucket/runs/a.zarr')
>>> as_location("s3://bucket/runs/a.zarr").with_name("a.zarr.lock")
StoreURL('s3://bucket/runs/a.zarr.lock')
>>> as_location("file:///tmp/a.zarr")
PosixPath('/tmp/a.zarr')
>>> as_location("gs://bucket/a.zarr")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
vlab.errors.InputError: The store location 'gs://bucket/a.zarr' is not supported: give a ...
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from vlab import config
from vlab.errors import InputError, StoreError

__all__ = [
    "Location",
    "StoreURL",
    "as_location",
    "enclosing_store",
    "filesystem",
    "is_url",
    "storage_errors",
    "storage_options",
]

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def _unsupported(text: str) -> InputError:
    return InputError(
        f"The store location {text!r} is not supported: give a local path, a file:// URL or "
        "an s3://BUCKET/PATH URL."
    )


@dataclass(frozen=True)
class StoreURL:
    """An object-storage location ``s3://BUCKET/KEY`` (no trailing slash)."""

    url: str

    def __repr__(self) -> str:
        return f"StoreURL({self.url!r})"

    def __str__(self) -> str:
        return self.url

    @property
    def bucket(self) -> str:
        return self.url[len("s3://") :].split("/", 1)[0]

    @property
    def key(self) -> str:
        parts = self.url[len("s3://") :].split("/", 1)
        return parts[1] if len(parts) > 1 else ""

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]

    @property
    def parent(self) -> StoreURL:
        head = self.key.rsplit("/", 1)[0] if "/" in self.key else ""
        return StoreURL(f"s3://{self.bucket}/{head}".rstrip("/"))

    def with_name(self, name: str) -> StoreURL:
        return self.parent / name

    def __truediv__(self, name: str) -> StoreURL:
        return StoreURL(f"{self.url.rstrip('/')}/{name}")

    def is_absolute(self) -> bool:
        return True

    def resolve(self) -> StoreURL:
        return self

    def expanduser(self) -> StoreURL:
        return self

    def mkdir(self, *args: Any, **kwargs: Any) -> None:
        """Nothing to do: object storage has no folders."""

    def fs(self):
        """The fsspec filesystem (s3fs) of this location."""
        return filesystem()

    def exists(self) -> bool:
        """Whether any object lives at this key or below it."""
        fs = self.fs()
        path = self.url[len("s3://") :]
        with storage_errors(self):
            fs.invalidate_cache(path)
            return bool(fs.exists(path))

    def is_dir(self) -> bool:
        return self.exists()

    def check_bucket(self) -> None:
        """Raise a one-line :class:`StoreError` if the bucket cannot be reached or is missing."""
        fs = self.fs()
        with storage_errors(self):
            try:
                fs.call_s3("head_bucket", Bucket=self.bucket)
            except FileNotFoundError:
                raise StoreError(_bucket_message(self)) from None


Location = Path | StoreURL


def is_url(location: object) -> bool:
    """Whether ``location`` is on object storage."""
    return isinstance(location, StoreURL)


def as_location(value: str | os.PathLike | StoreURL) -> Location:
    """A local :class:`~pathlib.Path` or a :class:`StoreURL` for ``value`` (see the module).

    Raises
    ------
    InputError
        If ``value`` is a URL of another scheme, or an ``s3://`` URL without a bucket and key.
    """
    if isinstance(value, (StoreURL, Path)):
        return value
    text = os.fspath(value)
    match = _SCHEME.match(text)
    if match is None:
        return Path(text)
    scheme = match.group(1).lower()
    parts = urlsplit(text)
    if scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path:
            raise _unsupported(text)
        return Path(unquote(parts.path))
    if scheme != "s3":
        raise _unsupported(text)
    key = parts.path.strip("/")
    if not _BUCKET.fullmatch(parts.netloc) or not key or parts.query or parts.fragment:
        raise InputError(
            f"The store location {text!r} is not a valid s3 URL: write s3://BUCKET/PATH, with a "
            "bucket name of 3-63 lowercase letters, digits, '.' or '-' and a path below it."
        )
    if any(p in ("", ".", "..") for p in key.split("/")):
        raise InputError(
            f"The store location {text!r} is not a valid s3 URL: its path has an empty, '.' or "
            "'..' part."
        )
    return StoreURL(f"s3://{parts.netloc}/{key}")


def storage_options() -> dict[str, Any]:
    """Keyword arguments of ``s3fs.S3FileSystem``: the endpoint, if one is configured."""
    endpoint = config.get("storage.endpoint_url", None) or os.environ.get("AWS_ENDPOINT_URL")
    return {"endpoint_url": str(endpoint)} if endpoint else {}


def filesystem():
    """The s3fs filesystem for the configured endpoint and the environment's credentials."""
    try:
        import s3fs
    except ImportError:
        raise StoreError("Stores on s3:// need the s3fs package: pip install 'vlab[s3]'.") from None
    return s3fs.S3FileSystem(**storage_options())


class storage_errors:
    """Turn the errors of object storage into a one-line :class:`StoreError` naming ``location``.

    Missing credentials, a missing bucket, a refused connection and access denied each get
    a message that says what to check. Other errors pass through.
    """

    def __init__(self, location: StoreURL) -> None:
        self.location = location

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, err, tb) -> bool:
        if err is None or isinstance(err, StoreError):
            return False
        message = _storage_message(self.location, err)
        if message is None:
            return False
        raise StoreError(message) from None


def _bucket_message(location: StoreURL) -> str:
    endpoint = storage_options().get("endpoint_url", "the AWS default endpoint")
    return (
        f"Cannot reach the store {str(location)!r}: the bucket {location.bucket!r} does not "
        f"exist at {endpoint}. Create it, or check the URL and storage.endpoint_url."
    )


def _storage_message(location: StoreURL, err: BaseException) -> str | None:
    name = type(err).__name__
    text = " ".join(str(err).split())
    shown = repr(str(location))
    endpoint = storage_options().get("endpoint_url", "the AWS default endpoint")
    if name in ("NoCredentialsError", "PartialCredentialsError") or "credentials" in text.lower():
        return (
            f"Cannot reach the store {shown}: no credentials for object storage. Set "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or a credentials file or role)."
        )
    if "bucket does not exist" in text.lower() or "NoSuchBucket" in text:
        return _bucket_message(location)
    if name in ("EndpointConnectionError", "ConnectTimeoutError", "ClientConnectorError") or (
        "connect" in text.lower() and "endpoint" in text.lower()
    ):
        return (
            f"Cannot reach the store {shown}: no answer from {endpoint}. Check "
            "storage.endpoint_url (or AWS_ENDPOINT_URL) and the network."
        )
    if isinstance(err, PermissionError) or "AccessDenied" in text or "Forbidden" in text:
        return (
            f"Cannot reach the store {shown}: access denied at {endpoint}. Check the credentials "
            "and the bucket's policy."
        )
    return None


def enclosing_store(path: str | os.PathLike) -> Path | None:
    """The zarr store (a folder with a ``zarr.json``) that local ``path`` would be inside,
    if any: a store written there would become a group of that store."""
    for parent in Path(path).resolve().parents:
        if (parent / "zarr.json").is_file():
            return parent
    return None
