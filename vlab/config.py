"""Configuration: package defaults, a user YAML file, and ``VLAB_*`` environment variables.

Precedence, lowest to highest:

1. ``vlab.yaml`` shipped inside the package (the documented defaults);
2. the user file named by ``$VLAB_CONFIG`` (default ``~/.config/vlab/vlab.yaml``);
3. environment variables ``VLAB_<SECTION>__<KEY>=value`` and, for a top-level setting,
   ``VLAB_<KEY>=value`` (e.g. ``VLAB_RESULTS_DIR``; values parsed as YAML scalars);
4. :func:`override` blocks in code (tests, notebooks).

Examples
--------
>>> from vlab import config
>>> config.get("campaign.chunk_size") > 0
True
>>> with config.override({"campaign.chunk_size": 7}):
...     config.get("campaign.chunk_size")
7
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
from collections.abc import Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from vlab.errors import ConfigError, did_you_mean

__all__ = ["as_dict", "get", "override", "user_config_path"]

_ENV_PREFIX = "VLAB_"
_overrides: list[dict[str, Any]] = []


def user_config_path() -> Path:
    """Path of the user configuration file (``$VLAB_CONFIG`` or ``~/.config/vlab/vlab.yaml``)."""
    return Path(os.environ.get("VLAB_CONFIG", "~/.config/vlab/vlab.yaml")).expanduser()


def _read_yaml(text: str, source: str) -> dict[str, Any]:
    from vlab._yaml import load_yaml_text, one_line

    data = load_yaml_text(text, source=f"configuration file {source}", error=ConfigError) or {}
    if not isinstance(data, dict):
        shown = one_line(repr(data), 100)
        raise ConfigError(f"The configuration file {source} must hold a mapping, got {shown}.")
    return data


def _check_type(name: str, default: Any, value: Any, source: str) -> None:
    """``value`` may replace ``default``: the same kind of scalar (any scalar for a null)."""
    from vlab._yaml import one_line

    scalar = (str, int, float, bool, type(None))
    if isinstance(default, bool):
        ok = isinstance(value, bool)
        want = "true or false"
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
        want = "an integer"
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        want = "a number"
    elif isinstance(default, str):
        ok = isinstance(value, (str, int, float)) and not isinstance(value, bool)
        want = "text"
    else:
        ok = isinstance(value, scalar)
        want = "text, a number, true/false or null"
    if not ok:
        raise ConfigError(
            f"The configuration key {name!r} in {source} must be {want}; got "
            f"{one_line(repr(value), 80)}."
        )


#: Allowed range of the numeric keys that have one, as (lowest, highest, in words): a count
#: of 0 workers would hang, and a flush interval of hours would hold finished work in memory.
_RANGES: dict[str, tuple[float, float, str]] = {
    "cluster.n_workers": (1, math.inf, ">= 1"),
    "cluster.threads_per_worker": (1, math.inf, ">= 1"),
    "campaign.chunk_size": (1, 1_000_000, "from 1 to 1000000"),  # spec.MAX_CHUNK_SIZE
    "campaign.zarr_chunk_items": (1, math.inf, ">= 1"),
    "campaign.futures_per_worker": (1, math.inf, ">= 1"),
    "campaign.flush_seconds": (0, 3600, "from 0 to 3600 seconds"),
    "campaign.retries": (0, 100, "from 0 to 100"),  # spec.MAX_RETRIES
    "storage.lease_ttl": (1e-9, math.inf, "> 0"),
    "cluster.kubernetes_start_timeout": (1, 86400, "from 1 to 86400 seconds"),
}


def _check_range(name: str, value: Any, source: str) -> None:
    allowed = _RANGES.get(name)
    if allowed is None or isinstance(value, bool) or not isinstance(value, int | float):
        return
    low, high, words = allowed
    if not low <= value <= high:
        raise ConfigError(
            f"The configuration key {name!r} in {source} must be {words}; got {value!r}."
        )


def _merge(base: dict[str, Any], extra: Mapping[str, Any], source: str, prefix: str = "") -> None:
    for key, value in extra.items():
        name = f"{prefix}{key}"
        if key not in base:
            keys = sorted(f"{prefix}{k}" for k in base)
            raise ConfigError(
                f"Unknown configuration key {name!r} in {source}; allowed: {', '.join(keys)}."
                + did_you_mean(name, keys)
            )
        if isinstance(base[key], dict):
            if not isinstance(value, Mapping):
                raise ConfigError(f"The configuration key {name!r} in {source} must be a mapping.")
            _merge(base[key], value, source, prefix=f"{name}.")
        else:
            _check_type(name, base[key], value, source)
            _check_range(name, value, source)
            base[key] = value


def _env_value(var: str, text: str) -> Any:
    from vlab._yaml import load_yaml_text

    return load_yaml_text(text, source=f"${var}", error=ConfigError) if text else None


def _env_overrides(top: Mapping[str, Any]) -> dict[str, Any]:
    """``VLAB_<SECTION>__<KEY>`` values, and ``VLAB_<KEY>`` for the top-level settings of
    ``top`` that are not sections (e.g. ``VLAB_RESULTS_DIR``)."""
    tree: dict[str, Any] = {}
    for var, text in os.environ.items():
        if not var.startswith(_ENV_PREFIX) or var == "VLAB_CONFIG":
            continue
        name = var[len(_ENV_PREFIX) :].lower()
        if "__" not in var and not (name in top and not isinstance(top[name], dict)):
            _warn_if_misspelt(var, top)
            continue
        path = name.split("__")
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = _env_value(var, text)
    return tree


def _warn_if_misspelt(var: str, top: Mapping[str, Any]) -> None:
    """A warning for a ``VLAB_*`` variable that is no setting but close to one's variable
    (``VLAB_CLUSTER_N_WORKERS``, ``VLAB_RESULT_DIR``); others are left alone silently."""
    names = ["VLAB_CONFIG"]
    for key, value in top.items():
        if isinstance(value, dict):
            names += [f"{_ENV_PREFIX}{key}__{sub}".upper() for sub in value]
        else:
            names.append(f"{_ENV_PREFIX}{key}".upper())
    hint = did_you_mean(var, names)
    if hint:
        import warnings

        warnings.warn(
            f"The environment variable {var} is not a vlab setting and is ignored.{hint}",
            UserWarning,
            stacklevel=2,
        )


def as_dict() -> dict[str, Any]:
    """Return the whole effective configuration as a nested dict (a fresh copy)."""
    defaults = resources.files("vlab").joinpath("vlab.yaml").read_text(encoding="utf-8")
    conf = _read_yaml(defaults, "vlab/vlab.yaml")
    user = user_config_path()
    if user.is_file():
        _merge(conf, _read_yaml(user.read_text(encoding="utf-8"), str(user)), str(user))
    _merge(conf, _env_overrides(conf), "the VLAB_* environment variables")
    for layer in _overrides:
        for dotted, value in layer.items():
            node = conf
            *parents, leaf = dotted.split(".")
            for part in parents:
                node = node[part]
            node[leaf] = copy.deepcopy(value)
    return conf


def get(key: str, default: Any = ...) -> Any:
    """Return the value of a dotted configuration key, e.g. ``"cluster.n_workers"``.

    Raises
    ------
    ConfigError
        If the key does not exist and no default was given.
    """
    node: Any = as_dict()
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            if default is not ...:
                return default
            raise ConfigError(f"Unknown configuration key {key!r}.")
        node = node[part]
    return node


@contextlib.contextmanager
def override(values: Mapping[str, Any]) -> Iterator[None]:
    """Temporarily set dotted configuration keys (for tests and notebooks)."""
    for dotted, value in values.items():
        get(dotted)  # validates the key
        _check_range(dotted, value, "config.override")
    _overrides.append(dict(values))
    try:
        yield
    finally:
        _overrides.remove(dict(values))
