"""Small-data transfer learning to thermal conductivity (Protocols A and B, Tg model).

A multi-task perceptron is pretrained on *source* tasks: PI1070 MD properties other than
thermal conductivity (:func:`~vlab.polymers.datasets.pi1070_source_columns`), optionally
together with other data (PoLyInfo Tg of polymers, ideal-gas Cp of small molecules
featurised with ``kind="molecule"``) whose rows miss the PI1070 columns (masked loss;
:func:`stack_tasks` builds such a block-diagonal task matrix). From a few target points
the learners below are compared on the same draws and the same input features ``X``:

``outputs`` (a)
    ridge regression on the pretrained network's predicted source properties (frozen);
``outputs+x`` (a)
    ridge on the input features and the predicted properties, the two blocks weighted by
    leave-one-out error on the training points;
``frozen`` (a)
    ridge on the last hidden layer of the pretrained network (ReLU activations used as they
    are: standardising sparse units that are almost always zero in 28 points blows them up);
``finetune`` (b)
    the pretrained network with a new output (initialised by ridge on its hidden layer),
    trained on the target points with an L2 pull towards the pretrained weights;
``scratch`` (c)
    the same ridge learner on the input features alone (its penalty chosen by leave-one-out
    cross-validation over a wide grid), and ``scratch_mlp``: the network of (b) from a random
    initialisation; ``mean`` predicts the training mean.

No leakage: the caller passes only allowed source columns; Protocol A splits rows (unique
canonical repeat units) into a source part, whose source properties alone are used for
pretraining, and a target pool, from which the training draws come; the test points of a
draw are the rest of the pool.

Modules: :mod:`~vlab.polymers.transfer.features` (input features, source/pool split),
:mod:`~vlab.polymers.transfer.pretrain` (the multi-task network),
:mod:`~vlab.polymers.transfer.protocols` (protocols A and B, task stacking, leakage checks,
Tg cross-validation), :mod:`~vlab.polymers.transfer.results` and
:mod:`~vlab.polymers.transfer.plots`, :mod:`~vlab.polymers.transfer.sources` (which source
tasks pretraining uses); the learners themselves are private.
:mod:`~vlab.polymers.transfer.sim2real` (:class:`Sim2RealRegressor`, a model of *measured*
values on a network pretrained on simulations) and
:mod:`~vlab.polymers.transfer.sim2real_eval` (nested comparison of its variants, paired
ratio intervals, power-law fits of error versus pretraining size);
:mod:`~vlab.polymers.transfer.measured` (the built-in model of measured thermal
conductivity that the nested comparison selects, with conformal intervals).
"""

from vlab.polymers.transfer.features import featurize, signed_log1p, split_by_unit
from vlab.polymers.transfer.measured import (
    MEASURED_PROCEDURE,
    SHIPPED_FILE,
    MeasuredFit,
    MeasuredTCModel,
    build_measured_tc,
    ship_measured_tc,
)
from vlab.polymers.transfer.plots import plot_report
from vlab.polymers.transfer.pretrain import PretrainedNet, PretrainOptions, pretrain
from vlab.polymers.transfer.protocols import (
    TgCVResult,
    capped_unit,
    protocol_a,
    protocol_b,
    source_overlap,
    stack_tasks,
    tg_cv,
)
from vlab.polymers.transfer.results import TransferResult
from vlab.polymers.transfer.sim2real import (
    MORPHOLOGIES,
    SIM2REAL_LEARNERS,
    Sim2RealRegressor,
    morphology_flags,
)
from vlab.polymers.transfer.sim2real_eval import (
    INNER_REPEATS,
    SIM2REAL_VARIANTS,
    Sim2RealComparison,
    nested_compare,
    outer_splits,
    paired_ratio_interval,
    power_law_fit,
    select_variant,
)
from vlab.polymers.transfer.sources import TRANSFER_SOURCE_TASKS, TRANSFER_SOURCES

__all__ = [
    "INNER_REPEATS",
    "MEASURED_PROCEDURE",
    "MORPHOLOGIES",
    "SHIPPED_FILE",
    "SIM2REAL_LEARNERS",
    "SIM2REAL_VARIANTS",
    "TRANSFER_SOURCES",
    "TRANSFER_SOURCE_TASKS",
    "MeasuredFit",
    "MeasuredTCModel",
    "PretrainOptions",
    "PretrainedNet",
    "Sim2RealComparison",
    "Sim2RealRegressor",
    "TgCVResult",
    "TransferResult",
    "build_measured_tc",
    "capped_unit",
    "featurize",
    "morphology_flags",
    "nested_compare",
    "outer_splits",
    "paired_ratio_interval",
    "plot_report",
    "power_law_fit",
    "pretrain",
    "protocol_a",
    "protocol_b",
    "select_variant",
    "ship_measured_tc",
    "signed_log1p",
    "source_overlap",
    "split_by_unit",
    "stack_tasks",
    "tg_cv",
]
