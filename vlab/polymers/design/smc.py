"""iQSPR inverse design: sequential Monte Carlo over repeat units (Ikebata et al. 2017).

The target distribution at step ``t`` is ``pi_t(S) ~ p(S) L(S)**beta_t``: ``p`` the chemical
language model (:class:`~vlab.polymers.design.NGramModel`, grammar-constrained, restricted
to valid repeat units), ``L(S)`` the probability that the predictor's normal predictive
distribution of every target property falls in the target box
(:meth:`~vlab.polymers.design.Target.log_likelihood`, optionally times an
applicability-domain factor), and ``beta_t`` annealed from 0 to 1 over the first
``anneal_fraction`` of the steps: adaptively by default (each increment chosen so that the
conditional effective sample size stays at ``cess_target``, which makes the population
resample every few steps), or geometrically from ``beta_start``.

One step of the sampler (a standard SMC sampler, Del Moral, Doucet & Jasra 2006):

1. **Reweight** ``log w += (beta_t - beta_{t-1}) * log L``;
2. **Resample** (systematic) only if the effective sample size ``1 / sum(w**2)`` drops
   below ``ess_threshold * n_particles``; XenonPy resamples at every step, which throws
   diversity away;
3. **Move** every particle with a Metropolis-Hastings step: optionally rewrite its SMILES
   in a random atom order (a heuristic move that keeps the molecule, as iQSPR does), delete
   a random tail of its token sequence (cut uniform over the ``n - 1`` inner positions) and
   regrow it from the language model until a valid repeat unit comes out (exactly two
   ``*``, RDKit-sanitisable; at most ``max_attempts`` tries with the same cut). Because the
   tail is drawn from the prior itself, the prior cancels from the acceptance ratio, which
   is ``min(1, (L'/L)**beta_t * (n - 1) / (n' - 1))``. When every attempt fails the particle
   stays, and the failure is counted (XenonPy keeps stale molecules silently).

Every distinct valid proposal is recorded with its predictions and log-likelihood, whether it
was accepted or not. ``likelihood=False`` runs the same loop with ``L = 1`` (prior only), the
baseline against which the hit rate is compared. Chains are independent given their ``rng``:
run several with different seeds and merge them with :func:`merge_results`.

Examples
--------
>>> from vlab.polymers.design import NGramModel, parse_target
>>> train = ["*CC(*)c1ccccc1", "*CC(*)C(=O)OC", "*CC(*)C#N", "*CCO*", "*c1ccc(O*)cc1"]
>>> lm = NGramModel(order=6, n_augment=3).fit(train)
>>> def predictor(smiles):  # a toy rule: density grows with the number of heavy atoms
...     rho = np.array([0.8 + 0.02 * sum(c.isalpha() for c in s) for s in smiles])
...     return {"density": (rho, np.full(len(smiles), 0.05))}
>>> res = run_smc(train, lm, predictor, parse_target("density>=1.0 g/cm^3"),
...               n_particles=10, n_steps=5, rng=np.random.default_rng(0))
>>> res.stats.n_proposals, len(res.smiles) > 0
(50, True)
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from rdkit import Chem
from scipy.special import logsumexp

from vlab.errors import InputError, InvalidSMILESError
from vlab.polymers.design.language_model import NGramModel
from vlab.polymers.design.objectives import Predictions, Target
from vlab.polymers.smiles import canonical_repeat_unit, is_valid_repeat_unit

__all__ = [
    "MIN_STEPS",
    "PROPOSALS_PER_CANDIDATE",
    "DesignResult",
    "DomainTerm",
    "Predictor",
    "SMCStats",
    "conditional_ess",
    "merge_results",
    "run_smc",
    "size_run",
]

Predictor = Callable[[list[str]], Predictions]
"""``predictor(smiles) -> {property: (mean, std)}``: arrays of ``len(smiles)``, canonical units."""
DomainTerm = Callable[[list[str]], np.ndarray]
"""``log_domain(smiles) -> log-weights <= 0``: an applicability-domain factor of the likelihood."""

_SUMMED = (
    "n_proposals",
    "n_attempts",
    "n_valid_attempts",
    "n_failures",
    "n_accepted",
    "n_predicted",
    "seconds",
    "predict_seconds",
    "cpu_seconds",
)
PROPOSALS_PER_CANDIDATE = 30
"""Proposals a design run makes per library candidate wanted (:func:`size_run`)."""
MIN_STEPS = 20
"""Fewest SMC steps :func:`size_run` chooses: the annealing needs some steps to reach beta = 1."""

_COPIES = 3  # regrowth attempts generated together per particle
_LL_FLOOR = -1e4  # log-likelihoods below this (or -inf / NaN) count as this in the weights


@dataclass(frozen=True, kw_only=True)
class SMCStats:
    """Counters and diagnostics of one (or several merged) SMC runs.

    Attributes
    ----------
    n_particles, n_steps : int
        Population size and number of steps (summed over merged chains for ``n_steps``).
    n_proposals : int
        Proposals made (one per particle and step).
    n_attempts, n_valid_attempts : int
        Tail regrowths tried, and how many gave a valid repeat unit.
    n_failures : int
        Proposals whose attempts all failed (the particle stayed unchanged).
    n_accepted : int
        Metropolis-Hastings acceptances.
    n_predicted : int
        Distinct SMILES sent to the predictor.
    ess : numpy.ndarray
        Effective sample size after reweighting, per step.
    betas : numpy.ndarray
        Annealing exponent per step (chosen adaptively or fixed, see :func:`run_smc`).
    resample_steps : tuple of int
        Steps (1-based) at which the population was resampled.
    seconds, predict_seconds : float
        Wall time of the run, and the part spent in the predictor.
    cpu_seconds : float
        CPU time of the process during the run (the fair "per core" measure when other
        processes share the machine).
    """

    n_particles: int
    n_steps: int
    n_proposals: int
    n_attempts: int
    n_valid_attempts: int
    n_failures: int
    n_accepted: int
    n_predicted: int
    ess: np.ndarray
    betas: np.ndarray
    resample_steps: tuple[int, ...]
    seconds: float
    predict_seconds: float
    cpu_seconds: float

    @property
    def valid_fraction(self) -> float:
        """Fraction of regrowth attempts that gave a valid repeat unit."""
        return self.n_valid_attempts / max(self.n_attempts, 1)

    @property
    def failure_rate(self) -> float:
        """Fraction of proposals that kept the old particle because every attempt failed."""
        return self.n_failures / max(self.n_proposals, 1)

    @property
    def acceptance_rate(self) -> float:
        """Fraction of proposals accepted by the Metropolis-Hastings test."""
        return self.n_accepted / max(self.n_proposals, 1)

    @property
    def proposals_per_second(self) -> float:
        """Proposals per second of wall time (validation and prediction included)."""
        return self.n_proposals / max(self.seconds, 1e-12)

    @property
    def proposals_per_cpu_second(self) -> float:
        """Proposals per CPU second (validation and prediction included)."""
        return self.n_proposals / max(self.cpu_seconds, 1e-12)

    def as_dict(self) -> dict[str, Any]:
        """Plain-data summary (lists and numbers) for JSON reports."""
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out.update(ess=self.ess.tolist(), betas=self.betas.tolist())
        out["resample_steps"] = list(self.resample_steps)
        for name in (
            "valid_fraction",
            "failure_rate",
            "acceptance_rate",
            "proposals_per_second",
            "proposals_per_cpu_second",
        ):
            out[name] = getattr(self, name)
        return out


@dataclass(frozen=True, kw_only=True)
class DesignResult:
    """Distinct valid candidates found by :func:`run_smc`, with predictions.

    Attributes
    ----------
    target : Target
        The design target.
    likelihood : bool
        False for a prior-only run.
    smiles : tuple of str
        Canonical repeat units, in the order found.
    mean, std : dict of str to numpy.ndarray
        Predictive mean and standard deviation of every predicted property (canonical units).
    log_likelihood : numpy.ndarray
        ``log P(properties in target box)`` of each candidate.
    step_found : numpy.ndarray
        Step (1-based) at which each candidate was first proposed.
    particles : tuple of str
        The final population (canonical SMILES, with repeats).
    stats : SMCStats
        Counters and diagnostics.
    """

    target: Target
    likelihood: bool
    smiles: tuple[str, ...]
    mean: Mapping[str, np.ndarray]
    std: Mapping[str, np.ndarray]
    log_likelihood: np.ndarray
    step_found: np.ndarray
    particles: tuple[str, ...]
    stats: SMCStats = field(repr=False)

    def __len__(self) -> int:
        return len(self.smiles)

    def hits(self) -> np.ndarray:
        """True where every predicted mean lies inside the target box."""
        return self.target.contains({p: (self.mean[p], self.std[p]) for p in self.mean})

    @property
    def hit_rate(self) -> float:
        """Fraction of candidates whose predicted means all lie in the target box."""
        return float(self.hits().mean()) if len(self) else 0.0

    def top(self, k: int, *, exclude: Iterable[str] = ()) -> list[int]:
        """Indices of the ``k`` candidates of highest likelihood, skipping ``exclude``."""
        skip = set(exclude)
        order = np.argsort(-self.log_likelihood, kind="stable")
        return [int(i) for i in order if self.smiles[i] not in skip][:k]

    def to_records(self) -> list[dict[str, Any]]:
        """One plain dict per candidate (SMILES, predictions, likelihood, step)."""
        return [
            {
                "smiles": s,
                **{f"{p}_mean": float(self.mean[p][i]) for p in self.mean},
                **{f"{p}_std": float(self.std[p][i]) for p in self.std},
                "log_likelihood": float(self.log_likelihood[i]),
                "step_found": int(self.step_found[i]),
            }
            for i, s in enumerate(self.smiles)
        ]


class _Evaluator:
    """Predictions, log-likelihoods and validation, cached per SMILES."""

    def __init__(
        self, predictor: Predictor, target: Target, log_domain: DomainTerm | None = None
    ) -> None:
        self.predictor, self.target, self.log_domain = predictor, target, log_domain
        self.row: dict[str, int] = {}
        self.mean: dict[str, list[float]] = {}
        self.std: dict[str, list[float]] = {}
        self.ll: list[float] = []
        self.valid: dict[str, str | None] = {}
        self.seconds = 0.0

    def canonical(self, smiles: str) -> str | None:
        """Canonical repeat unit of ``smiles``, ``None`` if invalid (cached)."""
        if smiles not in self.valid:
            try:
                canon = canonical_repeat_unit(smiles)
            except InvalidSMILESError:
                canon = None
            # RDKit occasionally writes a canonical SMILES it cannot read back: reject those
            self.valid[smiles] = canon if canon and is_valid_repeat_unit(canon) else None
        return self.valid[smiles]

    def log_likelihood(self, smiles: Sequence[str]) -> np.ndarray:
        new = list(dict.fromkeys(s for s in smiles if s not in self.row))
        if new:
            self._predict(new)
        return np.array([self.ll[self.row[s]] for s in smiles], dtype=float)

    def _predict(self, smiles: list[str]) -> None:
        start = time.perf_counter()
        pred = _checked(self.predictor(smiles), len(smiles))
        if not self.row:
            self.target.check_properties(pred)
            self.mean = {p: [] for p in pred}
            self.std = {p: [] for p in pred}
        ll = self.target.log_likelihood(pred)
        if self.log_domain is not None:
            ll = ll + _checked_domain(self.log_domain(smiles), len(smiles))
        self.seconds += time.perf_counter() - start
        for p in self.mean:
            self.mean[p].extend(np.asarray(pred[p][0], dtype=float).tolist())
            self.std[p].extend(np.asarray(pred[p][1], dtype=float).tolist())
        self.row.update((s, len(self.ll) + i) for i, s in enumerate(smiles))
        self.ll.extend(ll.tolist())


def _checked(pred: Any, n: int) -> Predictions:
    ok = isinstance(pred, Mapping) and all(
        isinstance(v, tuple) and len(v) == 2 and all(np.shape(a) == (n,) for a in v)
        for v in pred.values()
    )
    if not ok:
        raise InputError(
            "The predictor must return a mapping {property: (mean, std)} of arrays with one "
            f"value per SMILES ({n} here). Got {type(pred).__name__}."
        )
    return pred


def _checked_domain(term: Any, n: int) -> np.ndarray:
    term = np.asarray(term, dtype=float)
    if term.shape != (n,) or np.any(term > 0):
        raise InputError(
            "log_domain must return one log-weight <= 0 per SMILES "
            f"({n} here). Got an array of shape {term.shape}."
        )
    return term


@dataclass
class _Particles:
    tokens: list[np.ndarray]
    smiles: list[str]
    ll: np.ndarray

    def take(self, idx: np.ndarray) -> _Particles:
        return _Particles(
            [self.tokens[i] for i in idx], [self.smiles[i] for i in idx], self.ll[idx]
        )


@dataclass
class _Counters:
    attempts: int = 0
    valid: int = 0
    failures: int = 0
    accepted: int = 0
    found: dict[str, int] = field(default_factory=dict)


def run_smc(
    seeds: Sequence[str],
    language_model: NGramModel,
    predictor: Predictor,
    target: Target,
    *,
    rng: np.random.Generator | int,
    n_particles: int = 100,
    n_steps: int = 50,
    likelihood: bool = True,
    beta_start: float = 0.01,
    anneal_fraction: float = 0.5,
    ess_threshold: float = 0.5,
    max_attempts: int = 10,
    reorder_probability: float = 0.5,
    max_extra_tokens: int = 40,
    schedule: str = "adaptive",
    cess_target: float = 0.9,
    log_domain: DomainTerm | None = None,
    callback: Callable[[int, int], None] | None = None,
) -> DesignResult:
    """Design repeat units whose predicted properties fall in ``target`` (iQSPR SMC).

    Parameters
    ----------
    seeds : sequence of str
        Starting repeat units; invalid ones and those with tokens unknown to the language
        model are skipped. Particles are drawn from them uniformly.
    language_model : NGramModel
        Fitted prior.
    predictor : callable
        ``predictor(list_of_smiles) -> {property: (mean, std)}`` (numpy arrays, canonical
        units of :data:`~vlab.polymers.design.PROPERTY_UNITS`); called once per step with the
        new distinct SMILES. It must provide every property of ``target``.
    target : Target
        Box in property space.
    rng : numpy.random.Generator or int
        Source of randomness (an int seeds a new generator); independent chains need
        different seeds.
    n_particles : int, default 100
        Population size (Wu et al. used 100).
    n_steps : int, default 50
        Number of SMC steps.
    likelihood : bool, default True
        False: sample the prior only (``L = 1``), the baseline for the hit rate.
    beta_start : float, default 0.01
        First annealing exponent of the geometric schedule.
    anneal_fraction : float, default 0.5
        Fraction of the steps over which ``beta`` is annealed; the rest run at ``beta = 1``.
    ess_threshold : float, default 0.5
        Resample when the effective sample size drops below this fraction of ``n_particles``.
    max_attempts : int, default 10
        Regrowth attempts per proposal before the particle is kept unchanged.
    reorder_probability : float, default 0.5
        Probability of rewriting a particle's SMILES in a random atom order before cutting.
    max_extra_tokens : int, default 40
        A regrown sequence may be at most this many tokens longer than the old one.
    schedule : {"adaptive", "geometric"}, default "adaptive"
        ``"adaptive"``: each increment of ``beta`` is chosen by bisection so that the
        conditional effective sample size of the incremental weights (Zhou, Johansen & Aston
        2016) is ``cess_target * n_particles``; ``beta`` is set to 1 at the last annealing
        step if it has not reached 1 by then. ``"geometric"``: ``beta`` grows geometrically
        from ``beta_start`` to 1 over the annealing steps.
    cess_target : float, default 0.9
        Conditional ESS fraction kept per step by the adaptive schedule, in (0, 1).
    log_domain : callable, optional
        ``log_domain(smiles) -> array of log-weights <= 0`` added to each candidate's
        log-likelihood, e.g. an applicability-domain term that penalises repeat units far from
        the forward models' training data
        (:meth:`~vlab.polymers.design.TanimotoGPModels.log_domain`).
    callback : callable, optional
        ``callback(step, n_steps)`` after each step (1-based), e.g. to draw progress.

    Returns
    -------
    DesignResult

    Raises
    ------
    InputError
        Bad parameters, no usable seed, a target property the predictor does not provide, or
        a predictor that does not return ``{property: (mean, std)}`` arrays.
    """
    _check_options(n_particles, n_steps, beta_start, anneal_fraction, ess_threshold, max_attempts)
    _check_moves(reorder_probability, max_extra_tokens)
    _check_schedule(schedule, cess_target)
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    start, cpu_start = time.perf_counter(), time.process_time()
    ev = _Evaluator(predictor, target, log_domain)
    tokens, smiles = _usable_seeds(seeds, language_model, ev)
    pick = rng.integers(len(smiles), size=n_particles)
    parts = _Particles([tokens[i] for i in pick], [smiles[i] for i in pick], np.zeros(n_particles))
    parts.ll = _effective(ev.log_likelihood(parts.smiles), likelihood)
    fixed = _schedule(n_steps, beta_start, anneal_fraction)
    n_anneal = max(1, round(anneal_fraction * n_steps))
    log_w, ess, betas, resampled, counters = np.zeros(n_particles), [], [], [], _Counters()
    beta_prev = 0.0
    for step in range(1, n_steps + 1):
        if schedule == "geometric":
            beta = float(fixed[step - 1])
        elif step >= n_anneal:
            beta = 1.0
        else:
            beta = _next_beta(log_w, parts.ll, beta_prev, cess_target)
        log_w += (beta - beta_prev) * parts.ll
        ess.append(_ess(log_w))
        betas.append(beta)
        if ess[-1] < ess_threshold * n_particles:
            parts = parts.take(_systematic(log_w, rng))
            log_w = np.zeros(n_particles)
            resampled.append(step)
        opts = (max_attempts, reorder_probability, max_extra_tokens)
        parts = _move(parts, beta, step, language_model, ev, rng, counters, likelihood, opts)
        beta_prev = beta
        if callback is not None:
            callback(step, n_steps)
    betas = np.array(betas)
    stats = SMCStats(
        n_particles=n_particles,
        n_steps=n_steps,
        n_proposals=n_particles * n_steps,
        n_attempts=counters.attempts,
        n_valid_attempts=counters.valid,
        n_failures=counters.failures,
        n_accepted=counters.accepted,
        n_predicted=len(ev.row),
        ess=np.array(ess),
        betas=betas,
        resample_steps=tuple(resampled),
        seconds=time.perf_counter() - start,
        predict_seconds=ev.seconds,
        cpu_seconds=time.process_time() - cpu_start,
    )
    return _result(target, likelihood, ev, counters.found, parts, stats)


def _check_options(
    n_particles: int,
    n_steps: int,
    beta_start: float,
    anneal_fraction: float,
    ess_threshold: float,
    max_attempts: int,
) -> None:
    checks = [
        ("n_particles", n_particles, "a positive integer", _is_int(n_particles, 1)),
        ("n_steps", n_steps, "a positive integer", _is_int(n_steps, 1)),
        ("max_attempts", max_attempts, "a positive integer", _is_int(max_attempts, 1)),
        ("beta_start", beta_start, "a number in (0, 1]", 0 < _num(beta_start) <= 1),
        ("anneal_fraction", anneal_fraction, "a number in (0, 1]", 0 < _num(anneal_fraction) <= 1),
        ("ess_threshold", ess_threshold, "a number in [0, 1]", 0 <= _num(ess_threshold) <= 1),
    ]
    for name, value, allowed, ok in checks:
        if not ok:
            raise InputError(f"The {name!r} parameter of run_smc must be {allowed}. Got {value!r}.")


def _check_moves(reorder_probability: float, max_extra_tokens: int) -> None:
    if not 0 <= _num(reorder_probability) <= 1:
        raise InputError(
            "The 'reorder_probability' parameter of run_smc must be a number in [0, 1]. "
            f"Got {reorder_probability!r}."
        )
    if not _is_int(max_extra_tokens, 1):
        raise InputError(
            "The 'max_extra_tokens' parameter of run_smc must be a positive integer. "
            f"Got {max_extra_tokens!r}."
        )


def _is_int(value: Any, low: int) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool) and value >= low


def _num(value: Any) -> float:
    return float(value) if isinstance(value, int | float | np.number) else math.nan


def _usable_seeds(
    seeds: Sequence[str], lm: NGramModel, ev: _Evaluator
) -> tuple[list[np.ndarray], list[str]]:
    tokens, smiles = [], []
    for seed in dict.fromkeys(seeds):
        canon = ev.canonical(seed) if isinstance(seed, str) else None
        if canon is None:
            continue
        try:
            tokens.append(lm.encode(canon))
        except InputError:
            continue
        smiles.append(canon)
    if not smiles:
        raise InputError(
            f"run_smc needs at least one seed that is a valid repeat unit made of tokens the "
            f"language model knows. Got none among {len(seeds)} seeds (e.g. {list(seeds)[:3]!r})."
        )
    return tokens, smiles


def _effective(ll: np.ndarray, likelihood: bool) -> np.ndarray:
    if not likelihood:
        return np.zeros_like(ll)
    return np.maximum(np.nan_to_num(ll, nan=_LL_FLOOR, neginf=_LL_FLOOR), _LL_FLOOR)


def _check_schedule(schedule: str, cess_target: float) -> None:
    if schedule not in ("adaptive", "geometric"):
        raise InputError(
            "The 'schedule' parameter of run_smc must be 'adaptive' or 'geometric'. "
            f"Got {schedule!r}."
        )
    if not 0 < _num(cess_target) < 1:
        raise InputError(
            "The 'cess_target' parameter of run_smc must be a number in (0, 1). "
            f"Got {cess_target!r}."
        )


def conditional_ess(log_w: np.ndarray, ll: np.ndarray, delta: float) -> float:
    """Conditional ESS fraction of reweighting ``log_w`` by ``delta * ll``, in (0, 1].

    ``(sum W u)**2 / sum W u**2`` with ``W`` the normalised current weights and
    ``u = exp(delta * ll)`` (Zhou, Johansen & Aston 2016).
    """
    log_W = log_w - logsumexp(log_w)
    inc = delta * ll
    return float(np.exp(2 * logsumexp(log_W + inc) - logsumexp(log_W + 2 * inc)))


def _next_beta(log_w: np.ndarray, ll: np.ndarray, beta: float, target: float) -> float:
    """Next exponent: the largest step (by bisection) that keeps the conditional ESS at target."""
    room = 1.0 - beta
    if room <= 0 or conditional_ess(log_w, ll, room) >= target:
        return 1.0
    low, high = 0.0, room
    for _ in range(50):
        mid = 0.5 * (low + high)
        low, high = (mid, high) if conditional_ess(log_w, ll, mid) >= target else (low, mid)
    return beta + low


def _schedule(n_steps: int, beta_start: float, anneal_fraction: float) -> np.ndarray:
    n_anneal = max(1, round(anneal_fraction * n_steps))
    return np.concatenate([np.geomspace(beta_start, 1.0, n_anneal), np.ones(n_steps - n_anneal)])


def _ess(log_w: np.ndarray) -> float:
    return float(np.exp(2 * logsumexp(log_w) - logsumexp(2 * log_w)))


def _systematic(log_w: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Systematic resampling: indices of the particles that survive."""
    w = np.exp(log_w - logsumexp(log_w))
    cum = np.cumsum(w)
    cum[-1] = 1.0
    positions = (rng.random() + np.arange(len(w))) / len(w)
    return np.searchsorted(cum, positions)


