"""The one exception hierarchy of vlab.

Every error that vlab raises on purpose derives from :class:`VlabError`. Bad input
(:class:`InputError` and its children) is kept apart from calculations that failed on good
input (:class:`CalculationFailed`), as ASE separates ``InputError`` from
``CalculationFailed``. Each class also subclasses the builtin that a caller would expect,
so ``except ValueError`` keeps working.

Examples
--------
>>> from vlab.errors import SpecError, InputError, VlabError
>>> issubclass(SpecError, InputError) and issubclass(SpecError, ValueError)
True
>>> try:
...     raise SpecError("The 'chunk_size' key of spec.yaml must be a positive integer. Got -1.")
... except VlabError as err:
...     print(err)
The 'chunk_size' key of spec.yaml must be a positive integer. Got -1.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "CalculationFailed",
    "CatalogError",
    "ClusterError",
    "ConfigError",
    "DataFileError",
    "IncompatibleVersionError",
    "InputError",
    "InvalidSMILESError",
    "InvalidStructureError",
    "MissingDependencyError",
    "SpecError",
    "StoreError",
    "StoreLockedError",
    "UnreadableFileError",
    "VlabError",
    "did_you_mean",
    "optional_import",
    "reject_unknown",
]


class VlabError(Exception):
    """Base class of every error that vlab raises on purpose."""


class InputError(VlabError, ValueError):
    """The caller gave input that vlab cannot accept; the message says what is allowed."""


class ConfigError(InputError):
    """A configuration file or ``VLAB_*`` environment variable is invalid."""


class SpecError(InputError):
    """A campaign spec is invalid (unknown key, wrong type, missing file, ...)."""


class InvalidStructureError(InputError):
    """An atomic structure (or a request to build one) is invalid."""


class InvalidSMILESError(InputError):
    """A SMILES string, or a polymer repeat unit, is invalid."""


class CatalogError(InputError, KeyError):
    """A catalog entry does not exist or the catalog index is malformed."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class StoreError(VlabError, RuntimeError):
    """A zarr store is missing, malformed, or does not match the campaign writing to it."""


class StoreLockedError(StoreError):
    """Another process is writing to the store right now."""


class IncompatibleVersionError(InputError):
    """A saved model or store was written by an incompatible version of vlab."""


class DataFileError(VlabError, OSError):
    """A data file could not be fetched, or its checksum does not match."""


class UnreadableFileError(DataFileError, InputError):
    """A file the caller named (a saved model, a language model) cannot be read as one: bad
    input, where a failed download or a damaged install is a plain :class:`DataFileError`."""


class ClusterError(VlabError, RuntimeError):
    """A Dask cluster could not be created or reached."""


class CalculationFailed(VlabError, RuntimeError):
    """A calculation failed on valid input (e.g. a singular Green's function)."""


class MissingDependencyError(VlabError, ImportError):
    """An optional package that a feature needs is not installed; the message says how to
    install it."""


def optional_import(module: str, *, extra: str, purpose: str):
    """Import ``module``; a :class:`MissingDependencyError` naming ``purpose`` and the pip
    extra that installs it otherwise.

    >>> optional_import("no_such_module_here", extra="md", purpose="for the demo")
    Traceback (most recent call last):
    ...
    vlab.errors.MissingDependencyError: The Python package 'no_such_module_here', needed for ...
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as err:
        package = module.split(".")[0]
        raise MissingDependencyError(
            f"The Python package {package!r}, needed {purpose}, cannot be imported ({err}): "
            f"pip install 'vlab[{extra}]'."
        ) from None


def reject_unknown(given: Iterable[str], allowed: Iterable[str], what: str, of: str = "") -> None:
    """Raise :class:`InputError` naming the names in ``given`` that are not in ``allowed``
    (``what`` says what they are, ``of`` whose), and listing the allowed ones.

    >>> reject_unknown({"r_cut": 5}, ["r_cut", "n_max"], "settings keys")
    >>> reject_unknown({"rcut": 5}, ["r_cut", "n_max"], "keys", of="M")
    Traceback (most recent call last):
    ...
    vlab.errors.InputError: Unknown keys ['rcut'] of M; allowed: [...]. Did you mean 'r_cut'?
    """
    allowed = set(allowed)
    unknown = sorted(set(given) - allowed)
    if unknown:
        owner = f" of {of}" if of else ""
        hint = did_you_mean(unknown[0], allowed) if len(unknown) == 1 else ""
        raise InputError(f"Unknown {what} {unknown}{owner}; allowed: {sorted(allowed)}.{hint}")


def did_you_mean(word: object, options: Iterable) -> str:
    """`` Did you mean 'x'?`` when ``word`` is close to one of ``options`` (a typo), else ``""``;
    for the end of an error message.

    >>> did_you_mean("chunksize", ["chunk_size", "store"]), did_you_mean("colour", ["store"])
    (" Did you mean 'chunk_size'?", '')
    >>> did_you_mean("tg", ["Tg", "Tm"])
    " Did you mean 'Tg'?"
    """
    options = [str(o) for o in options]
    same = [o for o in options if o.lower() == str(word).lower()]  # another case: tg -> Tg
    close = same or difflib.get_close_matches(str(word), options, n=1, cutoff=0.75)
    return f" Did you mean {close[0]!r}?" if close else ""
