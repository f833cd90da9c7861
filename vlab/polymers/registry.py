"""Named polymer models: save a fitted model under a name, and use it by that name.

A registered model is one ``NAME.npz`` file (:func:`~vlab.polymers.models.save_model`: weights,
card and the identity of its training data) in :func:`models_dir` (configuration key
``polymers.models_dir``, by default ``$XDG_DATA_HOME/vlab/models``, i.e.
``~/.local/share/vlab/models``). ``vlab polymers train`` registers what it trains;
``vlab polymers predict --model NAME`` and ``polymer-predict`` campaigns (``model: NAME``) use it.

Examples
--------
>>> import tempfile
>>> from vlab import config
>>> from vlab.polymers import ForestRegressorStd, PolymerPropertyModel
>>> with config.override({"polymers.models_dir": tempfile.mkdtemp()}):
...     smiles = ["*CC*", "*CC(*)C", "*CC(*)CC", "*CCO*"]
...     model = PolymerPropertyModel(n_bits=64, descriptors=False, random_state=0)
...     path = register_model("demo-x", model.fit(smiles, [1.0, 2.0, 3.0, 1.5]))
...     list(registered_models()), resolve_model("demo-x") == path
(['demo-x'], True)
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vlab import config
from vlab.errors import InputError

__all__ = [
    "check_model_name",
    "model_path",
    "models_dir",
    "register_model",
    "registered_models",
    "resolve_model",
]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def models_dir() -> Path:
    """Folder of the registered models (configuration key ``polymers.models_dir``).

    By default ``$XDG_DATA_HOME/vlab/models`` (``~/.local/share/vlab/models``), the same from
    every working directory.
    """
    configured = config.get("polymers.models_dir")
    if configured:
        return Path(str(configured)).expanduser()
    data_home = os.environ.get("XDG_DATA_HOME") or "~/.local/share"
    return Path(data_home).expanduser() / "vlab" / "models"


def check_model_name(name: Any) -> str:
    """``name`` if it can name a registered model; a clear error otherwise."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or name.endswith(".npz"):
        raise InputError(
            "A model name must be 1 to 100 letters, digits, '.', '_' or '-', starting with a "
            f"letter or digit, without the .npz suffix. Got {str(name)[:60]!r}."
        )
    return name


def registered_models() -> dict[str, Path]:
    """Registered model names and their files, sorted by name."""
    folder = models_dir()
    if not folder.is_dir():
        return {}
    files = (p for p in folder.glob("*.npz") if _NAME.fullmatch(p.stem) and p.is_file())
    return {p.stem: p for p in sorted(files)}


def model_path(name: str) -> Path:
    """The file of the registered model ``name``; a clear error lists the names otherwise."""
    known = registered_models()
    if name not in known:
        shown = ", ".join(known) or "none"
        raise InputError(
            f"No registered model named {str(name)[:60]!r} in {models_dir()}; registered: "
            f"{shown}. Train and register one with `vlab polymers train PROPERTY=STORE "
            "--name NAME`."
        )
    return known[name]


def resolve_model(model: str) -> Path:
    """The model file that ``model`` means: a registered name, else the path of a saved model."""
    known = registered_models() if isinstance(model, str) and _NAME.fullmatch(model) else {}
    if isinstance(model, str) and model in known:
        return known[model]
    try:
        path = Path(model).expanduser()
        if path.is_file():
            return path
    except (OSError, ValueError, RuntimeError, TypeError):  # a NUL byte, an unknown ~user
        pass
    return model_path(model)


def check_free_name(name: str, *, replace: bool = False) -> Path:
    """The file a model registered as ``name`` would have; an :class:`InputError` if the name
    is not allowed, or is taken and not ``replace`` (check before a costly training)."""
    name = check_model_name(name)
    target = models_dir() / f"{name}.npz"
    if target.exists() and not replace:
        raise InputError(
            f"A model named {name!r} is already registered ({target}); choose another name "
            "or replace it (replace=True, or --replace on the command line)."
        )
    return target


def register_model(
    name: str,
    model,
    *,
    card=None,
    training: Sequence[Mapping[str, Any]] | None = None,
    replace: bool = False,
) -> Path:
    """Save the fitted ``model`` as the registered model ``name``; return its file.

    ``card`` and ``training`` are saved with it (see :func:`~vlab.polymers.models.save_model`).
    An existing model of that name is kept unless ``replace``; the file is written aside and
    renamed into place, so a failed save never leaves half a model under the name.
    """
    from vlab.polymers.models import save_model

    target = check_free_name(name, replace=replace)
    folder = target.parent
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{name}.{os.getpid()}.tmp.npz"
    try:
        save_model(model, tmp, card=card, training=training)
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    return target
