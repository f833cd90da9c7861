"""Sub-command groups of the science labs, added to the ``vlab`` parser.

Each function takes the sub-parsers object of ``vlab`` and adds its group.
"""

from __future__ import annotations

REGISTER: list = []