def _reorder(parts: _Particles, lm: NGramModel, p: float, rng: np.random.Generator) -> None:
    """Rewrite some particles' SMILES in a random atom order (same molecule)."""
    for i in np.flatnonzero(rng.random(len(parts.smiles)) < p):
        mol = Chem.MolFromSmiles(parts.smiles[i])
        seed = int(rng.integers(1, 2**31 - 1))
        with contextlib.suppress(InputError):  # unknown token: keep the current writing
            parts.tokens[i] = lm.encode(Chem.MolToRandomSmilesVect(mol, 1, randomSeed=seed)[0])


def _regrow(
    parts: _Particles,
    lm: NGramModel,
    ev: _Evaluator,
    rng: np.random.Generator,
    counters: _Counters,
    opts: tuple[int, float, int],
) -> list[tuple[np.ndarray, str] | None]:
    """Delete a random tail of every particle and regrow it until valid (or give up).

    Attempts are generated ``_COPIES`` at a time per particle (one vectorised call) and
    examined in order; the first valid one is used, exactly as with sequential attempts.
    """
    max_attempts, _, extra = opts
    cut = [int(rng.integers(1, len(t))) for t in parts.tokens]
    out: list[tuple[np.ndarray, str] | None] = [None] * len(cut)
    pending, left = list(range(len(cut))), max_attempts
    while pending and left > 0:
        copies = min(_COPIES, left)
        left -= copies
        limit = max(len(parts.tokens[i]) for i in pending) + extra
        prefixes = [parts.tokens[i][: cut[i]] for i in pending for _ in range(copies)]
        grown = lm.generate_ids(prefixes, rng=rng, max_tokens=limit)
        for j, i in enumerate(pending):
            for ids in grown[j * copies : (j + 1) * copies]:
                counters.attempts += 1
                canon = None if ids is None else ev.canonical(lm.decode(ids))
                if canon is not None:
                    out[i] = (ids, canon)
                    break
        pending = [i for i in pending if out[i] is None]
    counters.valid += sum(o is not None for o in out)
    counters.failures += len(pending)
    return out


