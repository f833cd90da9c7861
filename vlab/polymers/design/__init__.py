"""iQSPR inverse design of polymer repeat units.

A chemical language model (:class:`NGramModel`, the prior) proposes repeat units, forward
models (any ``predictor(smiles) -> {property: (mean, std)}``) score the probability that
their properties fall in a :class:`Target` box (the likelihood), and a sequential Monte Carlo
sampler (:func:`run_smc`) anneals from the prior towards the posterior. :mod:`.library`
helpers report novelty, similarity to the training set and draw the best candidates;
:mod:`.plausibility` flags strained or hard-to-make candidates (SA score, ring-strain rules);
:mod:`.ranking` moves a target's bounds into the box (:func:`shifted_target`, to aim past
them) and ranks candidates by other rules than the likelihood.

Pure science: no Dask, no zarr. The ``polymer-design`` campaign builds on this API.
"""

from vlab.polymers.design.forward import (
    MorganRidgeModels,
    TanimotoGPModels,
    fit_design_models,
    tanimoto_matrix,
)
from vlab.polymers.design.language_model import FORMAT_VERSION, NGramModel, fitted_language_model
from vlab.polymers.design.library import (
    draw_grid,
    mean_pairwise_tanimoto,
    nearest_neighbours,
    novel_mask,
)
from vlab.polymers.design.objectives import (
    PROPERTY_SYMBOLS,
    PROPERTY_UNITS,
    Target,
    TargetBox,
    log_probability_in_box,
    parse_target,
)
from vlab.polymers.design.plausibility import (
    MAX_SA_SCORE,
    STRAIN_FLAGS,
    Plausibility,
    assess,
    sa_score,
    strain_flags,
)
from vlab.polymers.design.ranking import rank_library, ranking_scores, shifted_target
from vlab.polymers.design.smc import (
    MIN_STEPS,
    PROPOSALS_PER_CANDIDATE,
    DesignResult,
    DomainTerm,
    SMCStats,
    conditional_ess,
    merge_results,
    run_smc,
    size_run,
)
from vlab.polymers.design.sources import DESIGN_PROPERTIES, LM_SOURCES, training_smiles
from vlab.polymers.design.tokens import normalize_end_markers, tokenize

__all__ = [
    "DESIGN_PROPERTIES",
    "FORMAT_VERSION",
    "LM_SOURCES",
    "MAX_SA_SCORE",
    "MIN_STEPS",
    "PROPERTY_SYMBOLS",
    "PROPERTY_UNITS",
    "PROPOSALS_PER_CANDIDATE",
    "STRAIN_FLAGS",
    "DesignResult",
    "DomainTerm",
    "MorganRidgeModels",
    "NGramModel",
    "Plausibility",
    "SMCStats",
    "TanimotoGPModels",
    "Target",
    "TargetBox",
    "assess",
    "conditional_ess",
    "draw_grid",
    "fit_design_models",
    "fitted_language_model",
    "log_probability_in_box",
    "mean_pairwise_tanimoto",
    "merge_results",
    "nearest_neighbours",
    "normalize_end_markers",
    "novel_mask",
    "parse_target",
    "rank_library",
    "ranking_scores",
    "run_smc",
    "sa_score",
    "shifted_target",
    "size_run",
    "strain_flags",
    "tanimoto_matrix",
    "tokenize",
    "training_smiles",
]
