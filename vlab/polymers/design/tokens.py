"""Tokeniser of repeat-unit SMILES for the chemical language model.

A token is one of: a bracket atom (``[nH]``, ``[C@@H]``, ``[N+]``, ``[Si]``), a two-letter
organic-subset halogen (``Cl``, ``Br``), a one-letter organic-subset atom, aliphatic
(``B C N O P S F I``) or aromatic (``b c n o p s``), the end marker ``*``, a ring-closure
label (``1``-``9`` or ``%nn``), a branch parenthesis, a bond symbol (``- = # $ : / \\``) or a
dot. End markers written as bracket atoms (``[*]``, ``[1*]``, ``[*:2]``) are normalised to
``*`` first, so the language model sees a single end-marker token.

The tokeniser is a single regular expression; ``"".join(tokenize(s)) == normalize_end_markers(s)``
holds for every string it accepts, and it raises :class:`~vlab.errors.InvalidSMILESError`
for any character outside the SMILES alphabet.

Examples
--------
>>> tokenize("[*]c1ccc(Cl)cc1C(=O)N[*]")
['*', 'c', '1', 'c', 'c', 'c', '(', 'Cl', ')', 'c', 'c', '1', 'C', '(', '=', 'O', ')', 'N', '*']
>>> tokenize("*C[C@@H](Br)C%12CC%12*")[2:6]
['[C@@H]', '(', 'Br', ')']
"""

from __future__ import annotations

import re

from vlab.errors import InvalidSMILESError

__all__ = ["END_MARKER", "normalize_end_markers", "tokenize"]

END_MARKER = "*"

_STAR_RE = re.compile(r"\[\d*\*(?::\d+)?\]")
_TOKEN_RE = re.compile(
    r"\[[^\[\]]+\]"  # bracket atom
    r"|Br|Cl"  # two-letter organic subset
    r"|%\d\d"  # two-digit ring closure
    r"|[BCNOPSFIbcnops*]"  # one-letter atoms and the end marker
    r"|\d"  # one-digit ring closure
    r"|[()=#$:/\\.\-]"  # branches, bonds, dot
)


def normalize_end_markers(smiles: str) -> str:
    """Write every end marker as a bare ``*`` (``[*]``, ``[1*]`` and ``[*:1]`` become ``*``).

    Examples
    --------
    >>> normalize_end_markers("C([*])C([1*])C")
    'C(*)C(*)C'
    """
    return _STAR_RE.sub(END_MARKER, smiles)


def tokenize(smiles: str) -> list[str]:
    """Split a SMILES string into language-model tokens.

    Parameters
    ----------
    smiles : str
        A (repeat-unit) SMILES string; ``[*]`` end markers are normalised to ``*``.

    Returns
    -------
    list of str
        Tokens whose concatenation is ``normalize_end_markers(smiles)``.

    Raises
    ------
    InvalidSMILESError
        If ``smiles`` is not a string or holds a character that is not SMILES.

    Examples
    --------
    >>> tokenize("*CC(*)c1ccccc1")
    ['*', 'C', 'C', '(', '*', ')', 'c', '1', 'c', 'c', 'c', 'c', 'c', '1']
    >>> tokenize("*CC *")
    Traceback (most recent call last):
    ...
    vlab.errors.InvalidSMILESError: Cannot tokenise the SMILES '*CC *': character ' ' at
    position 3 is not part of the SMILES alphabet. ...
    """
    if not isinstance(smiles, str):
        raise InvalidSMILESError(
            f"tokenize expects a SMILES string. Got {smiles!r} of type {type(smiles).__name__}."
        )
    text = normalize_end_markers(smiles)
    tokens = _TOKEN_RE.findall(text)
    if sum(map(len, tokens)) != len(text):
        _raise_untokenizable(smiles, text)
    return tokens


def _raise_untokenizable(smiles: str, text: str) -> None:
    pos = 0
    for match in _TOKEN_RE.finditer(text):
        if match.start() != pos:
            break
        pos = match.end()
    raise InvalidSMILESError(
        f"Cannot tokenise the SMILES {smiles!r}: character {text[pos]!r} at position {pos} "
        "is not part of the SMILES alphabet. Remove whitespace and use bracket atoms "
        "such as '[Si]' for elements outside B, C, N, O, P, S, F, Cl, Br, I."
    )