def _move(
    parts: _Particles,
    beta: float,
    step: int,
    lm: NGramModel,
    ev: _Evaluator,
    rng: np.random.Generator,
    counters: _Counters,
    likelihood: bool,
    opts: tuple[int, float, int],
) -> _Particles:
    """One Metropolis-Hastings move of every particle at exponent ``beta``."""
    _reorder(parts, lm, opts[1], rng)
    proposals = _regrow(parts, lm, ev, rng, counters, opts)
    rows = [i for i, p in enumerate(proposals) if p is not None]
    new_smiles = [proposals[i][1] for i in rows]
    for s in new_smiles:
        counters.found.setdefault(s, step)
    ll_new = _effective(ev.log_likelihood(new_smiles), likelihood)
    n_old = np.array([len(parts.tokens[i]) for i in rows])
    n_new = np.array([len(proposals[i][0]) for i in rows])
    log_alpha = beta * (ll_new - parts.ll[rows]) + np.log((n_old - 1) / np.maximum(n_new - 1, 1))
    accept = np.log(rng.random(len(rows))) < log_alpha
    for j in np.flatnonzero(accept):
        i = rows[j]
        parts.tokens[i], parts.smiles[i] = proposals[i]
        parts.ll[i] = ll_new[j]
    counters.accepted += int(accept.sum())
    return parts


