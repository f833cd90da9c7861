from __future__ import annotations

import json

import numpy as np
import pytest

from vlab.errors import DataFileError, IncompatibleVersionError, InputError
from vlab.polymers.design import FORMAT_VERSION, NGramModel, tokenize
from vlab.polymers.smiles import is_valid_repeat_unit


def test_fit_counts(design_lm, train_smiles):
    assert design_lm.n_molecules_ + design_lm.n_skipped_ <= len(train_smiles)
    assert design_lm.n_molecules_ > 500
    assert design_lm.n_sequences_ > 2 * design_lm.n_molecules_  # canonical + 2 reordered
    assert design_lm.vocabulary_[:2] == ("<s>", "</s>")
    assert {"*", "c", "C", "(", ")", "1", "=", "O"} <= set(design_lm.vocabulary_)


@pytest.mark.parametrize("prefix", ["", "*", "*CC(", "*c1ccc(", "*c1ccc(Oc2ccc(*)cc2"])
def test_distribution_is_normalised_and_matches_log_prob(design_lm, prefix):
    probs = design_lm.next_token_probabilities(prefix)
    assert sum(probs.values()) == pytest.approx(1.0, abs=1e-9)
    assert min(probs.values()) > 0  # interpolation down to a uniform floor
    ids = list(design_lm.encode(prefix)) if prefix else []
    for token in ("C", "*", ")"):
        lp = design_lm.token_log_probs([*ids, design_lm.vocabulary_.index(token)])
        assert np.exp(lp[-2]) == pytest.approx(probs[token], rel=1e-9)


def test_sampler_draws_from_the_model(design_lm):
    """Frequencies of the first generated token match the (masked) model probabilities."""
    prefix = design_lm.encode("*c1ccc(")
    ctx, state = design_lm._start(prefix[None, :].repeat(6000, 0), np.full(6000, len(prefix)))
    tok, ok = design_lm._draw_allowed(ctx, state, 2, np.random.default_rng(3))
    assert ok.all()
    probs = design_lm.next_token_probabilities("*c1ccc(")
    probs.pop("</s>")  # not allowed inside an open branch: renormalise without it
    norm = sum(probs.values())
    freq = np.bincount(tok, minlength=len(design_lm.vocabulary_)) / len(tok)
    for t, p in probs.items():
        assert abs(freq[design_lm.vocabulary_.index(t)] - p / norm) < 0.02, t


def test_log_prob_prefers_seen_chemistry(design_lm):
    assert design_lm.log_prob("*CC(*)c1ccccc1") > design_lm.log_prob("*C(Br)(Br)C(Br)(Br)N(Br)*")
    assert design_lm.log_prob("*CC(*)[U]") == -np.inf


def test_samples_respect_grammar_and_are_often_valid(design_lm):
    out = design_lm.sample(300, rng=np.random.default_rng(0), max_tokens=150)
    done = [s for s in out if s is not None]
    assert len(done) > 200
    for smi in done:
        tokens = tokenize(smi)
        assert tokens.count("*") == 2
        assert tokens.count("(") == tokens.count(")")
    valid = sum(is_valid_repeat_unit(s) for s in done)
    assert valid / len(out) > 0.25  # measured about 0.4 on the full catalog


def test_continuation_keeps_prefix(design_lm):
    out = design_lm.sample(20, rng=np.random.default_rng(1), prefix="*c1ccc(")
    assert all(s is None or s.startswith("*c1ccc(") for s in out)


def test_sampling_is_reproducible(design_lm):
    a = design_lm.sample(30, rng=np.random.default_rng(5))
    b = design_lm.sample(30, rng=np.random.default_rng(5))
    c = design_lm.sample(30, rng=np.random.default_rng(6))
    assert a == b
    assert a != c


def test_generate_ids_continues_every_prefix(design_lm, design_seeds):
    # its speed is measured by benchmarks/design.py (language_model.generate_ms_per_prefix)
    ids = [design_lm.encode(s) for s in design_seeds[:100] if "[" not in s]
    rng = np.random.default_rng(0)
    prefixes = [x[: rng.integers(1, len(x))] for x in ids]
    out = design_lm.generate_ids(prefixes, rng=rng, max_tokens=200)
    assert len(out) == len(prefixes)
    done = [(o, p) for o, p in zip(out, prefixes) if o is not None]
    assert len(done) > 0.9 * len(prefixes)
    assert all(len(o) >= len(p) and list(o[: len(p)]) == list(p) for o, p in done)


def test_save_load_round_trip(design_lm, tmp_path):
    path = design_lm.save(tmp_path / "lm.npz")
    back = NGramModel.load(path)
    assert back.vocabulary_ == design_lm.vocabulary_
    assert back.n_nodes_ == design_lm.n_nodes_
    assert back.log_prob("*CC(*)C(=O)OC") == design_lm.log_prob("*CC(*)C(=O)OC")
    rng = np.random.default_rng
    assert back.sample(10, rng=rng(2)) == design_lm.sample(10, rng=rng(2))


