"""Which source tasks the transfer model pretrains on (science constants of the transfer)."""

from __future__ import annotations

__all__ = ["TRANSFER_SOURCES", "TRANSFER_SOURCE_TASKS"]

#: PI1070 source tasks of the transfer protocols (none is λ or computed from it).
TRANSFER_SOURCE_TASKS = (
    "density",
    "Cp",
    "bulk_modulus",
    "Rg",
    "r2",
    "nematic_order_parameter",
    "refractive_index",
    "compressibility",
    "Cv",
)

#: Source data sets of the transfer pretraining and their tasks. ``pi1070``: MD properties of
#: the PI1070 source part; ``tg``: PoLyInfo glass transition temperature (K) of polymers;
#: ``cp``: ideal-gas heat capacity at 298 K (J/(mol K)) of small molecules from
#: ``chemicals``. A pretraining variant joins names with ``+`` (``"pi1070+tg+cp"`` is
#: multi-task with a masked loss); a single name is a single-source variant.
TRANSFER_SOURCES: dict[str, tuple[str, ...]] = {
    "pi1070": TRANSFER_SOURCE_TASKS,
    "tg": ("Tg",),
    "cp": ("Cp_gas_298K",),
}
