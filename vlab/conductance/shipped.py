"""Trained surrogates shipped inside the package, each checked against its recorded sha256.

Each shipped model is a file ``models/NAME.npz`` (written by
:meth:`~vlab.conductance.surrogate.ConductanceSurrogate.save` or
:meth:`~vlab.conductance.bottleneck.BottleneckSurrogate.save`, no pickle) next to its manifest
``models/NAME.json``: the file's sha256, how it was trained (preset, parameters, training
stores, number of cells) and its error on blind held-out traces. :func:`load_shipped_model`
refuses a file whose bytes do not match the recorded sha256.

The ``spd-headline`` model is the spd benchmark's headline model (preset ``spd-headline``,
``random_state=0``), trained on 6,295 cells of 112-160 atoms with spd (extended-Hückel)
labels; ``benchmarks/train_headline.py`` regenerates it and ``benchmarks/surrogate_shipped.py``
records its blind error and speed (see docs/conductance.md). The ``spd-bottleneck`` model
(:class:`~vlab.conductance.bottleneck.BottleneckSurrogate`) is a fast model for junctions of
the same kind, trained on the same cells by ``benchmarks/train_bottleneck.py``.

Examples
--------
>>> shipped_model_info("no-such-model")
Traceback (most recent call last):
...
vlab.errors.InputError: There is no shipped conductance surrogate 'no-such-model'; shipped: ...
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from vlab.conductance.bottleneck import BottleneckSurrogate
from vlab.conductance.histogram import ConditionalResiduals
from vlab.conductance.surrogate import ConductanceSurrogate
from vlab.errors import DataFileError, InputError

__all__ = [
    "MODEL_DIR",
    "file_sha256",
    "load_model_file",
    "load_shipped_model",
    "load_shipped_residuals",
    "range_of_use_warning",
    "shipped_model_file",
    "shipped_model_info",
    "shipped_model_name",
    "shipped_models",
]

#: Folder of the shipped model files and their manifests.
MODEL_DIR = Path(__file__).resolve().parent / "models"


def shipped_models() -> list[str]:
    """Names of the shipped models (those with both a ``.npz`` file and a manifest), sorted."""
    return sorted(p.stem for p in MODEL_DIR.glob("*.json") if p.with_suffix(".npz").is_file())


def shipped_model_info(name: str) -> dict[str, Any]:
    """The manifest of shipped model ``name``: sha256, training record, blind error.

    Raises
    ------
    InputError
        If there is no shipped model ``name`` (the message lists them).
    """
    names = shipped_models()
    if not isinstance(name, str) or name not in names:
        raise InputError(
            f"There is no shipped conductance surrogate {name!r}; shipped: "
            f"{', '.join(names) or 'none'}. Give one of these, or the path of a .npz model "
            "file written by ConductanceSurrogate.save."
        )
    return json.loads((MODEL_DIR / f"{name}.json").read_text())


def file_sha256(path: str | Path) -> str:
    """SHA-256 hex digest of the bytes of the file ``path``."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_model_file(path: str | Path) -> ConductanceSurrogate | BottleneckSurrogate:
    """A surrogate saved by ``ConductanceSurrogate.save`` or ``BottleneckSurrogate.save``
    (the file's recorded format decides which).

    Raises
    ------
    DataFileError
        If the file is missing, unreadable, or not a saved conductance surrogate.
    """
    if model_file_format(path) == "vlab-bottleneck-surrogate":
        return BottleneckSurrogate.load(path)
    return ConductanceSurrogate.load(path)  # also the error for any other file


def model_file_format(path: str | Path) -> str | None:
    """The ``format`` recorded in a saved surrogate's metadata (``vlab-conductance-surrogate``,
    ``vlab-bottleneck-surrogate``), or None for a file that is none (or cannot be read);
    reads only the metadata."""
    try:
        with np.load(path, allow_pickle=False) as data:
            key = "metadata" if "metadata" in data.files else "meta"
            meta = json.loads(str(data[key])) if key in data.files else None
    except (OSError, ValueError, KeyError, EOFError, AttributeError, zipfile.BadZipFile):
        return None
    return meta.get("format") if isinstance(meta, dict) else None


def shipped_model_file(name: str) -> Path:
    """The file of shipped model ``name``, after checking it against the recorded sha256.

    Raises
    ------
    InputError
        If there is no shipped model ``name``.
    DataFileError
        If the file's sha256 differs from its manifest (a damaged or replaced file).
    """
    info = shipped_model_info(name)
    path = MODEL_DIR / info["file"]
    digest = file_sha256(path)
    if digest != info["sha256"]:
        raise DataFileError(
            f"The shipped model file {str(path)!r} has sha256 {digest}, but its manifest "
            f"records {info['sha256']}: the file is damaged or was replaced. Reinstall vlab, "
            f"or regenerate it with {info.get('regenerate', 'benchmarks/train_headline.py')}."
        )
    return path


