#!/usr/bin/env bash
# Regenerate the reference-labelled conductance sets committed under catalogs/data/:
# run the campaigns (resumable: rerun after a crash), then export compact float32 copies.
# Measured on the 2-core development machine (shared with other work): see examples/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
for spec in au-breakjunction au-sband au-small-md au-spd-small au-sband-small au-spd-large au-spd-2x2 \
            au-sband-large au-sband-subset au-spd-2x2-extra au-contact-md au-spd-contact \
            au-sband-contact au-contact-wide-md au-spd-contact-wide au-contact-thick-md \
            au-spd-contact-thick au-spd-2x2-more au-spd-2x2-test au-breakjunction-b \
            au-spd-2x2-train au-breakjunction-c au-spd-2x2-test-c au-breakjunction-d \
            au-spd-2x2-test-d; do
  vlab run "examples/$spec.yaml" --no-progress
done
mkdir -p catalogs/data
for name in au-spd-small au-sband-small au-spd-large au-sband-large au-sband-subset au-spd-2x2 \
            au-spd-2x2-extra au-spd-contact au-sband-contact au-spd-contact-wide \
            au-spd-contact-thick au-spd-2x2-more au-spd-2x2-test au-spd-2x2-train \
            au-spd-2x2-test-c au-spd-2x2-test-d; do
  rm -rf "catalogs/data/$name.zarr"
  vlab catalog export "$name" "catalogs/data/$name.zarr"
done
vlab conductance plot au-sband --out docs/figures
