from __future__ import annotations

import numpy as np
import pytest

from vlab.errors import InputError
from vlab.polymers.design import conditional_ess, merge_results, parse_target, run_smc, size_run
from vlab.polymers.design.smc import _next_beta, _systematic
from vlab.polymers.smiles import canonical_repeat_unit, is_valid_repeat_unit

TARGET = parse_target("thermal_conductivity>=0.3 W/(m K)")


@pytest.fixture(scope="module")
def runs(design_seeds, design_lm, design_predictor):
    """A likelihood run and a prior-only run with the same seed (small but real)."""
    kw = dict(n_particles=40, n_steps=16, rng=1)
    return {
        lik: run_smc(design_seeds, design_lm, design_predictor, TARGET, likelihood=lik, **kw)
        for lik in (True, False)
    }


def test_candidates_are_valid_distinct_and_predicted(runs):
    res = runs[True]
    assert len(res) > 100
    assert len(set(res.smiles)) == len(res.smiles)
    assert all(is_valid_repeat_unit(s) and canonical_repeat_unit(s) == s for s in res.smiles)
    for arr in (res.mean["thermal_conductivity"], res.std["thermal_conductivity"]):
        assert arr.shape == (len(res),) and np.all(np.isfinite(arr))
    assert res.log_likelihood.shape == (len(res),) and np.all(res.log_likelihood <= 0)
    assert res.step_found.min() >= 1 and res.step_found.max() <= 16
    assert len(res.particles) == 40
    rec = res.to_records()[0]
    assert set(rec) == {
        "smiles",
        "thermal_conductivity_mean",
        "thermal_conductivity_std",
        "log_likelihood",
        "step_found",
    }


def test_stats_are_consistent(runs):
    st = runs[True].stats
    assert st.n_proposals == 40 * 16
    assert st.n_proposals <= st.n_attempts <= 10 * st.n_proposals
    assert st.n_valid_attempts + st.n_failures == st.n_proposals
    assert 0 < st.valid_fraction <= 1 and 0 <= st.failure_rate < 0.5
    assert 0 < st.acceptance_rate <= 1
    assert st.ess.shape == (16,) and np.all((st.ess > 0) & (st.ess <= 40 + 1e-9))
    assert 0 < st.betas[0] < 1 and st.betas[-1] == 1.0
    assert np.all(np.diff(st.betas) >= 0)
    assert len(st.resample_steps) < 16  # resampled by ESS, not at every step
    assert st.proposals_per_second > 0 and st.predict_seconds < st.seconds
    assert st.as_dict()["n_proposals"] == 640


def test_likelihood_beats_prior(runs, design_predictor):
    lik, prior = runs[True], runs[False]
    assert prior.stats.resample_steps == ()  # flat weights never degenerate
    final = [design_predictor(list(r.particles)) for r in (lik, prior)]
    hits = [TARGET.contains(p).mean() for p in final]
    assert hits[0] > hits[1] + 0.15  # measured over 4 seeds: 0.42-0.52 against 0.00-0.10
    mean_ll = [TARGET.log_likelihood(p).mean() for p in final]
    assert mean_ll[0] > mean_ll[1] + 1.0  # measured: about -1 against -3
    late = lik.step_found > 8
    assert lik.hits()[late].mean() > prior.hits()[prior.step_found > 8].mean()
    top = lik.top(50)
    assert lik.hits()[top].mean() >= 0.8


def test_reproducible_and_independent_chains(design_seeds, design_lm, design_predictor):
    kw = dict(n_particles=10, n_steps=4)
    a = run_smc(
        design_seeds, design_lm, design_predictor, TARGET, rng=np.random.default_rng(1), **kw
    )
    b = run_smc(
        design_seeds, design_lm, design_predictor, TARGET, rng=np.random.default_rng(1), **kw
    )
    c = run_smc(
        design_seeds, design_lm, design_predictor, TARGET, rng=np.random.default_rng(2), **kw
    )
    assert a.smiles == b.smiles and np.array_equal(a.log_likelihood, b.log_likelihood)
    assert a.smiles != c.smiles
    merged = merge_results([a, c])
    assert len(merged) == len(set(a.smiles) | set(c.smiles))
    assert merged.stats.n_proposals == a.stats.n_proposals + c.stats.n_proposals
    assert list(merged.smiles) == list(dict.fromkeys([*a.smiles, *c.smiles]))  # first kept
    first = {**dict(zip(c.smiles, c.log_likelihood)), **dict(zip(a.smiles, a.log_likelihood))}
    np.testing.assert_array_equal(merged.log_likelihood, [first[s] for s in merged.smiles])


def test_top_excludes_known(runs):
    res = runs[True]
    best = res.top(5)
    assert list(res.log_likelihood[best]) == sorted(res.log_likelihood[best], reverse=True)
    assert res.smiles[best[0]] not in [
        res.smiles[i] for i in res.top(5, exclude=[res.smiles[best[0]]])
    ]


