"""Measure the built-in polymer λ model and write the file vlab ships with it.

Run from the repository root (a few minutes on 2 cores)::

    python benchmarks/train_measured_tc.py   # -> vlab/polymers/shipped/measured-tc.npz

Pretrains the MD-λ network on PI1070, runs the nested leave-one-out selection and the
calibration on the chemical-family split of the embedded measured table, exactly as
``vlab.polymers.transfer.build_measured_tc`` does when nothing is cached
(``ship_measured_tc``), and writes the record, the network, the settings key and the library
versions to the shipped file. Rerun it after changing the measured table, the candidates,
the network or the descriptors: the shipped file is ignored while its settings key does not
match, and the first prediction then measures the model itself.
"""

from __future__ import annotations

import time

from vlab import pin_blas_threads
from vlab.polymers.transfer import SHIPPED_FILE, build_measured_tc, ship_measured_tc

pin_blas_threads(1)


def main() -> None:
    start = time.perf_counter()

    def say(message: str) -> None:
        print(f"{time.perf_counter() - start:7.1f} s  {message}", flush=True)

    path = ship_measured_tc(SHIPPED_FILE, progress=say)
    say(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
    model = build_measured_tc()
    fit = model.fit
    say(
        f"origin: {model.origin}; variant {fit.variant} (chosen {fit.chosen}); nested LOO MAE "
        f"{fit.nested_mae:.4f} vs mean {fit.nested_mae_mean:.4f} W/(m K); z68 {fit.z68:.3f}, "
        f"z95 {fit.z95:.3f}"
    )


if __name__ == "__main__":
    main()
