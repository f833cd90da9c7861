"""Campaign kind of the polymer lab: ``polymer-predict`` (screen repeat units in batches).

Adapter only: the model is loaded (or trained on the embedded experimental table) once per
worker process by ``setup`` and applied to each chunk's repeat units in one batch. ``setup``
returns ``{"model": ..., "card": ModelCard}``: the card names the property, estimator and
training data and holds the model's measured leave-one-out skill (for a saved model: the card
saved with it, if any), and decides the stored ``interval`` (the half-width to print after
``±``: calibrated std, or the spread of the training data for a model without skill).

Parameters (``params:`` of the spec)
    ``model``: the name of a registered model (``vlab polymers train``,
    :func:`vlab.polymers.register_model`; resolved to its file, whose content is part of the
    items' identity), the path of a model saved by :func:`vlab.polymers.save_model`
    (``.npz``; the ``.json`` of an older two-file model also works), or
    ``builtin:experimental-tc`` (thermal conductivity: the learner selected by the nested
    comparison on the embedded measured table, fitted at setup, with conformal 68 %/95 %
    intervals; :func:`vlab.polymers.experimental_tc_model`). ``property``/``units``: name and
    units of the prediction; by default the model's own (its saved card's), and a spec that
    names another property or unit than the model's is refused. ``morphology``:
    ``amorphous`` (default) or ``semicrystalline``, the sample morphology the built-in model
    assumes (refused with any other model).
Items: ``{"smiles": "*CC(*)c1ccccc1", ...}`` from a CSV/YAML file, a catalog store with a
``smiles`` variable, or the generator ``dataset`` (``params: {source: hightcond_initial_smiles}``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from vlab.campaign.kinds.base import Item, Kind, KindParams, parse_params, register_kind, short_repr
from vlab.catalog.schema import Variable
from vlab.errors import InputError, InvalidSMILESError, SpecError, did_you_mean

# vlab.polymers.BUILTIN_TC_MODEL, spelt out: the kinds load without rdkit and scikit-learn
_BUILTIN = "builtin:experimental-tc"


@dataclass(frozen=True, kw_only=True)
class PredictParams(KindParams):
    """Parameters of ``polymer-predict``."""

    #: ``builtin:experimental-tc``, a registered model's name, or the path of a model saved
    #: by :func:`vlab.polymers.save_model`.
    model: str = _BUILTIN
    #: Name of the predicted property; None: the model's own (from the card saved with it;
    #: ``thermal_conductivity`` for the built-in model, ``prediction`` without a card).
    property: str | None = None
    #: Units of the prediction; None: the model's own (``W m-1 K-1`` for the built-in model,
    #: ``1`` without a card).
    units: str | None = None
    #: Sample morphology assumed by the built-in model: ``amorphous`` or ``semicrystalline``;
    #: None: ``amorphous``. Refused with any other model (which has no such input).
    morphology: str | None = None


def _params(params: Mapping[str, Any]) -> PredictParams:
    checked = parse_params(PredictParams, params, kind="polymer-predict")
    model = checked.model
    if model != _BUILTIN:
        from vlab.polymers import registered_models, resolve_model

        try:
            checked = replace(checked, model=str(resolve_model(model)))
        except InputError:
            names = ", ".join(registered_models()) or "none"
            raise SpecError(
                f"polymer-predict: 'model' must be {_BUILTIN!r}, a registered model's name "
                f"(registered: {names}) or the path of a saved model file. Got "
                f"{short_repr(model)} (no such name or file)."
                + did_you_mean(model, registered_models())
            ) from None
    if checked.morphology is not None and checked.model != _BUILTIN:
        raise SpecError(
            f"polymer-predict: 'morphology' is an input of the built-in model "
            f"({_BUILTIN}) only; the model {short_repr(Path(model).name)} has none. Leave "
            "'morphology' out, or train a model on measured values of one morphology."
        )
    checked = replace(checked, morphology=checked.morphology or "amorphous")
    if checked.morphology not in ("amorphous", "semicrystalline"):
        raise SpecError(
            "polymer-predict: 'morphology' must be 'amorphous' or 'semicrystalline'. Got "
            f"{short_repr(checked.morphology)}."
        )
    own = _model_property(checked.model)
    if own is not None:
        for key, given, known in (
            ("property", checked.property, own[0]),
            ("units", checked.units, own[1]),
        ):
            if given is not None and not _same(given, known):
                raise SpecError(
                    f"polymer-predict: the model predicts {own[0]} in {own[1]}, but {key!r} "
                    f"says {short_repr(given)}. Leave {key!r} out (the model's own is used) "
                    "or give a model of that property."
                )
    property_, units = own if own is not None else ("prediction", "1")
    return replace(
        checked,
        property=checked.property or property_,
        units=checked.units or units,
    )


#: Spellings of one property or unit (lower case, no spaces or underscores).
_SAME = (
    {"thermalconductivity", "thermalconductivityλ", "λ", "tc"},
    {"wm-1k-1", "w/(mk)", "w/mk", "w/(m·k)", "wm^-1k^-1"},
)


def _same(a: str, b: str) -> bool:
    """Whether two names of a property (or unit) are spellings of one."""
    a, b = ("".join(str(t).lower().replace("_", " ").split()) for t in (a, b))
    return a == b or any(a in group and b in group for group in _SAME)


def _model_property(model: str) -> tuple[str, str] | None:
    """(property, units) of a model: the built-in one's, or its saved card's (None: none)."""
    if model == _BUILTIN:
        return "thermal_conductivity", "W m-1 K-1"
    from vlab.polymers import load_model_card

    try:
        card = load_model_card(model)
    except (InputError, OSError, ValueError, KeyError):
        return None  # refused with a clear message when the model is loaded
    return None if card is None else (card.property, card.units)


def _identity(params: Mapping[str, Any]) -> dict[str, Any]:
    from vlab._utils import content_hash

    model = params["model"]
    if model == _BUILTIN:  # its table, procedure and pretraining data, by their key
        from vlab.polymers.transfer.measured import measured_settings_key

        digest = f"{model}@{measured_settings_key()}"
    else:
        digest = content_hash(Path(model).read_bytes().hex())
    return {
        "id": "polymer-predict",
        "version": "3",
        "model": digest,
        "property": params["property"],
        "morphology": params["morphology"] if model == _BUILTIN else None,
    }


def _setup(params: Mapping[str, Any]) -> dict[str, Any]:
    from vlab.polymers import (
        ModelCard,
        describe_estimator,
        experimental_tc_model,
        load_model,
        load_model_card,
    )

    if params["model"] == _BUILTIN:
        model, card = experimental_tc_model(random_state=0, morphology=params["morphology"])
        return {"model": model, "card": card}
    path = Path(params["model"]).expanduser()
    model = load_model(path)
    card = load_model_card(path) or ModelCard(
        property=params["property"],
        symbol=params["property"],
        units=params["units"],
        estimator=describe_estimator(model),
        training=f"data not recorded in {path.name}",
    )
    return {"model": model, "card": card}


def _outputs(params: Mapping[str, Any], items: Sequence[Item]) -> dict[str, Variable]:
    name, units = params["property"], params["units"]
    return {
        "mean": Variable(units=units, long_name=f"predicted {name} (ensemble mean)"),
        "std": Variable(units=units, long_name=f"predictive standard deviation of {name}"),
        "interval": Variable(
            units=units,
            long_name=f"half-width of the reported interval of {name} (68 % conformal, or "
            "calibrated std, or the training spread when the model has no leave-one-out skill)",
        ),
        "interval_95": Variable(
            units=units,
            long_name=f"half-width of the 95 % conformal interval of {name} (NaN: the model "
            "has none)",
        ),
        "canonical_smiles": Variable(dtype="str", long_name="canonical repeat unit"),
    }


def _predict(items: Sequence[Item], params: Mapping[str, Any], ctx: Mapping[str, Any]) -> list:
    from vlab.polymers import canonical_repeat_unit

    results: list = [None] * len(items)
    good, canon = [], []
    for i, item in enumerate(items):
        try:
            canon.append(canonical_repeat_unit(str(item["smiles"])))
            good.append(i)
        except InvalidSMILESError as err:
            results[i] = err
    if good:
        mean, std = ctx["model"].predict(canon, return_std=True)
        interval = ctx["card"].interval(std)
        wide = ctx["card"].interval_95(std)
        wide = np.full(len(canon), np.nan) if wide is None else wide
        for row, i in enumerate(good):
            if not np.isfinite(mean[row]):
                results[i] = InputError(
                    f"The descriptors of {canon[row]!r} are not all finite; the model cannot "
                    "predict it."
                )
                continue
            results[i] = {
                "mean": float(mean[row]),
                "std": float(std[row]),
                "interval": float(interval[row]),
                "interval_95": float(wide[row]),
                "canonical_smiles": canon[row],
            }
    return results


def _dataset(gen: Mapping[str, Any], n: int, rng: np.random.Generator) -> list[Item]:
    from vlab.polymers import load_smiles_list

    source = gen.get("source", "hightcond_initial_smiles")
    if not isinstance(source, str):
        raise SpecError(
            "polymer-predict: inputs.params.source must be the name of a SMILES list (e.g. "
            f"hightcond_initial_smiles). Got {short_repr(source)}."
        )
    smiles = list(load_smiles_list(source))
    return [{"smiles": s} for s in smiles[:n]]


register_kind(
    Kind(
        name="polymer-predict",
        version="3",
        description="predict a polymer property (mean, std) of repeat units in batches",
        check_params=_params,
        outputs=_outputs,
        evaluate_batch=_predict,
        setup=_setup,
        identity=_identity,
        generators={"dataset": _dataset},
        generator_params={"dataset": ("source",)},
        item_fields=("smiles",),
        input_attrs={"smiles": ("1", "repeat-unit SMILES with two * ends")},
    )
)
