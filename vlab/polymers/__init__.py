"""Polymer lab: repeat-unit SMILES, public data sets, featurisers, forward models, transfer.

Pure science: plain data in and out (SMILES strings, numpy arrays, frozen dataclasses);
no Dask, no zarr. The inverse-design code lives in :mod:`vlab.polymers.design`.
"""

from __future__ import annotations

from vlab.polymers.datasets import (
    SOURCES,
    PolymerTable,
    Source,
    cache_dir,
    fetch,
    load_experimental_tc,
    load_pi1070,
    load_small_molecule_cp,
    load_smiles_list,
    load_source,
    load_tg,
    merge_tables,
    pi1070_source_columns,
)
from vlab.polymers.features import DEFAULT_DESCRIPTORS, MorganCounts, RDKitDescriptors
from vlab.polymers.models import (
    EnsembleRegressor,
    ForestRegressorStd,
    PolymerPropertyModel,
    default_mlp,
    load_model,
    save_model,
)
from vlab.polymers.smiles import (
    BadRows,
    canonical_repeat_unit,
    canonicalize_many,
    is_valid_repeat_unit,
    normalize_repeat_unit,
    oligomer,
    repeat_unit_mol,
)
from vlab.polymers.transfer import (
    PretrainedNet,
    PretrainOptions,
    TgCVResult,
    TransferResult,
    featurize,
    plot_report,
    pretrain,
    protocol_a,
    protocol_b,
    signed_log1p,
    split_by_unit,
    tg_cv,
)

__all__ = [
    "DEFAULT_DESCRIPTORS",
    "SOURCES",
    "BadRows",
    "EnsembleRegressor",
    "ForestRegressorStd",
    "MorganCounts",
    "PolymerPropertyModel",
    "PolymerTable",
    "PretrainOptions",
    "PretrainedNet",
    "RDKitDescriptors",
    "Source",
    "TgCVResult",
    "TransferResult",
    "cache_dir",
    "canonical_repeat_unit",
    "canonicalize_many",
    "default_mlp",
    "featurize",
    "fetch",
    "is_valid_repeat_unit",
    "load_experimental_tc",
    "load_model",
    "load_pi1070",
    "load_small_molecule_cp",
    "load_smiles_list",
    "load_source",
    "load_tg",
    "merge_tables",
    "normalize_repeat_unit",
    "oligomer",
    "pi1070_source_columns",
    "plot_report",
    "pretrain",
    "protocol_a",
    "protocol_b",
    "repeat_unit_mol",
    "save_model",
    "signed_log1p",
    "split_by_unit",
    "tg_cv",
]