def _result(
    target: Target,
    likelihood: bool,
    ev: _Evaluator,
    found: Mapping[str, int],
    parts: _Particles,
    stats: SMCStats,
) -> DesignResult:
    rows = [ev.row[s] for s in found]
    return DesignResult(
        target=target,
        likelihood=likelihood,
        smiles=tuple(found),
        mean={p: np.array(v)[rows] for p, v in ev.mean.items()},
        std={p: np.array(v)[rows] for p, v in ev.std.items()},
        log_likelihood=np.array(ev.ll)[rows] if rows else np.zeros(0),
        step_found=np.array(list(found.values()), dtype=np.int64),
        particles=tuple(parts.smiles),
        stats=stats,
    )


def size_run(
    n: int, *, n_chains: int = 2, n_particles: int = 100, n_steps: int | None = None
) -> tuple[int, int, int]:
    """Chains, particles and steps of a run that should yield a library of ``n`` candidates.

    Unless ``n_steps`` is given, the run makes :data:`PROPOSALS_PER_CANDIDATE` proposals per
    wanted candidate: ``n_steps = max(MIN_STEPS, ceil(30 n / (n_chains n_particles)))``, so
    that the cost grows with ``n`` (2 chains of 100 particles: 20 steps for ``n = 100``, 150
    for ``n = 1000``). About 80 % of early proposals are new distinct repeat units, so the
    best ``n`` are chosen from several times ``n``.

    Parameters
    ----------
    n : int
        Library size wanted (>= 1).
    n_chains, n_particles : int
        Independent chains and particles per chain (>= 1).
    n_steps : int, optional
        SMC steps per chain; derived from ``n`` when None.

    Returns
    -------
    (n_chains, n_particles, n_steps) : tuple of int

    Raises
    ------
    InputError
        A value that is not a positive integer.

    Examples
    --------
    >>> size_run(100), size_run(1000), size_run(1000, n_chains=4), size_run(50, n_steps=7)
    ((2, 100, 20), (2, 100, 150), (4, 100, 75), (2, 100, 7))
    """
    for name, value in (("n", n), ("n_chains", n_chains), ("n_particles", n_particles)):
        if not _is_int(value, 1):
            raise InputError(
                f"The {name!r} parameter of size_run must be a positive integer. Got {value!r}."
            )
    if n_steps is None:
        n_steps = max(MIN_STEPS, math.ceil(PROPOSALS_PER_CANDIDATE * n / (n_chains * n_particles)))
    elif not _is_int(n_steps, 1):
        raise InputError(
            f"The 'n_steps' parameter of size_run must be a positive integer or None. "
            f"Got {n_steps!r}."
        )
    return n_chains, n_particles, int(n_steps)


