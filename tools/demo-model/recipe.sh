#!/bin/bash
# The demo model from nothing, every phase timed:
#   bash tools/demo-model/recipe.sh WORK [OUT]
# WORK holds the data and checkpoints; OUT (default WORK/models) gets the F16
# diffusers folders sdcl-demo and sdcl-demo-inpaint.  SDCL_PYTHON names the
# reference environment's python (default /opt/sdcl-ref/bin/python, made by
# tools/setup-reference.sh).  112 min on the 2-core development machine
# (tools/demo-model/README.md, "The two-hour recipe").
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=${1:?usage: recipe.sh WORK [OUT]}
out=${2:-$work/models}
py=${SDCL_PYTHON:-/opt/sdcl-ref/bin/python}
# Spinning OpenMP threads crawl when two processes share the two cores.
export OMP_WAIT_POLICY=PASSIVE
train() { "$py" "$here/train.py" --work "$work" --out "$out" "$@"; }

begin=$(date +%s)
phase() {
    local name=$1 start
    shift
    start=$(date +%s)
    "$@"
    echo "recipe: $name took $(( $(date +%s) - start )) s ($(( ($(date +%s) - begin) / 60 )) min in all)"
}
# The text encoder and the decoder fine-tune are independent (both need only
# the VAE's latents): one core each, side by side.
text_and_decoder() {
    train --phases text --text-steps 800 --threads 1 &
    local text=$!
    train --phases decoder --decoder-steps 1000 --threads 1
    wait "$text"
}

phase "data, vae, encode" train --phases vae,encode
phase "text | decoder" text_and_decoder
phase "unet" train --phases unet --ranks 2 --unet-steps 16000 --lr 5e-4 --snr-floor 0.1
# Trained only on captions that match, the UNet follows a prompt that
# contradicts the image even where the noisy latent still shows that image,
# and guidance amplifies it: img2img loses its layout, masked inpainting
# smears.  1000 steps with 5% of the captions swapped teach it to trust what
# it sees (tools/demo-model/README.md, "The two-hour recipe").
phase "robust" train --phases unet --resume --ranks 2 --unet-steps 1000 --lr 1e-4 --snr-floor 0.1 \
    --wrong-caption-rate 0.05
phase "inpaint" train --phases inpaint --inpaint-steps 500 --snr-floor 0.1
phase "export" train --phases export
