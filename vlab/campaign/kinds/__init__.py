"""Campaign kinds: the registry and the built-in kinds, one module each.

:mod:`~vlab.campaign.kinds.base` holds :class:`Kind` and the registry; the built-in kinds
register themselves on first use of :func:`get_kind` or :func:`kind_names`:
:mod:`~vlab.campaign.kinds.probe` (``engine-probe``), :mod:`~vlab.campaign.kinds.conductance`
(``break-junction-md``, ``conductance-reference``, ``conductance-surrogate``),
:mod:`~vlab.campaign.kinds.polymers` (``polymer-predict``) and
:mod:`~vlab.campaign.kinds.design` (``polymer-design``).
"""

from vlab.campaign.kinds.base import Item, Kind, get_kind, kind_names, register_kind

__all__ = ["Item", "Kind", "get_kind", "kind_names", "register_kind"]
