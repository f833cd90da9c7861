"""Registered public data sources for the polymer lab, and loaders that return plain tables.

Every public file of the project's data manifest is a :class:`Source` with its URL (the raw
file at a pinned repository commit), sha256, license, citation, column mapping and units.

Where the rows of a source come from (:func:`source_rows`, used by every loader), in this
order of preference:

1. files shipped inside the package (the two HighTCond conversions, which have no raw URL,
   and the experimental thermal-conductivity table) are read from ``vlab/polymers/data``;
2. the published CSV file in the cache directory ``config.get("data.cache_dir")``
   (environment variable ``VLAB_DATA__CACHE_DIR``; ``None`` means ``pooch.os_cache("vlab")``),
   if it is there with the right sha256. Nothing is written, so the cache may be read-only;
3. the catalog store ``polymers-NAME`` (found with :func:`vlab.catalog.list_entries`): vlab
   ships one for each source the polymer lab needs (``radonpy_pi1070``, ``polymon_tg``,
   ``polymon_tg_raw``), and ``vlab polymers ingest NAME`` writes one. It holds the rows of
   the published file with their canonical keys, so a table loaded from it is identical to
   one loaded from the CSV file, and vlab works on a machine with no network and no cache;
4. otherwise, unless ``config.get("data.offline")`` is true, the file is downloaded with
   :func:`pooch.retrieve`, which verifies the sha256 (:func:`fetch`).

Loaders return a :class:`PolymerTable`: canonical repeat units (see
:func:`vlab.polymers.smiles.normalize_repeat_unit`), float arrays, units (temperatures in K),
provenance, and a report of the skipped bad rows. Duplicates within a source (same
normalised repeat unit) are merged by the mean.

Examples
--------
>>> sorted(SOURCES)[:3]
['experimental_tc', 'hightcond_initial_smiles', 'hightcond_lc_frags']
>>> table = load_experimental_tc()
>>> mean = float(table.values["thermal_conductivity"].mean())
>>> table.units["thermal_conductivity"], 0.1 < mean < 0.5
('W/(m K)', True)
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

import numpy as np
from rdkit import Chem

from vlab import config
from vlab.errors import DataFileError, InputError, optional_import
from vlab.polymers import smiles as _smiles
from vlab.polymers.smiles import BadRows, canonicalize_many, normalize_many

__all__ = [
    "SOURCES",
    "STORE_LAYOUT",
    "PolymerTable",
    "Source",
    "SourceRows",
    "cache_dir",
    "fetch",
    "load_experimental_tc",
    "load_pi1070",
    "load_small_molecule_cp",
    "load_smiles_list",
    "load_source",
    "load_tg",
    "merge_tables",
    "pi1070_source_columns",
    "source_rows",
    "store_name",
]

_GITHUB_RAW = "https://raw.githubusercontent.com/{repo}/{commit}/{path}"
_ZERO_CELSIUS_K = 273.15
#: ``layout`` attribute of a catalog store that holds the rows of a published source file.
STORE_LAYOUT = "polymer-source-rows-1"


@dataclass(frozen=True, kw_only=True)
class Source:
    """A registered data file.

    Attributes
    ----------
    name : str
        Registry key, e.g. ``"radonpy_pi1070"``.
    filename : str
        File name in the cache (or in ``vlab/polymers/data`` when ``embedded``).
    sha256 : str
        Expected SHA-256 of the file.
    url : str or None
        Raw download URL at a pinned commit; ``None`` for embedded files.
    license, citation, description : str
        Provenance.
    smiles_column : str
        Column holding the repeat unit.
    columns : mapping of str to str
        Raw column name -> vlab name of the numeric columns to load.
    units : mapping of str to str
        vlab name -> unit *after* conversion.
    celsius : tuple of str
        vlab names whose raw values are in degC (converted to K on loading).
    embedded : bool
        Shipped inside the package.
    """

    name: str
    filename: str
    sha256: str
    url: str | None
    license: str
    citation: str
    description: str
    smiles_column: str
    columns: Mapping[str, str] = field(default_factory=dict)
    units: Mapping[str, str] = field(default_factory=dict)
    celsius: tuple[str, ...] = ()
    embedded: bool = False


def _github(repo: str, commit: str, path: str) -> str:
    return _GITHUB_RAW.format(repo=repo, commit=commit, path=path)


# Units of the RadonPy PI1070 columns (RadonPy conventions; Cp, Cv classical MD, J/(kg K)).
_PI1070_UNITS = {
    "mol_weight_monomer": "g/mol",
    "atomic_weight_mean": "g/mol",
    "vdw_volume_monomer": "Å^3",
    "qm_total_energy_monomer": "kJ/mol",
    "qm_homo_monomer": "eV",
    "qm_lumo_monomer": "eV",
    "qm_dipole_monomer": "D",
    "qm_polarizability_monomer": "Å^3",
    "density": "g/cm^3",
    "Rg": "Å",
    "r2": "1 (RadonPy 'r2' as published)",
    "self-diffusion": "m^2/s",
    "Cp": "J/(kg K)",
    "Cv": "J/(kg K)",
    "compressibility": "1/Pa",
    "bulk_modulus": "Pa",
    "isentropic_compressibility": "1/Pa",
    "isentropic_bulk_modulus": "Pa",
    "volume_expansion": "1/K",
    "linear_expansion": "1/K",
    "static_dielectric_const": "1",
    "dielectric_const_dc": "1",
    "nematic_order_parameter": "1",
    "refractive_index": "1",
    "thermal_conductivity": "W/(m K)",
    "thermal_diffusivity": "m^2/s",
    "temp": "K",
}

SOURCES: dict[str, Source] = {
    s.name: s
    for s in (
        Source(
            name="radonpy_pi1070",
            filename="RadonPy_PI1070.csv",
            sha256="4ee41d526db3d03eb5b83010672b4e63a4d51a114871a2187ca7fd57d30556a4",
            url=_github(
                "RadonPy/RadonPy", "648c9a492808339c9bb7ad2c1137e5a7b07614ca", "data/PI1070.csv"
            ),
            license="BSD-3-Clause",
            citation="Hayashi et al., RadonPy, npj Comput. Mater. 8, 222 (2022)",
            description="All-atom MD properties of 1077 amorphous homopolymers at 300 K.",
            smiles_column="smiles",
            columns={k: k for k in _PI1070_UNITS},
            units=_PI1070_UNITS,
        ),
        Source(
            name="polymon_tg",
            filename="polymon_Tg.csv",
            sha256="95ade9f77428fdd9029a3e945df1634d6dd37d4c10c1d5f83a730f0040ac9b78",
            url=_github(
                "fate1997/polymon",
                "31e59677178e3601377383552a5fc9ac628bea38",
                "database/raw_csv/Tg.csv",
            ),
            license="Apache-2.0",
            citation="Tang, Yue, Li, J. Chem. Inf. Model. (2025), HT-PolyInfo (PoLyInfo)",
            description="Glass transition temperatures of PoLyInfo homopolymers.",
            smiles_column="Smiles",
            columns={"Tg": "Tg"},
            units={"Tg": "K"},
            celsius=("Tg",),
        ),
        Source(
            name="polymon_tg_raw",
            filename="polymon_tg_raw.csv",
            sha256="559fbd0811cb7f914c932786da4856214c43564e4b2524e3c3a4b8891997037e",
            url=_github(
                "fate1997/polymon",
                "31e59677178e3601377383552a5fc9ac628bea38",
                "database/raw_csv/tg_raw.csv",
            ),
            license="MIT",
            citation="Liu et al., GREA, KDD 2022 (PoLyInfo glass transition temperatures)",
            description="Glass transition temperatures of PoLyInfo homopolymers (GREA set).",
            smiles_column="SMILES",
            columns={"tg": "Tg"},
            units={"Tg": "K"},
            celsius=("Tg",),
        ),
        Source(
            name="xenonpy_polymer_genome",
            filename="xenonpy_tests_polymer_test_data.csv",
            sha256="31b2bfd9c156d08f07f16b7cb36c40e8084dfd9284e989d883e90b26ea439543",
            url=_github(
                "yoshida-lab/XenonPy",
                "4b62835b6c05ae24538c4c0501c8600a44b09dca",
                "tests/inverse/polymer_test_data.csv",
            ),
            license="BSD-3-Clause",
            citation="XenonPy test data (Polymer Genome subset), Yoshida lab",
            description="500 polymers: band gap, refractive index, density, Tg.",
            smiles_column="smiles",
            columns={
                "bandgap": "bandgap",
                "refractive_index": "refractive_index",
                "density": "density",
                "glass_transition_temperature": "Tg",
            },
            units={"bandgap": "eV", "refractive_index": "1", "density": "g/cm^3", "Tg": "K"},
        ),
        Source(
            name="hightcond_initial_smiles",
            filename="HighTCond_initial_SMILES.csv",
            sha256="1c352f7babdf3aa08d9b924fccf2c8335707d131df22abb083bd9bfc0e479316",
            url=None,
            license="MIT",
            citation="Wu et al., npj Comput. Mater. 5, 66 (2019); stewu5/HighTCond_Polymer_iqspr",
            description="Seed polymers of the iQSPR runs (converted from initial_SMILES.RData).",
            smiles_column="smiles",
            embedded=True,
        ),
        Source(
            name="hightcond_lc_frags",
            filename="HighTCond_LC_frags.csv",
            sha256="b523cf28cd195c71f1ab6d5934122ce77108954679c56c3ba7520e22d15ff6ce",
            url=None,
            license="MIT",
            citation="Wu et al., npj Comput. Mater. 5, 66 (2019); stewu5/HighTCond_Polymer_iqspr",
            description="Liquid-crystal mesogen fragments used as a design bonus.",
            smiles_column="SMILES",
            embedded=True,
        ),
        Source(
            name="experimental_tc",
            filename="experimental_tc.csv",
            sha256="",  # maintained in this repository; not checked
            url=None,
            license="BSD-3-Clause (vlab); values are typed from the cited literature",
            citation="per row, see the 'source' column and vlab/polymers/data/README.md",
            description="Room-temperature thermal conductivity of common homopolymers.",
            smiles_column="smiles",
            columns={"thermal_conductivity": "thermal_conductivity", "temperature": "T"},
            units={"thermal_conductivity": "W/(m K)", "T": "K"},
            embedded=True,
        ),
    )
}


@dataclass(frozen=True, kw_only=True)
class PolymerTable:
    """Plain table of polymers (one row per canonical repeat unit).

    Attributes
    ----------
    smiles : tuple of str
        Canonical repeat units (unique).
    values : dict of str to numpy.ndarray
        Float columns aligned with ``smiles`` (NaN where missing).
    units : dict of str to str
        Unit of each column (temperatures in K).
    source, license, citation : str
        Provenance.
    n_raw : int
        Rows in the file.
    n_merged : int
        Valid rows folded into another row with the same repeat unit (merged by the mean).
    counts : numpy.ndarray
        Number of raw rows behind each row.
    bad_rows : BadRows
        Rows skipped because the repeat unit is invalid.
    text : dict of str to tuple of str
        Text columns (e.g. polymer names, citations) aligned with ``smiles``.
    """

    smiles: tuple[str, ...]
    values: dict[str, np.ndarray]
    units: dict[str, str]
    source: str
    license: str
    citation: str
    n_raw: int
    n_merged: int
    counts: np.ndarray
    bad_rows: BadRows
    text: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.smiles)

    def column(self, name: str) -> np.ndarray:
        """Values of one column; :class:`InputError` names the available ones."""
        if name not in self.values:
            raise InputError(
                f"The column {name!r} is not in the table of {self.source!r}; "
                f"available: {', '.join(sorted(self.values))}."
            )
        return self.values[name]


# --- fetching ---------------------------------------------------------------------------


def cache_dir() -> Path:
    """The data cache directory (config ``data.cache_dir``, else ``pooch.os_cache("vlab")``)."""
    configured = config.get("data.cache_dir")
    if configured:
        return Path(configured).expanduser()
    import pooch

    return Path(pooch.os_cache("vlab"))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _source(name: str) -> Source:
    if name not in SOURCES:
        raise InputError(
            f"The source {name!r} is not registered; registered sources: "
            f"{', '.join(sorted(SOURCES))}."
        )
    return SOURCES[name]


def _verified(path: Path, src: Source) -> Path:
    if src.sha256 and (found := _sha256(path)) != src.sha256:
        raise DataFileError(
            f"The file {path} of source {src.name!r} has sha256 {found}, expected "
            f"{src.sha256}. Delete it (or point VLAB_DATA__CACHE_DIR elsewhere) and fetch again."
        )
    return path


def fetch(name: str) -> Path:
    """Local path of the published file of a registered source, downloading it if needed.

    The file shipped inside the package, else the file in the data cache, else (unless
    offline) a download into the cache. The loaders also read the catalog store of a source
    before downloading (see :func:`source_rows`); this function only deals with files.

    Raises
    ------
    DataFileError
        Offline and missing, checksum mismatch, or download failure; the message says which
        file, where vlab looked and how to fix it.

    Examples
    --------
    >>> fetch("hightcond_lc_frags").name
    'HighTCond_LC_frags.csv'
    """
    src = _source(name)
    if src.embedded:
        return _verified(Path(str(resources.files("vlab.polymers") / "data" / src.filename)), src)
    folder = cache_dir()
    path = folder / src.filename
    if path.is_file():
        return _verified(path, src)
    if config.get("data.offline"):
        raise DataFileError(
            f"The file {src.filename} of source {name!r} is not in the data cache {folder} and "
            "vlab is offline (config data.offline). Copy the file there, point "
            "VLAB_DATA__CACHE_DIR at a folder that has it, or set VLAB_DATA__OFFLINE=false "
            f"to download it from {src.url}."
        )
    return _download(src, folder)


def _download(src: Source, folder: Path) -> Path:
    import pooch

    try:
        got = pooch.retrieve(
            src.url,
            known_hash=f"sha256:{src.sha256}",
            fname=src.filename,
            path=folder,
            progressbar=False,
        )
    except ValueError as err:  # pooch's checksum mismatch
        raise DataFileError(f"Download of {src.url} failed its sha256 check: {err}") from err
    except Exception as err:
        raise DataFileError(
            f"Could not download {src.filename} of source {src.name!r} from {src.url} into "
            f"{folder}: {err}. Check the network or pre-fill the cache folder."
        ) from err
    return Path(got)


# --- rows of a source: CSV file or catalog store ------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SourceRows:
    """The rows of a source file as published, before validation and merging.

    Attributes
    ----------
    source : str
        Registry key of the source.
    smiles : tuple of str
        Repeat unit of each row, as written in the file.
    values : dict of str to numpy.ndarray
        Float64 columns under their vlab names and in vlab units (degC converted to K),
        one value per row, NaN where the file has no number.
    text : dict of str to tuple of str
        Text columns of sources shipped inside the package (e.g. names, citations).
    origin : str
        The CSV file or the catalog store the rows were read from.
    keys : dict of str to tuple of str
        ``"canonical"`` (:func:`~vlab.polymers.smiles.canonical_repeat_unit`) and
        ``"normalized"`` (:func:`~vlab.polymers.smiles.normalize_repeat_unit`) key of each
        row, ``""`` for invalid rows; empty when not computed yet.
    problems : tuple of str or None
        Why each row is invalid (``""`` for valid rows); ``None`` when not computed yet.
    """

    source: str
    smiles: tuple[str, ...]
    values: dict[str, np.ndarray]
    text: dict[str, tuple[str, ...]] = field(default_factory=dict)
    origin: str = ""
    keys: dict[str, tuple[str, ...]] = field(default_factory=dict)
    problems: tuple[str, ...] | None = None

    def __len__(self) -> int:
        return len(self.smiles)

    def validated(self, *, normalize: bool) -> tuple[list[str], BadRows]:
        """Keys of the valid rows, in file order, and the report of the invalid ones.

        Uses the stored keys when the rows carry them (computed by :meth:`with_keys`, with
        the RDKit version the store's ``package_versions`` attribute records), else validates
        with RDKit (:func:`~vlab.polymers.smiles.normalize_many` or
        :func:`~vlab.polymers.smiles.canonicalize_many`).
        """
        kind = "normalized" if normalize else "canonical"
        if kind not in self.keys or self.problems is None:
            return normalize_many(self.smiles) if normalize else canonicalize_many(self.smiles)
        bad = [i for i, why in enumerate(self.problems) if why]
        keys = [k for k, why in zip(self.keys[kind], self.problems, strict=True) if not why]
        examples = tuple((i, self.smiles[i], self.problems[i]) for i in bad[: _smiles._N_EXAMPLES])
        return keys, BadRows(count=len(bad), indices=tuple(bad), examples=examples)

    def with_keys(self) -> SourceRows:
        """These rows with both keys and the problem of every row computed."""
        if {"canonical", "normalized"} <= set(self.keys) and self.problems is not None:
            return self
        canonical, bad = canonicalize_many(self.smiles)
        normalized, _ = normalize_many(self.smiles)
        problems = [""] * len(self)
        for i in bad.indices:  # the reason of each bad row (the report keeps five)
            problems[i] = canonicalize_many([self.smiles[i]])[1].examples[0][2]
        good = [i for i, why in enumerate(problems) if not why]
        keys = {}
        for kind, found in (("canonical", canonical), ("normalized", normalized)):
            column = [""] * len(self)
            for i, key in zip(good, found, strict=True):
                column[i] = key
            keys[kind] = tuple(column)
        return replace(self, keys=keys, problems=tuple(problems))


def store_name(name: str) -> str:
    """Catalog name of the store of source ``name``: ``"polymers-NAME"``."""
    return f"polymers-{_source(name).name}"


def source_rows(name: str) -> SourceRows:
    """The rows of source ``name``, from the first place that has them.

    1. the package (sources shipped inside vlab);
    2. the catalog store ``polymers-NAME`` (shipped with vlab or written by
       ``vlab polymers ingest NAME``), which must hold the rows of the published file (its
       sha256): the catalog is what the models learn from;
    3. the CSV file in the data cache (``config.get("data.cache_dir")``), sha256-checked;
    4. the CSV file downloaded into the cache, unless ``config.get("data.offline")``.

    Raises
    ------
    DataFileError
        If none of these has the file; the message says where vlab looked and what to do.

    Examples
    --------
    >>> rows = source_rows("hightcond_lc_frags")
    >>> len(rows), rows.origin.endswith("HighTCond_LC_frags.csv")
    (24, True)
    """
    src = _source(name)
    if src.embedded:
        return _csv_rows(src, fetch(name))
    stored = _store_rows(src)
    if stored is not None:
        return stored
    path = cache_dir() / src.filename
    if path.is_file():
        return _csv_rows(src, _verified(path, src))
    try:
        return _csv_rows(src, fetch(name))
    except DataFileError as err:
        raise DataFileError(
            f"{err} The catalog has no store {store_name(name)!r} either (vlab ships one for "
            f"{', '.join(_SHIPPED)}; `vlab polymers ingest {name}` writes one)."
        ) from err


#: Sources whose rows vlab ships as catalog stores (catalogs/polymers-NAME.yaml).
_SHIPPED = ("radonpy_pi1070", "polymon_tg", "polymon_tg_raw")


def _read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def _csv_rows(src: Source, path: Path) -> SourceRows:
    header, rows = _read_csv(path)
    missing = [c for c in (src.smiles_column, *src.columns) if c not in header]
    if missing:
        raise DataFileError(f"The file {path} of source {src.name!r} lacks the columns {missing}.")
    values = {
        vname: np.array([_to_float(r[col]) for r in rows], dtype=float)
        for col, vname in src.columns.items()
    }
    for vname in src.celsius:
        values[vname] = values[vname] + _ZERO_CELSIUS_K
    text_cols = [c for c in header if c not in src.columns and c != src.smiles_column]
    text = {c: tuple(r[c] for r in rows) for c in text_cols if src.embedded}
    smiles = tuple(r[src.smiles_column] for r in rows)
    return SourceRows(source=src.name, smiles=smiles, values=values, text=text, origin=str(path))


def _store_rows(src: Source) -> SourceRows | None:
    """Rows of the catalog store ``polymers-NAME``, or ``None`` if the catalog has none."""
    from vlab import catalog  # the catalog is the one place that reads stores

    name = store_name(src.name)
    entry = next((e for e in catalog.list_entries() if e.name == name), None)
    if entry is None:
        return None
    ds = entry.open()
    attrs = ds.attrs
    found = (attrs.get("layout"), attrs.get("source"), attrs.get("source_sha256"))
    wanted = (STORE_LAYOUT, src.name, src.sha256)
    missing = [c for c in ("smiles", *src.columns.values(), *_KEY_VARIABLES) if c not in ds]
    if found != wanted or missing:
        raise DataFileError(
            f"The catalog entry {name!r} ({entry.index_file}) points at {entry.location}, which "
            f"does not hold the rows of {src.filename} (layout, source, sha256 {found}, expected "
            f"{wanted}; missing variables {missing}). Write it again with `vlab polymers ingest "
            f"{src.name} --replace`, or delete {entry.index_file}."
        )
    ds = ds.load()

    def strings(var: str) -> tuple[str, ...]:
        return tuple(str(v) for v in ds[var].values)

    return SourceRows(
        source=src.name,
        smiles=strings("smiles"),
        values={v: np.asarray(ds[v].values, dtype=float) for v in src.columns.values()},
        text={c: strings(c) for c in json.loads(attrs.get("text_columns", "[]"))},
        origin=str(entry.location),
        keys={"canonical": strings("canonical_smiles"), "normalized": strings("repeat_unit")},
        problems=strings("problem"),
    )


#: Store variables with the keys and the problem of each row (see :meth:`SourceRows.with_keys`).
_KEY_VARIABLES = ("canonical_smiles", "repeat_unit", "problem")


# --- loading ----------------------------------------------------------------------------


def _to_float(text: str | None) -> float:
    try:
        return float(text) if text not in (None, "") else math.nan
    except ValueError:
        return math.nan


def _merge_rows(keys: Sequence[str], columns: Mapping[str, np.ndarray]):
    """Group rows by key; mean of finite values per column (NaN if none)."""
    uniq, inverse, counts = np.unique(
        np.asarray(keys, dtype=object), return_inverse=True, return_counts=True
    )
    merged = {}
    for name, col in columns.items():
        finite = np.isfinite(col)
        sums = np.bincount(inverse, weights=np.where(finite, col, 0.0), minlength=len(uniq))
        n = np.bincount(inverse, weights=finite.astype(float), minlength=len(uniq))
        with np.errstate(invalid="ignore", divide="ignore"):
            merged[name] = np.where(n > 0, sums / np.maximum(n, 1), np.nan)
    first = np.full(len(uniq), -1)
    for i in range(len(inverse) - 1, -1, -1):
        first[inverse[i]] = i
    return tuple(str(u) for u in uniq), merged, counts, first


def load_source(name: str, *, normalize: bool = True) -> PolymerTable:
    """Load a registered polymer source into a :class:`PolymerTable`.

    The rows come from the package, the CSV file in the data cache, the catalog store
    ``polymers-NAME`` or a download, in this order (see :func:`source_rows`); the table is
    the same whichever place has them.

    Parameters
    ----------
    name : str
        Key of :data:`SOURCES`.
    normalize : bool, default True
        Key rows by :func:`~vlab.polymers.smiles.normalize_repeat_unit` (merges cyclic
        shifts and period multiples); False uses the canonical SMILES as written.

    Raises
    ------
    DataFileError
        If no place has the rows of the source (offline, no cache file and no store).

    Examples
    --------
    >>> t = load_source("hightcond_lc_frags")
    >>> t.n_raw, len(t) + t.n_merged + t.bad_rows.count
    (24, 24)
    """
    src = _source(name)
    rows = source_rows(name)
    keys, bad = rows.validated(normalize=normalize)
    keep = np.setdiff1d(np.arange(len(rows)), np.asarray(bad.indices, dtype=int))
    raw = {vname: column[keep] for vname, column in rows.values.items()}
    uniq, values, counts, first = _merge_rows(keys, raw)
    text = {c: tuple(column[keep[j]] for j in first) for c, column in rows.text.items()}
    return PolymerTable(
        smiles=uniq,
        values=values,
        units=dict(src.units),
        source=name,
        license=src.license,
        citation=src.citation,
        n_raw=len(rows),
        n_merged=len(keys) - len(uniq),
        counts=counts,
        bad_rows=bad,
        text=text,
    )


def load_pi1070(*, normalize: bool = True) -> PolymerTable:
    """RadonPy PI1070 (MD properties at 300 K); see :func:`pi1070_source_columns`."""
    return load_source("radonpy_pi1070", normalize=normalize)


def load_experimental_tc() -> PolymerTable:
    """Embedded room-temperature thermal conductivities (W/(m K)) of common homopolymers.

    Text columns ``name``, ``morphology`` and ``source`` (citation per row) are in
    ``table.text``.
    """
    return load_source("experimental_tc")


def load_smiles_list(name: str) -> tuple[str, ...]:
    """Canonical repeat units of a SMILES-only source (e.g. ``"hightcond_initial_smiles"``)."""
    return load_source(name).smiles


def load_tg(*, normalize: bool = True) -> tuple[PolymerTable, dict[str, int]]:
    """Glass transition temperatures (K) of both PoLyInfo Tg files, merged.

    Returns
    -------
    table : PolymerTable
        One row per repeat unit; ``Tg`` is the mean over both sources.
    report : dict
        Rows of each source, rows in both, and rows that remain.
    """
    a = load_source("polymon_tg", normalize=normalize)
    b = load_source("polymon_tg_raw", normalize=normalize)
    merged = merge_tables([a, b], columns=["Tg"])
    report = {
        "polymon_tg": len(a),
        "polymon_tg_raw": len(b),
        "in_both": len(set(a.smiles) & set(b.smiles)),
        "remaining": len(merged),
    }
    return merged, report


def merge_tables(tables: Sequence[PolymerTable], *, columns: Sequence[str]) -> PolymerTable:
    """Merge tables by canonical repeat unit; each column is the mean over the tables.

    Examples
    --------
    >>> t = load_experimental_tc()
    >>> len(merge_tables([t, t], columns=["thermal_conductivity"])) == len(t)
    True
    """
    keys = [s for t in tables for s in t.smiles]
    raw = {c: np.concatenate([t.column(c) for t in tables]) for c in columns}
    uniq, values, _, _ = _merge_rows(keys, raw)
    counts = np.zeros(len(uniq), dtype=int)
    index = {s: i for i, s in enumerate(uniq)}
    for t in tables:
        for s, c in zip(t.smiles, t.counts):
            counts[index[s]] += int(c)
    return PolymerTable(
        smiles=uniq,
        values=values,
        units={c: tables[0].units[c] for c in columns},
        source="+".join(t.source for t in tables),
        license="; ".join(dict.fromkeys(t.license for t in tables)),
        citation="; ".join(dict.fromkeys(t.citation for t in tables)),
        n_raw=sum(t.n_raw for t in tables),
        n_merged=len(keys) - len(uniq),
        counts=counts,
        bad_rows=BadRows(count=sum(t.bad_rows.count for t in tables)),
    )


# --- leakage guard ----------------------------------------------------------------------

#: PI1070 columns that are the target (thermal conductivity) or are computed from it.
_PI1070_FORBIDDEN_PREFIXES = ("thermal_conductivity", "thermal_diffusivity", "TC_")
_PI1070_METADATA = ("temp", "press", "DP", "n_mol", "n_atom_mean", "Mn", "polymer_class")
_STAT_SUFFIXES = ("_min", "_max", "_std", "_count")


def pi1070_source_columns(columns: Sequence[str] | None = None) -> tuple[str, ...]:
    """PI1070 columns allowed as source tasks for transfer to thermal conductivity.

    Never includes ``thermal_conductivity``, its ``TC_*`` decomposition, or
    ``thermal_diffusivity`` (= λ/(ρ Cp)), nor their statistics columns. Also drops
    simulation metadata and ``_min/_max/_std/_count`` statistics.

    Parameters
    ----------
    columns : sequence of str, optional
        Candidate names (default: the property columns of the registered source).

    Examples
    --------
    >>> cols = pi1070_source_columns()
    >>> "density" in cols, "thermal_conductivity" in cols, "TC_bond" in cols
    (True, False, False)
    >>> pi1070_source_columns(["Cp", "TC_pair_std", "thermal_diffusivity", "Rg_std"])
    ('Cp',)
    """
    names = SOURCES["radonpy_pi1070"].columns.values() if columns is None else columns
    return tuple(
        c
        for c in names
        if not c.startswith(_PI1070_FORBIDDEN_PREFIXES)
        and not c.endswith(_STAT_SUFFIXES)
        and c not in _PI1070_METADATA
    )


# --- small molecules --------------------------------------------------------------------


def load_small_molecule_cp(*, temperature: float = 298.15) -> PolymerTable:
    """Ideal-gas heat capacity Cp (J/(mol K)) of small molecules from ``chemicals``.

    Uses the TRC ideal-gas correlations of ``chemicals.heat_capacity.TRC_gas_data`` (keyed by
    CAS number; molecules whose validity range covers ``temperature``) and converts CAS to
    SMILES with ``chemicals.identifiers.search_chemical``. Rows are ordinary molecules (no
    ``*``; featurise them with ``kind="molecule"``), keyed by RDKit canonical SMILES;
    duplicates are merged by the mean.

    Skipped and counted in ``bad_rows``: CAS numbers without a parseable SMILES,
    multi-fragment entries (salts), and implausible correlation values, below the monatomic
    ideal-gas minimum 5/2 R or below R/2 per atom (hydrogens included; at 298 K real
    molecules have at least about 0.65 R per atom, the stiff cycloalkanes being lowest).
    """
    optional_import("chemicals", extra="polymers", purpose="for the small-molecule heat capacities")
    from chemicals.heat_capacity import TRC_gas_data, TRCCp
    from chemicals.identifiers import search_chemical

    keys, cps, examples = [], [], []
    bad = 0
    for i, (cas, row) in enumerate(TRC_gas_data.iterrows()):
        if not row.Tmin <= temperature <= row.Tmax:
            continue
        try:
            smiles = search_chemical(cas).smiles or ""
        except Exception:
            smiles = ""
        cp = TRCCp(temperature, *(float(row[f"a{i}"]) for i in range(8)))
        why = _cp_problem(smiles, cp)
        if why:
            bad += 1
            if len(examples) < _smiles._N_EXAMPLES:
                examples.append((i, f"{cas} {smiles}", why))
            continue
        keys.append(Chem.MolToSmiles(Chem.MolFromSmiles(smiles)))
        cps.append(cp)
    uniq, values, counts, _ = _merge_rows(keys, {"Cp": np.asarray(cps, dtype=float)})
    return PolymerTable(
        smiles=uniq,
        values=values,
        units={"Cp": "J/(mol K)"},
        source="chemicals.TRC_gas_data",
        license="MIT (chemicals); data: TRC ideal-gas Cp correlations",
        citation=(
            "Bell et al., chemicals (CalebBell/chemicals); TRC ideal-gas heat capacity "
            "correlations as tabulated in chemicals.heat_capacity.TRC_gas_data"
        ),
        n_raw=len(keys) + bad,
        n_merged=len(keys) - len(uniq),
        counts=counts,
        bad_rows=BadRows(count=bad, examples=tuple(examples)),
    )


_GAS_CONSTANT = 8.314462618  # J/(mol K)


def _cp_problem(smiles: str, cp: float) -> str:
    """Why a (SMILES, ideal-gas Cp) row is unusable, or ``""``."""
    mol = Chem.MolFromSmiles(smiles) if smiles else None
    if mol is None or mol.GetNumAtoms() == 0:
        return "no parseable SMILES for this CAS number"
    if len(Chem.GetMolFrags(mol)) > 1:
        return "several fragments (a salt or mixture, not one gas molecule)"
    n_atoms = Chem.AddHs(mol).GetNumAtoms()
    floor = _GAS_CONSTANT * max(2.5, 0.5 * n_atoms)
    if not cp >= floor:
        return f"Cp {cp:.1f} J/(mol K) below the plausible floor {floor:.1f} for {n_atoms} atoms"
    return ""