def merge_results(results: Sequence[DesignResult]) -> DesignResult:
    """Merge independent chains: distinct candidates (first occurrence kept), summed counters.

    Raises
    ------
    InputError
        If ``results`` is empty or the runs had different targets or likelihood modes.
    """
    if not results or any(
        r.target != results[0].target or r.likelihood != results[0].likelihood for r in results
    ):
        raise InputError(
            "merge_results needs one or more DesignResult of the same target and likelihood "
            f"mode. Got {len(results)} results."
        )
    seen: dict[str, tuple[int, int]] = {}
    for k, r in enumerate(results):
        for i, s in enumerate(r.smiles):
            seen.setdefault(s, (k, i))
    pick = list(seen.values())

    def gather(get: Callable[[DesignResult], np.ndarray]) -> np.ndarray:
        return np.array([get(results[k])[i] for k, i in pick])

    props = list(results[0].mean)
    s0 = [r.stats for r in results]
    stats = SMCStats(
        n_particles=s0[0].n_particles,
        n_steps=sum(s.n_steps for s in s0),
        **{name: sum(getattr(s, name) for s in s0) for name in _SUMMED},
        ess=np.concatenate([s.ess for s in s0]),
        betas=np.concatenate([s.betas for s in s0]),
        resample_steps=tuple(t for s in s0 for t in s.resample_steps),
    )
    return DesignResult(
        target=results[0].target,
        likelihood=results[0].likelihood,
        smiles=tuple(seen),
        mean={p: gather(lambda r, p=p: r.mean[p]) for p in props},
        std={p: gather(lambda r, p=p: r.std[p]) for p in props},
        log_likelihood=gather(lambda r: r.log_likelihood),
        step_found=gather(lambda r: r.step_found).astype(np.int64),
        particles=tuple(s for r in results for s in r.particles),
        stats=stats,
    )