def test_systematic_resampling():
    rng = np.random.default_rng(0)
    idx = _systematic(np.log(np.array([0.7, 0.1, 0.1, 0.1])), rng)
    assert len(idx) == 4 and np.bincount(idx, minlength=4)[0] in (2, 3)
    counts = np.bincount(_systematic(np.log(np.full(1000, 1e-3)), rng), minlength=1000)
    assert np.all(counts == 1)


def test_bad_inputs(design_seeds, design_lm, design_predictor):
    def run(target=TARGET, seeds=design_seeds, predictor=design_predictor, **options):
        kw = {"rng": 0, "n_steps": 1, "n_particles": 2, **options}
        return run_smc(seeds, design_lm, predictor, target, **kw)

    with pytest.raises(InputError, match=r"names the properties \['Tg'\], which the predictor"):
        run(target=parse_target("Tg>=450 K"))
    with pytest.raises(InputError, match="at least one seed that is a valid repeat unit"):
        run(seeds=["CC", "*C(*)(*)C", "*CC(*)[U]"])
    with pytest.raises(InputError, match="'n_particles' parameter of run_smc must be a positive"):
        run(n_particles=0)
    with pytest.raises(InputError, match="'beta_start' parameter of run_smc must be a number in"):
        run(beta_start=0.0)
    with pytest.raises(InputError, match="'reorder_probability' parameter of run_smc"):
        run(reorder_probability=1.5)
    with pytest.raises(InputError, match="'max_extra_tokens' parameter of run_smc"):
        run(max_extra_tokens=0)
    with pytest.raises(InputError, match="'schedule' parameter of run_smc must be 'adaptive'"):
        run(schedule="linear")
    with pytest.raises(InputError, match=r"'cess_target' parameter of run_smc must be a number"):
        run(cess_target=1.0)
    with pytest.raises(InputError, match="log_domain must return one log-weight <= 0"):
        run(log_domain=lambda s: np.ones(len(s)))
    with pytest.raises(InputError, match=r"must return a mapping \{property: \(mean, std\)\}"):
        run(predictor=lambda s: {"thermal_conductivity": np.zeros(len(s))})


def test_callback_sees_every_step(design_seeds, design_lm, design_predictor):
    seen = []
    run_smc(
        design_seeds,
        design_lm,
        design_predictor,
        TARGET,
        rng=0,
        n_particles=5,
        n_steps=4,
        callback=lambda step, n_steps: seen.append((step, n_steps)),
    )
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_size_run_grows_with_the_library():
    assert size_run(100) == (2, 100, 20)  # the minimum number of steps
    assert size_run(1000) == (2, 100, 150)  # 30 proposals per wanted candidate
    assert size_run(2000, n_chains=4, n_particles=50) == (4, 50, 300)
    assert size_run(1000, n_steps=3) == (2, 100, 3)
    with pytest.raises(
        InputError, match="'n' parameter of size_run must be a positive integer. Got 0"
    ):
        size_run(0)
    with pytest.raises(InputError, match="'n_steps' parameter of size_run must be a positive"):
        size_run(10, n_steps=0)


def test_adaptive_step_hits_the_conditional_ess_target():
    rng = np.random.default_rng(0)
    log_w, ll = rng.normal(size=200), rng.normal(scale=30.0, size=200)
    beta = _next_beta(log_w, ll, 0.2, 0.9)
    assert 0.2 < beta < 1
    assert conditional_ess(log_w, ll, beta - 0.2) == pytest.approx(0.9, abs=1e-6)
    assert _next_beta(log_w, np.zeros(200), 0.2, 0.9) == 1.0  # flat likelihood: go to 1


def test_adaptive_schedule_anneals_and_resamples(design_seeds, design_lm, design_predictor):
    narrow = parse_target("0.45<=thermal_conductivity<=0.5 W/(m K)")  # a sharp likelihood
    st = run_smc(
        design_seeds, design_lm, design_predictor, narrow, n_particles=30, n_steps=12, rng=5
    ).stats
    anneal = st.betas[:5]  # steps 1-5 adaptive, then beta = 1 (anneal_fraction 0.5 of 12)
    assert np.all(np.diff(anneal) > 0) and anneal[-1] < 1 and np.all(st.betas[5:] == 1.0)
    assert len(st.resample_steps) >= 1  # measured over seeds 4-6: 1-2 resamplings
    for step in st.resample_steps:  # resampled exactly where the ESS fell below half
        assert st.ess[step - 1] < 15
    kept = [k for k in range(12) if k + 1 not in st.resample_steps]
    assert np.all(st.ess[kept] >= 15)


def test_domain_term_enters_the_likelihood(design_seeds, design_lm, design_predictor):
    kw = dict(n_particles=10, n_steps=3, rng=5)
    plain = run_smc(design_seeds, design_lm, design_predictor, TARGET, **kw)
    pen = run_smc(
        design_seeds,
        design_lm,
        design_predictor,
        TARGET,
        log_domain=lambda s: np.full(len(s), -2.0),
        **kw,
    )
    assert plain.smiles == pen.smiles  # a constant term changes no decision
    np.testing.assert_allclose(pen.log_likelihood, plain.log_likelihood - 2.0)