def shipped_model_name(path: str | Path) -> str | None:
    """The name of the shipped model whose file is ``path``, or None for any other file."""
    try:
        resolved = Path(path).expanduser().resolve()
    except (OSError, TypeError, ValueError):
        return None
    for name in shipped_models():
        if (MODEL_DIR / shipped_model_info(name)["file"]).resolve() == resolved:
            return name
    return None


def range_of_use_warning(structures, name: str, source: str) -> str | None:
    """A warning if structures of ``source`` lie outside what shipped model ``name`` was made
    for, by its manifest; None if they all lie inside, or the model records no range.

    Two checks: the size (``range_of_use_atoms``: atoms per structure; the fast model's trees
    do not extrapolate to other sizes) and the electrodes' cross-section
    (``electrode_atoms_per_layer``, the range of the training cells: a structure whose
    electrodes are narrower than any training cell's is outside the range of use; wider ones
    are what the local-descriptor surrogate is built to transfer to).

    Parameters
    ----------
    structures : sequence of ase.Atoms
        The structures of ``source``.
    name : str
        A shipped model (:func:`shipped_models`).
    source : str
        How the structures are named in the warning (a store, a file).

    Examples
    --------
    >>> from vlab.conductance.structures import build_wire
    >>> wire = build_wire(cross_section=(1, 1), length=4)
    >>> print(range_of_use_warning([wire], "spd-headline", "my.xyz"))
    The spd-headline model was trained on junctions whose electrodes have 16-36 atoms per
    principal layer; 1 of the 1 structures of 'my.xyz' have narrower electrodes (4 atoms per
    layer), where its predictions are unreliable (docs/conductance.md, "Range of use"). Train a
    surrogate on labelled structures of that kind: vlab conductance train STORE...
    """
    from vlab.conductance.structures import electrode_atoms_per_layer

    info = shipped_model_info(name)
    messages = []
    sizes = info.get("range_of_use_atoms")
    counts = np.asarray([len(a) for a in structures], dtype=int)
    if sizes is not None and counts.size:
        outside = (counts < sizes[0]) | (counts > sizes[1])
        if outside.any():
            seen = ", ".join(str(c) for c in np.unique(counts[outside])[:5])
            messages.append(
                f"The {name} model is for junctions like its training cells ({sizes[0]}-"
                f"{sizes[1]} atoms); {int(outside.sum())} of the {counts.size} structures of "
                f"{source!r} have {seen} atoms. Its trees do not extrapolate: use the "
                "spd-headline model for other kinds or sizes of junction."
            )
    widths = info.get("electrode_atoms_per_layer")
    if widths is not None and counts.size and not messages:
        found = np.asarray([electrode_atoms_per_layer(a) or 0 for a in structures])
        narrow = (found > 0) & (found < widths[0])
        if narrow.any():
            seen = ", ".join(str(w) for w in np.unique(found[narrow])[:5])
            messages.append(
                f"The {name} model was trained on junctions whose electrodes have "
                f"{widths[0]}-{widths[1]} atoms per principal layer; {int(narrow.sum())} of the "
                f"{counts.size} structures of {source!r} have narrower electrodes ({seen} atoms "
                'per layer), where its predictions are unreliable (docs/conductance.md, "Range '
                'of use"). Train a surrogate on labelled structures of that kind: vlab '
                "conductance train STORE..."
            )
    return " ".join(messages) or None


def load_shipped_model(name: str = "spd-headline") -> ConductanceSurrogate | BottleneckSurrogate:
    """The shipped surrogate ``name``, after checking its file against the recorded sha256.

    Raises
    ------
    InputError
        If there is no shipped model ``name``.
    DataFileError
        If the file's sha256 differs from its manifest (a damaged or replaced file).
    """
    return load_model_file(shipped_model_file(name))


def load_shipped_residuals(name: str = "spd-headline") -> ConditionalResiduals:
    """The held-out residuals of shipped model ``name`` (its manifest's ``residuals``: the
    model's predictions and the reference on validation traces it was not trained on), as a
    :class:`~vlab.conductance.histogram.ConditionalResiduals` that draws the reference's
    spread around new predictions (for histograms).

    Raises
    ------
    InputError
        If there is no shipped model ``name``, or its manifest records no residuals.
    """
    info = shipped_model_info(name)
    if "residuals" not in info:
        raise InputError(
            f"The shipped model {name!r} records no held-out residuals; "
            "benchmarks/surrogate_shipped.py writes them into its manifest."
        )
    return ConditionalResiduals.from_dict(info["residuals"])
