#!/usr/bin/env bash
# Train (or resume) every bundled model, one after another, on this checkout's CPU.
#
#   nohup bash training/train_bundled.sh > runs/bundled.log 2>&1 &
#
# Idempotent: a model whose pack is installed is skipped, a model with a checkpoint is
# resumed, anything else starts. Runs and packs live under runs/home (git-ignored);
# `make bundle-models` (training/bundle_models.py) copies finished packs into the plugins.
# The loss network is the seeded random VGG16 (ImageNet weights are not obtainable on
# our machines); with the weights, drop `--loss-net vgg16-random` and the tuned loss
# weights to train the paper's way (see training/RECIPES.md).
set -u
cd "$(dirname "$0")/.."
export STYLEPIPE_HOME="${STYLEPIPE_HOME:-$PWD/runs/home}"
STYLEPIPE="${STYLEPIPE:-.venv/bin/stylepipe}"
ASSETS="${ASSETS:-../shared/assets}"
DATA="$ASSETS/training_photos"
STYLES="$ASSETS/style_images"
THREADS="${THREADS:-2}"
STYLE_STEPS="${STYLE_STEPS:-1200}"
SR_STEPS="${SR_STEPS:-800}"
SR_PIXEL_STEPS="${SR_PIXEL_STEPS:-3000}"
COMMON=(--data "$DATA" --loss-net vgg16-random --threads "$THREADS" --checkpoint-every 50
        --fp16-weights --author "stylepipe developers" --license MIT)

steps_done() {  # last step in a run's loss history (0 when none)
    local csv="$STYLEPIPE_HOME/runs/$1/losses.csv"
    [[ -f "$csv" ]] && tail -n 1 "$csv" | cut -d, -f1 | grep -E '^[0-9]+$' || echo 0
}

train() {  # train KIND NAME STEPS ARGS...
    local kind=$1 name=$2 steps=$3; shift 3
    local done; done=$(steps_done "$name")
    if [[ -f "$STYLEPIPE_HOME/plugins/$name/manifest.json" ]] && ((done >= steps)); then
        echo "== $name: installed after $done steps, skipped"; return 0
    fi
    # a run with a checkpoint continues (a finished one trains on and replaces its pack)
    local resume=()
    [[ -f "$STYLEPIPE_HOME/runs/$name/checkpoint.pt" ]] && resume=(--resume --force)
    echo "== $name: $kind ${resume[*]} $(date -u +%FT%TZ)"
    local start=$SECONDS
    "$STYLEPIPE" train "$kind" "$@" --iterations "$steps" --name "$name" "${COMMON[@]}" "${resume[@]}"
    echo "== $name: exit $? after $((SECONDS - start)) s"
}

style() {  # style NAME IMAGE CONTENT_WEIGHT DESCRIPTION
    train style "$1" "$STYLE_STEPS" "$2" --image-size 128 --style-size 256 --arch half \
        --content-weight "$3" --style-weight 20 --tv-weight 100 \
        --preview samples/photos/chelsea.jpg --description "$4"
}

sr() {  # sr NAME SCALE LOSS STEPS DESCRIPTION [ARGS...]
    train sr "$1" "$4" --scale "$2" --loss "$3" --arch half --patch-size 192 \
        --preview samples/photos/coffee.jpg --description "$5" "${@:6}"
}

# Content weight: 20 keeps faces and edges readable; 5, used by the first runs and still
# by composition-vii, lets the texture cover the photo (RECIPES.md, "Content weight").
STYLE_STEPS=1600 style mosaic "$STYLES/pytorch_examples/mosaic.jpg" 20 "Mosaic (style image from pytorch/examples)"
# A per-pixel term (weight 10) beside the feature loss: with the random loss network the
# pure feature loss leaves a grid at every input pixel (RECIPES.md, "The grid").
sr sr4 4 feature "$SR_STEPS" "x4 upscale, feature loss (sharper)" --pixel-weight 10
sr sr8 8 feature "$SR_STEPS" "x8 upscale, feature loss" --pixel-weight 10
style starry-night "$STYLES/jcjohnson_fast_neural_style/starry_night_crop.jpg" 20 "The Starry Night, Vincent van Gogh, 1889 (public domain)"
sr sr4-pixel 4 pixel "$SR_PIXEL_STEPS" "x4 upscale, per-pixel loss (highest PSNR)"
style great-wave "$STYLES/jcjohnson_fast_neural_style/wave_crop.jpg" 20 "The Great Wave off Kanagawa, Hokusai, c. 1831 (public domain)"
style composition-vii "$STYLES/jcjohnson_fast_neural_style/composition_vii.jpg" 5 "Composition VII, Wassily Kandinsky, 1913 (public domain)"
echo "== all done $(date -u +%FT%TZ)"