def _rewrite_meta(src, dst, *, key="metadata", **changes):
    with np.load(src) as npz:
        arrays = dict(npz)
    meta = json.loads(str(arrays.pop("metadata")))
    meta.update(changes)
    arrays[key] = np.array(json.dumps(meta))
    with open(dst, "wb") as fh:
        np.savez(fh, **arrays)


def test_incompatible_version_raises(design_lm, tmp_path):
    path = design_lm.save(tmp_path / "lm.npz")
    _rewrite_meta(path, tmp_path / "old.npz", format_version=FORMAT_VERSION + 1)
    with pytest.raises(IncompatibleVersionError, match="format version 2 .*this vlab .* reads"):
        NGramModel.load(tmp_path / "old.npz")
    _rewrite_meta(path, tmp_path / "other.npz", format="vlab-conductance-surrogate")
    with pytest.raises(DataFileError, match="is not a saved vlab n-gram language model") as err:
        NGramModel.load(tmp_path / "other.npz")
    assert "\n" not in str(err.value)


def test_files_whose_metadata_member_is_called_meta_still_load(design_lm, tmp_path):
    path = design_lm.save(tmp_path / "lm.npz")
    _rewrite_meta(path, tmp_path / "old.npz", key="meta")
    assert NGramModel.load(tmp_path / "old.npz").log_prob("*CC*") == design_lm.log_prob("*CC*")


def test_missing_and_broken_files_raise(tmp_path):
    with pytest.raises(DataFileError, match="No language-model file"):
        NGramModel.load(tmp_path / "nope.npz")
    (tmp_path / "junk.npz").write_text("not an archive")
    with pytest.raises(DataFileError, match="Could not read a saved vlab n-gram language model"):
        NGramModel.load(tmp_path / "junk.npz")


def test_bad_parameters_and_unfitted():
    with pytest.raises(InputError, match="'order' parameter of NGramModel must be an integer in"):
        NGramModel(order=1).fit(["*CC*"])
    with pytest.raises(InputError, match="'n_augment' parameter"):
        NGramModel(n_augment=-1).fit(["*CC*"])
    with pytest.raises(InputError, match="needs at least one valid repeat unit"):
        NGramModel().fit(["CC", "*C(*)(*)C"])
    with pytest.raises(InputError, match="expects a list of repeat-unit SMILES"):
        NGramModel().fit("*CC*")
    with pytest.raises(InputError, match="not fitted yet"):
        NGramModel().sample(1, rng=np.random.default_rng(0))


def test_unknown_tokens_are_reported(design_lm):
    with pytest.raises(InputError, match=r"tokens \['\[U\]'\] .* are not in the vocabulary"):
        design_lm.encode("*CC(*)[U]")


def test_fitted_language_model_is_kept_in_the_cache_and_refitted_when_broken(tmp_path, monkeypatch):
    from vlab.polymers.design import fitted_language_model

    units = ["*CC*", "*CCO*", "*CC(*)c1ccccc1", "*c1ccc(*)cc1"]
    first = fitted_language_model(units, order=5, n_augment=2, cache_dir=tmp_path)
    (path,) = tmp_path.glob("ngram-*.npz")
    fresh = NGramModel(order=5, n_augment=2).fit(units)
    assert first.n_nodes_ == fresh.n_nodes_ and first.log_prob("*CCO*") == fresh.log_prob("*CCO*")

    def no_fit(self, smiles):
        raise AssertionError("fitted again")

    with monkeypatch.context() as patched:
        patched.setattr(NGramModel, "fit", no_fit)
        again = fitted_language_model(units, order=5, n_augment=2, cache_dir=tmp_path)
        assert again.log_prob("*CC(*)c1ccccc1") == first.log_prob("*CC(*)c1ccccc1")
        with pytest.raises(AssertionError, match="fitted again"):  # other settings, other entry
            fitted_language_model(units, order=5, n_augment=3, cache_dir=tmp_path)
        with pytest.raises(AssertionError, match="fitted again"):  # other data
            fitted_language_model(units[:3], order=5, n_augment=2, cache_dir=tmp_path)

    path.write_bytes(path.read_bytes()[:200])  # a damaged entry is fitted and written again
    mended = fitted_language_model(units, order=5, n_augment=2, cache_dir=tmp_path)
    assert mended.log_prob("*CCO*") == first.log_prob("*CCO*")
    assert NGramModel.load(path).n_nodes_ == first.n_nodes_
    with pytest.raises(InputError, match="'order' parameter of NGramModel"):
        fitted_language_model(units, order=1, cache_dir=tmp_path)


def test_on_fit_is_called_before_a_fit_and_not_for_a_cached_model(tmp_path):
    from vlab.polymers.design import fitted_language_model

    said = []
    kw = {"order": 4, "n_augment": 2, "cache_dir": tmp_path, "on_fit": lambda: said.append(1)}
    fitted_language_model(["*CC*", "*CCO*"], **kw)
    fitted_language_model(["*CC*", "*CCO*"], **kw)
    assert said == [1]
