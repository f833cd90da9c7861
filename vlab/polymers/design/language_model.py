"""An n-gram chemical language model of repeat-unit SMILES (the iQSPR prior).

Model
-----
Sequences are ``<s> t_1 ... t_n </s>`` with the tokens of :func:`~vlab.polymers.design.tokenize`
(the ``*`` end markers are ordinary tokens). The next-token probability given the last
``order - 1`` tokens is an **interpolated Witten-Bell** estimate (Chen & Goodman 1998):

.. math::

    P(w | h) = \\lambda_h \\frac{c(h w)}{c(h)} + (1 - \\lambda_h) P(w | h'),
    \\qquad \\lambda_h = \\frac{c(h)}{c(h) + T(h)},

where ``h'`` drops the oldest token of ``h``, ``c`` counts occurrences in the training data,
``T(h)`` is the number of distinct tokens seen after ``h`` and the recursion ends in a uniform
distribution over the vocabulary. Unlike stupid back-off this is a normalised distribution,
so :meth:`NGramModel.log_prob` is a true log-probability, and sampling is exact: starting at
the longest context seen in training, keep level ``h`` with probability ``lambda_h`` and draw
from its counts, else drop to ``h'``.

Grammar state. A plain n-gram cannot count open branches or ring closures, so most of its
samples are broken SMILES (measured here: 75 % had unbalanced parentheses). Every token is
therefore counted together with the class of the grammar state it leads to (branch depth 0,
1, >=2; lowest open ring label none, 1, 2, other; number of ``*`` 0, 1, >=2: 36 classes), so
the context ``h`` knows whether a branch or ring must be closed and whether both end markers
are written; probabilities of tokens are the sums over classes. Sampling is also
*constrained* (:meth:`NGramModel.generate_ids`): tokens that would close a branch that is not
open, end the string with open branches or rings, or give other than two ``*`` are excluded
and the distribution renormalised. With both, about 40 % of samples drawn from scratch and
65 % of regrown tails of real repeat units are valid (RDKit-sanitisable, two ``*``), against
4 % and 37 % for the plain model.

Training data are augmented with reordered SMILES: besides the canonical SMILES of each
repeat unit, ``n_augment`` random SMILES (RDKit ``MolToRandomSmilesVect``) are counted, so
the model can continue a SMILES that starts at any atom.

Storage
-------
The counts live in a forward trie of all n-grams up to length ``order``, held in two numpy
arrays sorted by key ``parent_id * V' + token'`` (``token' = token + V * class``,
``V' = 36 V``, ``V`` the vocabulary size): node ids are
positions in these arrays and the children of a node are contiguous. Generation advances
many sequences at once with vectorised look-ups.

File format
-----------
:meth:`NGramModel.save` writes one compressed numpy ``.npz`` archive (no pickle; the
convention of every saved vlab model) with three members:
``metadata`` (a JSON string: ``format="vlab-ngram"``, ``format_version``, ``order``,
``n_augment``, ``vocabulary``, ``smoothing``, ``state_classes``, training sizes,
``vlab_version``), ``keys``
(int64 trie keys) and ``counts`` (int64 n-gram counts). Everything else is derived on load.
Files of another ``format_version`` raise :class:`~vlab.errors.IncompatibleVersionError`;
files written before the convention, whose JSON member is called ``meta``, still load.

Examples
--------
>>> lm = NGramModel(order=6, n_augment=2).fit(["*CC*", "*CC(*)C", "*CC(*)c1ccccc1", "*CCO*"])
>>> rng = np.random.default_rng(0)
>>> out = lm.sample(20, rng=rng)
>>> all(isinstance(s, str) for s in out)
True
>>> lm.log_prob("*CC*") > lm.log_prob("*OOOOO*")
True
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rdkit import Chem

from vlab._utils import read_model_file, write_model_file
from vlab.errors import DataFileError, IncompatibleVersionError, InputError, UnreadableFileError
from vlab.polymers.design.tokens import END_MARKER, tokenize
from vlab.polymers.smiles import repeat_unit_mol

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "NGramModel", "fitted_language_model"]

FORMAT_NAME = "vlab-ngram"
FORMAT_VERSION = 1
BOS, EOS = "<s>", "</s>"
_BOS_ID, _EOS_ID = 0, 1
_MAX_REDRAWS = 3
N_CLASSES = 36  # grammar-state classes: 3 branch depths x 4 open-ring codes x 3 star counts


def _state_class(state: np.ndarray) -> np.ndarray:
    """Class of grammar states ``(depth, open-ring bits, stars)`` (rows of ``state``).

    depth 0, 1, >=2; lowest open ring label none, 1, 2, other; stars 0, 1, >=2.
    """
    depth, rings, stars = state
    lowest = rings & -rings
    ring = np.where(rings == 0, 0, np.where(lowest <= 2, lowest, 3))
    return np.minimum(np.maximum(depth, 0), 2) * 12 + ring * 3 + np.minimum(stars, 2)


class NGramModel:
    """Interpolated Witten-Bell n-gram model of repeat-unit SMILES tokens.

    Parameters
    ----------
    order : int, default 10
        Largest n-gram length (the context holds ``order - 1`` tokens); iQSPR uses 10.
    n_augment : int, default 5
        Random (reordered) SMILES counted per training molecule, besides the canonical one.
    random_state : int, default 0
        Seed of the augmentation (RDKit random SMILES).

    Attributes
    ----------
    vocabulary_ : tuple of str
        Tokens; ids are positions (``<s>`` is 0, ``</s>`` is 1).
    n_molecules_ : int
        Distinct valid repeat units used for training.
    n_skipped_ : int
        Training SMILES skipped because they are not valid repeat units.
    n_sequences_ : int
        Token sequences counted (molecules times augmented variants, duplicates removed).
    n_nodes_ : int
        Distinct n-grams stored.

    Examples
    --------
    >>> lm = NGramModel(order=4, n_augment=0).fit(["*CC*", "*CCO*"])
    >>> lm.vocabulary_
    ('<s>', '</s>', '*', 'C', 'O')
    >>> round(float(np.exp(lm.log_prob("*CC*"))), 3) > 0
    True
    """

    def __init__(self, *, order: int = 10, n_augment: int = 5, random_state: int = 0) -> None:
        self.order = order
        self.n_augment = n_augment
        self.random_state = random_state

    # ------------------------------------------------------------------ fitting
    def fit(self, smiles: Iterable[str]) -> NGramModel:
        """Count the n-grams of repeat units and their reordered SMILES.

        Parameters
        ----------
        smiles : iterable of str
            Repeat units with two ``*`` (or ``[*]``) end markers. Invalid entries are skipped
            and counted in ``n_skipped_``.

        Returns
        -------
        NGramModel
            ``self``, fitted.

        Raises
        ------
        InputError
            If ``order`` or ``n_augment`` are out of range, or no entry is a valid repeat unit.
        """
        self._check_params()
        if isinstance(smiles, str):
            raise InputError(
                f"NGramModel.fit expects a list of repeat-unit SMILES. Got the single string "
                f"{smiles!r}; wrap it in a list."
            )
        variants, n_mol, n_bad = _augmented(smiles, self.n_augment, self.random_state)
        if not variants:
            raise InputError(
                "NGramModel.fit needs at least one valid repeat unit (two '*' end markers, "
                f"RDKit-sanitisable). Got none among {n_bad} entries."
            )
        seqs = [tokenize(v) for v in variants]
        vocab = (BOS, EOS, *sorted({t for s in seqs for t in s}))
        index = {t: i for i, t in enumerate(vocab)}
        self._set_grammar(vocab)
        ids = [np.array([_BOS_ID, *(index[t] for t in s), _EOS_ID]) for s in seqs]
        keys, counts = _count_ngrams([self._annotate(x) for x in ids], self._n_ext, self.order)
        self._set_state(vocab, keys, counts)
        self.n_molecules_, self.n_skipped_, self.n_sequences_ = n_mol, n_bad, len(seqs)
        return self

    def _check_params(self) -> None:
        if not isinstance(self.order, int | np.integer) or not 2 <= self.order <= 20:
            raise InputError(
                f"The 'order' parameter of NGramModel must be an integer in [2, 20]. "
                f"Got {self.order!r}."
            )
        if not isinstance(self.n_augment, int | np.integer) or not 0 <= self.n_augment <= 100:
            raise InputError(
                f"The 'n_augment' parameter of NGramModel must be an integer in [0, 100]. "
                f"Got {self.n_augment!r}."
            )

    def _set_grammar(self, vocab: Sequence[str]) -> None:
        """Token tables of the grammar state (branch depth, open rings, ``*`` count)."""
        self.vocabulary_ = tuple(vocab)
        self._index = {t: i for i, t in enumerate(vocab)}
        self._n_ext = len(vocab) * N_CLASSES
        self._star = self._index.get(END_MARKER, -2)
        self._close = self._index.get(")", -2)
        self._paren = np.array([(t == "(") - (t == ")") for t in vocab], dtype=np.int64)
        labels = sorted(
            (t for t in vocab if t.isdigit() or t.startswith("%")), key=lambda t: int(t.strip("%"))
        )
        bit = {t: 1 << j for j, t in enumerate(labels[:62])}
        self._ring_bit = np.array([bit.get(t, 0) for t in vocab], dtype=np.int64)

    def _annotate(self, seq: np.ndarray) -> np.ndarray:
        """Annotated ids ``token + V * class(state after token)`` of a whole id sequence."""
        state = np.stack(
            [
                np.cumsum(self._paren[seq]),
                np.bitwise_xor.accumulate(self._ring_bit[seq]),
                np.cumsum(seq == self._star),
            ]
        )
        return seq + len(self.vocabulary_) * _state_class(state)

    def _set_state(self, vocab: Sequence[str], keys: np.ndarray, counts: np.ndarray) -> None:
        """Derive the look-up arrays from the trie (``keys`` sorted, node 0 the root)."""
        self._set_grammar(vocab)
        n_vocab, n_ext = len(vocab), self._n_ext
        self._keys, self._counts = keys, counts
        self.n_nodes_ = len(keys)
        nodes = np.arange(len(keys), dtype=np.int64)
        start = np.searchsorted(keys, nodes * n_ext)
        stop = np.searchsorted(keys, nodes * n_ext + n_ext)
        gcum = np.concatenate([[0], np.cumsum(counts)]).astype(np.float64)
        total = gcum[stop] - gcum[start]
        seen = np.concatenate([[0], np.cumsum(counts > 0)])
        distinct = seen[stop] - seen[start]
        with np.errstate(invalid="ignore", divide="ignore"):
            lam = np.where(total > 0, total / (total + distinct), 0.0)
        # one sentinel node (id n_nodes) stands for "context not seen": lambda = 0
        self._lam = np.append(lam, 0.0)
        self._base = np.append(gcum[start], 0.0)
        self._total = np.append(total, 0.0)
        self._gcum = gcum[1:]
        self._token_of = keys % n_vocab
        self._sentinel = len(keys)

    def _check_fitted(self) -> None:
        if not hasattr(self, "vocabulary_"):
            raise InputError(
                "This NGramModel is not fitted yet. Call fit(smiles) or NGramModel.load(path) "
                "before sampling or scoring."
            )

    # --------------------------------------------------------------- trie walks
    def _child(self, parent: np.ndarray, tok: np.ndarray) -> np.ndarray:
        """Node of n-gram ``parent + tok`` (broadcast), the sentinel where it was never seen."""
        keys = parent * self._n_ext + tok
        idx = np.minimum(np.searchsorted(self._keys, keys), self._sentinel - 1)
        return np.where(self._keys[idx] == keys, idx, self._sentinel)

    def _advance(self, ctx: np.ndarray, tok: np.ndarray) -> np.ndarray:
        """Context nodes after appending ``tok`` (one per row) to contexts ``ctx``."""
        new = np.empty_like(ctx)
        new[:, 0] = 0
        new[:, 1:] = self._child(ctx[:, :-1], tok[:, None])
        return new

    def _draw(self, ctx: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Draw one next token per row of context nodes ``ctx`` (root in column 0)."""
        keep = rng.random(ctx.shape) < self._lam[ctx]
        depth = ctx.shape[1] - 1 - np.argmax(keep[:, ::-1], axis=1)
        node = ctx[np.arange(len(ctx)), depth]
        u = rng.random(len(ctx))
        pos = np.searchsorted(self._gcum, self._base[node] + u * self._total[node], side="right")
        np.minimum(pos, self._sentinel - 1, out=pos)
        tok = self._token_of[pos]
        uniform = 1 + (u * (len(self.vocabulary_) - 1)).astype(np.int64)
        return np.where(keep.any(axis=1), tok, uniform)

    def _start(self, buf: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Context nodes and grammar states after reading ``<s>`` and each prefix."""
        n = len(buf)
        ctx = np.full((n, self.order), self._sentinel, dtype=np.int64)
        ctx[:, 0] = 0
        ctx = self._advance(ctx, np.full(n, _BOS_ID))
        state = np.zeros((3, n), dtype=np.int64)
        for j in range(int(lengths.max(initial=0))):
            rows = np.flatnonzero(lengths > j)
            new = self._update_state(state[:, rows], buf[rows, j])
            new[0] = np.where(state[0, rows] < 0, -1, new[0])  # a ')' too many stays broken
            state[:, rows] = new
            ctx[rows] = self._step(ctx[rows], buf[rows, j], new)
        return ctx, state

    def _step(self, ctx: np.ndarray, tok: np.ndarray, state: np.ndarray) -> np.ndarray:
        """Advance contexts by tokens ``tok`` that led to grammar states ``state``."""
        return self._advance(ctx, tok + len(self.vocabulary_) * _state_class(state))

    def generate_ids(
        self,
        prefixes: Sequence[Sequence[int]],
        *,
        rng: np.random.Generator,
        max_tokens: int = 200,
        end_markers: int | None = 2,
    ) -> list[np.ndarray | None]:
        """Continue each prefix of token ids until ``</s>`` (vectorised over prefixes).

        Sampling is *constrained* by the SMILES grammar: a token that would close a branch
        that is not open, end the string with open branches or ring closures, or exceed
        ``end_markers`` ``*`` tokens (or end with fewer) is redrawn. Each step therefore draws
        from the n-gram distribution restricted to the allowed tokens and renormalised;
        this constrained model is the prior of the design loop. (Rejection is tried a few
        times; rows that still draw a forbidden token get the exact masked distribution.)

        Parameters
        ----------
        prefixes : sequence of sequences of int
            Token ids (without ``<s>``); an empty prefix samples from scratch.
        rng : numpy.random.Generator
            Source of randomness.
        max_tokens : int, default 200
            Give up (``None``) when a sequence reaches this many tokens.
        end_markers : int or None, default 2
            Exact number of ``*`` tokens of a finished sequence; ``None``: no constraint.

        Returns
        -------
        list of numpy.ndarray or None
            Full token ids (prefix included, ``</s>`` excluded); ``None`` where the prefix
            already breaks the constraints or ``max_tokens`` was reached.
        """
        self._check_fitted()
        n = len(prefixes)
        buf = np.zeros((n, max_tokens + 1), dtype=np.int64)
        lengths = np.array([min(len(p), max_tokens) for p in prefixes], dtype=np.int64)
        for i, p in enumerate(prefixes):
            buf[i, : lengths[i]] = p[: lengths[i]]
        limit = end_markers if end_markers is not None else -1
        ctx, state = self._start(buf, lengths)
        bad_prefix = (state[0] < 0) | ((limit >= 0) & (state[2] > limit))
        status = np.where((lengths >= max_tokens) | bad_prefix, -1, 0)  # 0 growing, 1 done
        while (rows := np.flatnonzero(status == 0)).size:
            tok, ok = self._draw_allowed(ctx[rows], state[:, rows], limit, rng)
            status[rows[~ok]] = -1
            rows, tok = rows[ok], tok[ok]
            done = tok == _EOS_ID
            status[rows[done]] = 1
            grow, tok = rows[~done], tok[~done]
            buf[grow, lengths[grow]] = tok
            lengths[grow] += 1
            state[:, grow] = self._update_state(state[:, grow], tok)
            status[grow[lengths[grow] >= max_tokens]] = -1
            ctx[grow] = self._step(ctx[grow], tok, state[:, grow])
        return [buf[i, : lengths[i]].copy() if status[i] == 1 else None for i in range(n)]

    def _update_state(self, state: np.ndarray, tok: np.ndarray) -> np.ndarray:
        out = np.empty_like(state)
        np.add(state[0], self._paren[tok], out=out[0])
        np.bitwise_xor(state[1], self._ring_bit[tok], out=out[1])
        np.add(state[2], tok == self._star, out=out[2])
        return out

    def _allowed(self, tok: np.ndarray, state: np.ndarray, limit: int) -> np.ndarray:
        depth, rings, stars = state
        ok = (tok != self._close) | (depth > 0)
        end_ok = (depth == 0) & (rings == 0)
        if limit >= 0:
            ok &= (tok != self._star) | (stars < limit)
            end_ok &= stars == limit
        return ok & ((tok != _EOS_ID) | end_ok)

    def _draw_allowed(
        self, ctx: np.ndarray, state: np.ndarray, limit: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Draw allowed next tokens: a few rejection rounds, then exact masked sampling."""
        tok = self._draw(ctx, rng)
        ok = self._allowed(tok, state, limit)
        for _ in range(_MAX_REDRAWS):
            if ok.all():
                return tok, ok
            sub = np.flatnonzero(~ok)
            tok[sub] = self._draw(ctx[sub], rng)
            ok[sub] = self._allowed(tok[sub], state[:, sub], limit)
        sub = np.flatnonzero(~ok)
        prob = self._next_distribution(ctx[sub])
        prob *= self._allowed(np.arange(prob.shape[1])[None, :], state[:, sub, None], limit)
        cum = np.cumsum(prob, axis=1)
        u = rng.random(len(sub)) * cum[:, -1]
        tok[sub] = np.minimum((cum <= u[:, None]).sum(axis=1), prob.shape[1] - 1)
        ok[sub] = cum[:, -1] > 0
        return tok, ok

    def _next_distribution(self, ctx: np.ndarray) -> np.ndarray:
        """Interpolated next-token probabilities, shape ``(len(ctx), vocabulary size)``."""
        n_vocab = len(self.vocabulary_)
        prob = np.zeros((len(ctx), self._n_ext))
        prob[:, 1:n_vocab] = 1.0 / (n_vocab - 1)  # uniform over tokens (class 0), never <s>
        counts = np.append(self._counts, 0)
        for k in range(ctx.shape[1]):
            node = ctx[:, k, None]
            count = counts[self._child(node, np.arange(self._n_ext)[None, :])]
            total = self._total[node]
            ml = np.divide(count, total, out=np.zeros(count.shape), where=total > 0)
            prob = self._lam[node] * ml + (1.0 - self._lam[node]) * prob
        return prob.reshape(len(ctx), N_CLASSES, n_vocab).sum(axis=1)

    # ----------------------------------------------------------- public helpers
    def encode(self, smiles_or_tokens: str | Sequence[str]) -> np.ndarray:
        """Token ids of a SMILES string or token list.

        Raises
        ------
        InputError
            If a token is not in the vocabulary of the model.
        """
        self._check_fitted()
        tokens = (
            tokenize(smiles_or_tokens) if isinstance(smiles_or_tokens, str) else smiles_or_tokens
        )
        unknown = [t for t in tokens if t not in self._index or t in (BOS, EOS)]
        if unknown:
            raise InputError(
                f"The tokens {sorted(set(unknown))} of {smiles_or_tokens!r} are not in the "
                f"vocabulary of this language model ({len(self.vocabulary_) - 2} tokens). "
                "Retrain the model on data that contain them."
            )
        return np.array([self._index[t] for t in tokens], dtype=np.int64)

    def decode(self, ids: Sequence[int]) -> str:
        """SMILES string of token ids (inverse of :meth:`encode`)."""
        self._check_fitted()
        return "".join(self.vocabulary_[i] for i in ids)

    def sample(
        self,
        n: int,
        *,
        rng: np.random.Generator,
        prefix: str | Sequence[str] = "",
        max_tokens: int = 200,
        end_markers: int | None = 2,
    ) -> list[str | None]:
        """Draw ``n`` SMILES strings from the model, optionally continuing a prefix.

        Parameters
        ----------
        n : int
            Number of samples.
        rng : numpy.random.Generator
            Source of randomness.
        prefix : str or sequence of str, default ""
            SMILES (or tokens) to continue, e.g. a repeat unit with its tail deleted.
        max_tokens : int, default 200
            Samples that reach this length without ending are returned as ``None``.
        end_markers : int or None, default 2
            Number of ``*`` tokens every sample must hold (see :meth:`generate_ids`).

        Returns
        -------
        list of str or None
            Samples: balanced branches and ring closures, but not validated by RDKit
            (valences may be wrong).

        Examples
        --------
        >>> lm = NGramModel(order=5, n_augment=1).fit(["*CC(*)c1ccccc1", "*CC(*)C(=O)OC"])
        >>> s = lm.sample(3, rng=np.random.default_rng(1), prefix="*CC(*)")
        >>> all(x is None or x.startswith("*CC(*)") for x in s)
        True
        """
        start = self.encode(prefix) if prefix else np.zeros(0, dtype=np.int64)
        out = self.generate_ids(
            [start] * n, rng=rng, max_tokens=max_tokens, end_markers=end_markers
        )
        return [None if ids is None else self.decode(ids) for ids in out]

    def next_token_probabilities(self, prefix: str | Sequence[str] = "") -> dict[str, float]:
        """Unconstrained probability of every token (and ``</s>``) after ``<s> prefix``.

        Examples
        --------
        >>> lm = NGramModel(order=3, n_augment=0).fit(["*CC*", "*CCO*"])
        >>> p = lm.next_token_probabilities("*CC")
        >>> round(sum(p.values()), 12), max(p, key=p.get)
        (1.0, '*')
        """
        ids = self.encode(prefix) if prefix else np.zeros(0, dtype=np.int64)
        ctx, _ = self._start(ids[None, :], np.array([len(ids)]))
        prob = self._next_distribution(ctx)[0]
        return {t: float(p) for t, p in zip(self.vocabulary_, prob) if t != BOS}

    def log_prob(self, smiles_or_tokens: str | Sequence[str]) -> float:
        """Natural log-probability of a whole sequence (``<s>`` ... ``</s>``).

        Returns ``-inf`` if a token is not in the vocabulary.

        Examples
        --------
        >>> lm = NGramModel(order=3, n_augment=0).fit(["*CC*"])
        >>> round(lm.log_prob("*CC*"), 6) == round(lm.log_prob(["*", "C", "C", "*"]), 6)
        True
        """
        try:
            ids = self.encode(smiles_or_tokens)
        except InputError:
            return float("-inf")
        return float(self.token_log_probs(ids).sum())

    def token_log_probs(self, ids: Sequence[int]) -> np.ndarray:
        """Log-probability of each token of ``ids`` and of the final ``</s>``."""
        self._check_fitted()
        seq = np.array([_BOS_ID, *ids, _EOS_ID], dtype=np.int64)
        cur, nxt = self._annotate(seq)[:-1], seq[1:]
        ctx = np.full((len(nxt), self.order), self._sentinel, dtype=np.int64)
        ctx[:, 0] = 0
        for k in range(1, self.order):  # k-gram ending at position i = (k-1)-gram at i-1 + cur[i]
            prev = np.concatenate([[0 if k == 1 else self._sentinel], ctx[:-1, k - 1]])
            ctx[:, k] = self._child(prev, cur)
        prob = np.full(len(nxt), 1.0 / (len(self.vocabulary_) - 1))
        counts = np.append(self._counts, 0)
        classes = len(self.vocabulary_) * np.arange(N_CLASSES)
        for k in range(self.order):
            count = counts[self._child(ctx[:, k, None], nxt[:, None] + classes)].sum(axis=1)
            lam, total = self._lam[ctx[:, k]], self._total[ctx[:, k]]
            ml = np.divide(count, total, out=np.zeros(len(nxt)), where=total > 0)
            prob = lam * ml + (1.0 - lam) * prob
        with np.errstate(divide="ignore"):
            return np.log(prob)

    # -------------------------------------------------------------- save / load
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the model to ``path`` (an ``.npz`` archive; see the module docstring).

        Returns
        -------
        pathlib.Path
            The path written (``.npz`` is appended if missing).
        """
        self._check_fitted()
        meta = {
            "order": int(self.order),
            "n_augment": int(self.n_augment),
            "random_state": int(self.random_state),
            "smoothing": "interpolated Witten-Bell",
            "state_classes": N_CLASSES,
            "vocabulary": list(self.vocabulary_),
            "n_molecules": int(self.n_molecules_),
            "n_skipped": int(self.n_skipped_),
            "n_sequences": int(self.n_sequences_),
        }
        return write_model_file(
            path,
            model_type=FORMAT_NAME,
            format_version=FORMAT_VERSION,
            metadata=meta,
            arrays={"keys": self._keys, "counts": self._counts},
            compress=True,
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> NGramModel:
        """Read a model written by :meth:`save`.

        Raises
        ------
        UnreadableFileError
            If the file is missing or is not a vlab n-gram archive.
        IncompatibleVersionError
            If the file was written in another format version.
        """
        meta, keys, counts = _read_archive(Path(path))
        model = cls(
            order=meta["order"], n_augment=meta["n_augment"], random_state=meta["random_state"]
        )
        model._set_state(meta["vocabulary"], keys, counts)
        model.n_molecules_ = meta["n_molecules"]
        model.n_skipped_ = meta["n_skipped"]
        model.n_sequences_ = meta["n_sequences"]
        return model

    def __repr__(self) -> str:
        fitted = f", n_nodes_={self.n_nodes_}" if hasattr(self, "vocabulary_") else ""
        return f"NGramModel(order={self.order}, n_augment={self.n_augment}{fitted})"


def fitted_language_model(
    smiles: Sequence[str],
    *,
    order: int = 10,
    n_augment: int = 5,
    random_state: int = 0,
    cache_dir: str | os.PathLike[str] | None = None,
    on_fit: Callable[[], None] | None = None,
) -> NGramModel:
    """``NGramModel(order=, n_augment=, random_state=).fit(smiles)``, kept in the model cache.

    ``on_fit`` is called before a fit (not when the model is loaded from the cache), e.g. to
    say that the next minute goes there.

    A fit on thousands of repeat units takes about a minute (RDKit's random SMILES and the
    counting); the fitted model is saved in ``cache_dir`` (default
    :func:`~vlab.polymers.model_cache_dir`) under a key of the SMILES, the parameters and the
    vlab and RDKit versions, and later calls with the same inputs load it (about a second).
    An unreadable cache file is fitted again; a read-only cache only costs the saving.

    Examples
    --------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> a = fitted_language_model(["*CC*", "*CCO*"], order=4, n_augment=2, cache_dir=folder)
    >>> b = fitted_language_model(["*CC*", "*CCO*"], order=4, n_augment=2, cache_dir=folder)
    >>> b.vocabulary_ == a.vocabulary_ and b.log_prob("*CCO*") == a.log_prob("*CCO*")
    True
    """
    import rdkit

    from vlab import __version__
    from vlab._utils import content_hash
    from vlab.polymers.models import model_cache_dir

    model = NGramModel(order=order, n_augment=n_augment, random_state=random_state)
    model._check_params()
    smiles = list(smiles)
    key = content_hash(
        FORMAT_NAME, FORMAT_VERSION, __version__, rdkit.__version__, int(order), int(n_augment),
        int(random_state), smiles,
    )[:20]  # fmt: skip
    path = Path(model_cache_dir() if cache_dir is None else cache_dir) / f"ngram-{key}.npz"
    if path.is_file():
        try:
            return NGramModel.load(path)
        except (DataFileError, IncompatibleVersionError):
            pass
    if on_fit is not None:
        on_fit()
    model.fit(smiles)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = model.save(path.with_name(f".{path.stem}.{os.getpid()}.{id(model)}.npz"))
        tmp.replace(path)
    except OSError:
        pass
    return model


def _augmented(smiles: Iterable[str], n_augment: int, seed: int) -> tuple[list[str], int, int]:
    """Canonical plus random SMILES of each distinct valid repeat unit (sorted, deduplicated)."""
    rng = np.random.default_rng(seed)
    mols, n_bad = {}, 0
    for smi in smiles:
        try:
            mol = repeat_unit_mol(smi)
        except InputError:
            n_bad += 1
            continue
        mols.setdefault(Chem.MolToSmiles(mol), mol)
    variants: set[str] = set()
    for canon in sorted(mols):
        variants.add(canon)
        if n_augment:
            rseed = int(rng.integers(1, 2**31 - 1))
            variants.update(Chem.MolToRandomSmilesVect(mols[canon], n_augment, randomSeed=rseed))
    return sorted(variants), len(mols), n_bad


def _count_ngrams(
    seqs: Sequence[np.ndarray], n_vocab: int, order: int
) -> tuple[np.ndarray, np.ndarray]:
    """Trie keys and counts of all n-grams (n <= order) of the id sequences."""
    flat = np.concatenate(seqs)
    seq_end = np.repeat(np.cumsum([len(s) for s in seqs]), [len(s) for s in seqs])
    keys_out, counts_out = [np.array([-1])], [np.array([0])]
    node = np.zeros(len(flat), dtype=np.int64)  # node of the (k-1)-gram starting at each position
    start = np.arange(len(flat))
    offset = 1
    for k in range(1, order + 1):
        ok = start + k - 1 < seq_end[start]
        start, node = start[ok], node[ok]
        if start.size == 0:
            break
        keys = node * n_vocab + flat[start + k - 1]
        uniq, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
        if k == 1:
            counts = np.where(uniq == _BOS_ID, 0, counts)  # <s> never follows anything
        keys_out.append(uniq)
        counts_out.append(counts)
        node = offset + inverse
        offset += len(uniq)
    return np.concatenate(keys_out).astype(np.int64), np.concatenate(counts_out).astype(np.int64)


def _read_archive(path: Path) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    if not path.is_file():
        raise UnreadableFileError(
            f"No language-model file at {str(path)!r}. Train one with NGramModel().fit(smiles) "
            "and save it with .save(path)."
        )
    meta, arrays = read_model_file(
        path,
        model_type=FORMAT_NAME,
        versions=(FORMAT_VERSION,),
        saver="NGramModel.save",
        name="vlab n-gram language model",
    )
    if "keys" not in arrays or "counts" not in arrays:
        raise UnreadableFileError(
            f"The file {str(path)!r} is not a vlab n-gram language model (it lacks the "
            "keys and counts arrays). Give an .npz archive written by NGramModel.save."
        )
    keys, counts = arrays["keys"], arrays["counts"]
    return meta, keys, counts
