"""Small helpers shared by every layer (no Dask, no zarr)."""

from __future__ import annotations

import hashlib
import json
import math
import os
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "canonical_json",
    "content_hash",
    "pin_blas_threads",
    "progress_bar",
    "read_model_file",
    "report_json",
    "setting_differences",
    "write_model_file",
]

_BLAS_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


def pin_blas_threads(n: int = 1) -> None:
    """Limit BLAS/OpenMP thread pools of this process (and its children) to ``n`` threads.

    On 2-core machines a multi-threaded OpenBLAS is 10-100x slower for the small dense
    matrices of the conductance lab, so vlab's entry points call this with ``n=1``.
    """
    for var in _BLAS_VARS:
        os.environ.setdefault(var, str(n))
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(n)
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
        pass


def progress_bar(*args: Any, **kwargs: Any):
    """A tqdm progress bar: a notebook widget in Jupyter when ipywidgets is installed, else
    the text bar (tqdm.auto would warn there, 'IProgress not found', and fall back to it)."""
    import importlib.util

    if importlib.util.find_spec("ipywidgets") is None:
        from tqdm.std import tqdm
    else:
        from tqdm.auto import tqdm
    return tqdm(*args, **kwargs)


def _default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return {"__ndarray__": obj.dtype.str, "shape": obj.shape, "data": obj.tolist()}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    if isinstance(obj, Mapping):  # e.g. a kind's parameters: hashed like the equal dict
        return dict(obj)
    raise TypeError(f"cannot hash objects of type {type(obj).__name__}")


def canonical_json(obj: Any) -> str:
    """JSON text with sorted keys and no whitespace: a stable form for hashing.

    >>> canonical_json({"b": 1, "a": [1.5, "x"]})
    '{"a":[1.5,"x"],"b":1}'
    """
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_default)


def _report_value(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _report_value(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [_report_value(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, (str, type(None))):
        return obj
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return _report_value(float(obj))


def report_json(obj: Any, *, indent: int | None = 2) -> str:
    """Standard JSON text of a report: an undefined number (NaN, infinity) is ``null``.

    Python's ``json`` writes ``NaN``, which JSON readers other than Python's refuse. numpy
    numbers and arrays become JSON numbers and lists, paths strings.

    >>> report_json({"r2": np.nan, "n": np.int64(3), "x": np.array([0.5, np.inf])}, indent=None)
    '{"r2": null, "n": 3, "x": [0.5, null]}'
    """
    return json.dumps(_report_value(obj), indent=indent, allow_nan=False)


def content_hash(*parts: Any) -> str:
    """SHA-256 hex digest of the canonical JSON of ``parts``.

    >>> content_hash({"x": 1}) == content_hash({"x": 1})
    True
    >>> len(content_hash("a"))
    64
    """
    return hashlib.sha256(canonical_json(list(parts)).encode()).hexdigest()


# --------------------------------------------------------------------- saved model files
# Every saved model of vlab is one NumPy ``.npz`` file read with ``allow_pickle=False``: its
# arrays, and a 0-d unicode array ``metadata`` holding JSON with the model type (``format``),
# ``format_version`` and ``vlab_version`` (older files may call it ``meta``).


def write_model_file(
    path: str | os.PathLike,
    *,
    model_type: str,
    format_version: int,
    metadata: Mapping[str, Any],
    arrays: Mapping[str, np.ndarray],
    compress: bool = False,
) -> Path:
    """Write a model as one ``.npz`` file (``.npz`` is appended if missing); return its path.

    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> path = write_model_file(f"{folder}/m", model_type="demo", format_version=1,
    ...                         metadata={"a": 1}, arrays={"w": np.ones(2)})
    >>> meta, arrays = read_model_file(path, model_type="demo", versions=(1,), saver="demo")
    >>> path.name, meta["a"], arrays["w"].tolist()
    ('m.npz', 1, [1.0, 1.0])
    """
    from vlab import __version__

    path = Path(path)
    path = path if path.suffix == ".npz" else path.with_name(path.name + ".npz")
    meta = {
        "format": model_type,
        "format_version": format_version,
        "vlab_version": __version__,
        **metadata,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    save = np.savez_compressed if compress else np.savez
    with open(path, "wb") as fh:
        save(fh, metadata=np.array(json.dumps(meta)), **arrays)
    return path


def read_model_file(
    path: str | os.PathLike,
    *,
    model_type: str,
    versions: tuple[int, ...],
    saver: str,
    name: str | None = None,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Metadata and arrays of a file written by :func:`write_model_file`, checked.

    ``saver`` names what writes such files (for the messages), ``name`` the model (default:
    ``model_type``).

    Raises
    ------
    UnreadableFileError
        If the file is missing, unreadable, or holds another type of model.
    IncompatibleVersionError
        If its format version is not one of ``versions``.
    """
    from vlab import __version__
    from vlab.errors import IncompatibleVersionError, UnreadableFileError

    path, name = Path(path), name or model_type
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
        key = "metadata" if "metadata" in arrays else "meta"
        meta = json.loads(str(arrays.pop(key)))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        why = " ".join(str(err).split())
        if "pickled" in why:  # numpy's reading of a file that is not .npz at all
            why = "not an .npz archive"
        raise UnreadableFileError(
            f"Could not read a saved {name} from {str(path)!r} ({why}). "
            f"Give the path of a .npz file written by {saver}."
        ) from None
    found = meta.get("format") if isinstance(meta, dict) else None
    if found != model_type:
        raise UnreadableFileError(
            f"The file {str(path)!r} is not a saved {name} (its metadata has format="
            f"{found!r}, not {model_type!r}). Give a file written by {saver}."
        )
    version = meta.get("format_version")
    if version not in versions:
        raise IncompatibleVersionError(
            f"The {name} file {str(path)!r} has format version {version!r} (written by vlab "
            f"{meta.get('vlab_version', 'unknown')}); this vlab ({__version__}) reads format "
            f"versions {', '.join(map(str, versions))} only. Save the model again with this "
            "vlab, or load it with the vlab version that wrote it."
        )
    return meta, arrays


def setting_differences(before: Any, now: Any, at: str = "") -> list[str]:
    """Dotted settings whose values differ between two plain-data settings trees, as
    ``KEY: A -> B`` with JSON values (``(none)`` for a setting one of them lacks)."""
    if isinstance(before, dict) and isinstance(now, dict):
        out = []
        for key in sorted(set(before) | set(now), key=str):
            path = f"{at}.{key}" if at else str(key)
            if key not in before or key not in now:
                out.append(
                    f"{path}: {_shown(before.get(key, _NONE))} -> {_shown(now.get(key, _NONE))}"
                )
            else:
                out += setting_differences(before[key], now[key], path)
        return out
    return [] if before == now else [f"{at or 'settings'}: {_shown(before)} -> {_shown(now)}"]


_NONE = object()


def _shown(value: Any) -> str:
    if value is _NONE:
        return "(none)"
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 60 else text[:57] + "..."
