#!/usr/bin/env bash
# Train (or resume) every bundled model, one after another, on this checkout's CPU.
#
#   nohup bash training/train_bundled.sh > runs/bundled.log 2>&1 &
#
# On a CUDA machine (paper length, 40,000 steps of batch 4 per style, bf16):
#
#   DEVICE=cuda PRECISION=bf16 STYLE_STEPS=40000 FIRST_PASS_STEPS=0 SR_STEPS=20000 THREADS=8 \
#       nohup bash training/train_bundled.sh > runs/bundled.log 2>&1 &
#
# ONLY="mosaic udnie" trains just those, through both passes and any late pass (add
# STYLE_STEPS=2000 to stop after the first, LATE="" to skip the late passes).
# Idempotent: a model whose pack is installed after its full step count is skipped, a
# model with a checkpoint is resumed, a bundled model trained the same way for fewer
# steps continues from its committed pack (--init-from), anything else starts; SIGTERM checkpoints the
# current step, so the queue can be stopped and resumed at will (also across sessions,
# when runs/ is kept). Runs and packs live under runs/home (git-ignored); each model's
# exact command is written to runs/home/commands.log; `make bundle-models`
# (training/bundle_models.py) copies finished packs into the plugins.
#
# The loss network is ImageNet VGG19, conv1_1..conv3_4 (../shared/assets/loss_networks,
# Caffe input convention; never committed). With torchvision's full VGG16 file in the
# torch hub cache, drop VGG and the layer list to train the paper's way (RECIPES.md).
set -u
cd "$(dirname "$0")/.."
export STYLEPIPE_HOME="${STYLEPIPE_HOME:-$PWD/runs/home}"
mkdir -p "$STYLEPIPE_HOME"
STYLEPIPE="${STYLEPIPE:-.venv/bin/stylepipe}"
PYTHON="${PYTHON:-.venv/bin/python}"
BUNDLED="${BUNDLED:-plugins}"  # where the committed packs are: BUNDLED/stylepipe_KIND/models
ASSETS="${ASSETS:-../shared/assets}"
DATA="$ASSETS/training_photos"
STYLES="$ASSETS/style_images"
VGG="${VGG:-$ASSETS/loss_networks/vgg19-imagenet-conv1-3/weights.safetensors}"
THREADS="${THREADS:-2}"
DEVICE="${DEVICE:-cpu}"
PRECISION="${PRECISION:-auto}"  # bf16 where the CPU runs it natively (AVX-512 BF16: 1.51x), else fp32
STYLE_STEPS="${STYLE_STEPS:-5000}"
FIRST_PASS_STEPS="${FIRST_PASS_STEPS:-2000}"  # every style this far first (0: no first pass)
SR_STEPS="${SR_STEPS:-3000}"
SR_PIXEL_STEPS="${SR_PIXEL_STEPS:-3000}"
# Late passes, each NAME:STEPS:STYLE_WEIGHT[:STYLE_SIZE[:LAYER_WEIGHTS[:LR[:SCALES
# [:CONTENT_LAYER[:CONTENT_WEIGHT]]]]]] (without the line break):
# after STYLE_STEPS these styles go on to STEPS at another style weight ("" for none), from
# a finished run at LR (default CONTINUE_LR) or the run's own rate if lower; one at another
# style size (default 384), other style layer weights (default: LAYERS averaged), style
# scales (default 1) or content layer (default relu2_2; its weight default 1) starts a
# new run from the finished run's pack. Each moves a style towards the target of issue 20
# (as near its painting as Johnson's model, at no more content lost; RECIPES.md, "Late
# passes"): at 10, even the criterion's optimum (Gatys) stays further from the painting
# than Johnson's model for mosaic and the-scream, at 30 it is as near; the-scream then
# overshot (nearer than his, more content lost) and comes back at 15; great-wave is far
# nearer than his but loses a little more content; composition-vii loses far less but is
# 0.0007 further. All three met it after their pass; mosaic, still 0.017 against his 0.012
# at 6,500, went on at 40 and 60 (0.011, nearer than his, but content 0.737 against
# 0.669), then back at 25 (0.014 at 0.673). (A pass to 12,000 at 30 and style size 256,
# whose Gatys optimum beats his, gave finer panes but 0.017 at 0.668: not in the list;
# RECIPES.md.) Then on at 30 to 11,600, and at 25 and a fifth of the rate to 12,000
# (0.014 at 0.660; its checkpoints vary as much as at the full rate, RECIPES.md). (With
# the style at half scale too, "mosaic:12500:18:::3e-4:1,0.5 mosaic:14000:10:::3e-4:1,0.5"
# filled the sky with panes but paid 0.037 of content for 0.0005 of nearness on six
# photos: not in the list; RECIPES.md, "Style at half scale too".)
LATE="${LATE-mosaic:6500:30 the-scream:6500:30 the-scream:7500:15 great-wave:6000:6 composition-vii:6000:20 mosaic:8000:40 mosaic:9000:60 mosaic:10000:25 mosaic:11600:30 mosaic:12000:25:::1e-4}"
LR="${LR:-1e-3}"  # Adam learning rate of a new run (a resumed one keeps its own)
CONTINUE_LR="${CONTINUE_LR:-5e-4}"  # ... of a run continued from a committed pack
# The layers of the probe that first gave outlined mosaic tiles (issue 20): every ReLU
# of blocks 1-3 but the inner ones of block 3, averaged (vgg19's reduction).
LAYERS="${LAYERS:-relu1_1,relu1_2,relu2_1,relu2_2,relu3_1,relu3_4}"
ONLY="${ONLY:-}"  # space-separated model names to train (default: all)
WORKERS="${WORKERS:-2}"  # photo decoding threads (a GPU's steps need more)
CHECKPOINT_EVERY="${CHECKPOINT_EVERY:-100}"  # steps (a GPU runs 100 in seconds)
COMMON=(--data "$DATA" --loss-net vgg19 --vgg-weights "$VGG" --vgg-input caffe
        --threads "$THREADS" --workers "$WORKERS" --device "$DEVICE" --precision "$PRECISION"
        --compile --checkpoint-every "$CHECKPOINT_EVERY"
        --fp16-weights --author "stylepipe developers" --license MIT
        --force)  # the bundled names are taken by the plugins' current packs: replace them

steps_done() {  # last step in a run's loss history (0 when none)
    local csv="$STYLEPIPE_HOME/runs/$1/losses.csv"
    [[ -f "$csv" ]] && tail -n 1 "$csv" | cut -d, -f1 | grep -E '^[0-9]+$' || echo 0
}

manifest_steps() {  # manifest_steps FILE [LOSS_NET]: training steps of a pack's manifest
    # (0 when none); with LOSS_NET, only those of a pack trained on that loss network (a
    # per-pixel-loss upscaler never uses one: all its steps count)
    [[ -f "$1" ]] || { echo 0; return; }
    "$PYTHON" -c 'import json, sys
t = json.load(open(sys.argv[1])).get("training", {})
s = t.get("settings", {})
counts = sys.argv[2] in ("", s.get("loss_net")) or s.get("loss") == "pixel"
print(int(t.get("steps") or 0) if counts else 0)' "$1" "${2:-}"
}

installed_steps() {  # steps of the pack this queue installed for NAME (0 when none)
    manifest_steps "$STYLEPIPE_HOME/plugins/$1/manifest.json"
}

lower_rate() {  # lower_rate NAME LR: LR, or the rate NAME's run goes on at if lower
    "$PYTHON" -c 'import sys
try:
    import torch
    run = torch.load(sys.argv[1], map_location="cpu", weights_only=True)["config"]["lr"]
except Exception:  # no readable checkpoint: the rate asked for
    run = float("inf")
print(f"{min(float(sys.argv[2]), float(run)):g}")' "$STYLEPIPE_HOME/runs/$1/checkpoint.pt" "$2"
}

run_criterion() {  # "STYLE_SIZE LAYER_WEIGHTS STYLE_SCALES CONTENT_LAYER" NAME's run trains
    # at (empty when no run; a run from before --style-scales measured the style at scale 1
    # alone, one from before --content-layer the content at relu2_2)
    local config="$STYLEPIPE_HOME/runs/$1/config.json"
    [[ -f "$config" ]] || return 0
    "$PYTHON" -c 'import json, sys
c = json.load(open(sys.argv[1]))
print(c.get("style_size") or "", c.get("style_layer_weights") or "", c.get("style_scales") or 1,
      c.get("content_layer") or "relu2_2")' \
        "$config"
}

bundled_steps() {  # steps of the bundled pack KIND NAME when trained on this loss network
    manifest_steps "$BUNDLED/stylepipe_$1/models/$2/manifest.json" vgg19
}

train() {  # train KIND NAME STEPS ARGS...
    local kind=$1 name=$2 steps=$3; shift 3
    if [[ -n "$ONLY" && " $ONLY " != *" $name "* ]]; then return 0; fi
    local done; done=$(steps_done "$name")
    if [[ -f "$STYLEPIPE_HOME/plugins/$name/manifest.json" ]] && ((done >= steps)); then
        echo "== $name: installed after $done steps, skipped"; return 0
    fi
    # a run with a checkpoint continues (a finished one trains on and replaces its pack);
    # without one, a bundled model trained on this loss network continues from its pack
    # (runs/ may not outlive a session here: only committed packs surely travel)
    # (a resumed run keeps its learning rate: a rollback after a loss spike may have halved it)
    local resume=(--lr "$LR") bundled; bundled=$(bundled_steps "$kind" "$name")
    local checkpoint="$STYLEPIPE_HOME/runs/$name/checkpoint.pt" criterion=""
    local pack_lr=${NEW_PASS_LR:-$CONTINUE_LR}  # a run from a pack: its late pass's rate
    [[ -f "$checkpoint" && -n "${STYLE_SIZE:-}" ]] && criterion=$(run_criterion "$name")
    local wanted="${STYLE_SIZE:-} ${LAYER_WEIGHTS:-} ${STYLE_SCALES:-1} ${CONTENT_LAYER:-relu2_2}"
    if [[ -n "$criterion" && "$criterion" != "$wanted" ]]
    then
        # a resumed run keeps its criterion: a pass at another style size, layer weights,
        # style scales or content layer starts a new run from the pack the finished one
        # installed (the manifest records the change), at the pass's rate: its Adam starts
        # afresh and warms up, so a rate the old run lowered for its own criterion does not
        # bind it
        resume=(--restart --init-from "$STYLEPIPE_HOME/plugins/$name" --lr "$pack_lr")
    elif [[ -f "$checkpoint" ]]; then
        resume=(--resume --force)
        # a late pass on a finished run goes on at NEW_PASS_LR or the run's own rate,
        # whichever is lower (the-scream resumed at 1e-3 and 3x the weight and spiked;
        # composition-vii, halved to 2.5e-4 by a spike, spiked again when raised to 5e-4)
        if [[ -n "${NEW_PASS_LR:-}" ]] && (($(installed_steps "$name") == done)); then
            resume+=(--lr "$(lower_rate "$name" "$NEW_PASS_LR")")
        fi
    elif ((bundled >= steps)); then
        echo "== $name: bundled after $bundled steps, skipped"; return 0
    elif ((bundled > 0)); then  # at a late pass's own rate (runs/ did not outlive a session)
        resume=(--lr "$pack_lr" --init-from "$BUNDLED/stylepipe_$kind/models/$name")
    fi
    local command=("$STYLEPIPE" train "$kind" "$@" --iterations "$steps" --name "$name"
                   "${COMMON[@]}" "${resume[@]}")
    echo "$(date -u +%FT%TZ) ${command[*]}" >> "$STYLEPIPE_HOME/commands.log"
    echo "== $name: $kind ${resume[*]} $(date -u +%FT%TZ)"
    local start=$SECONDS
    "${command[@]}"
    local status=$?
    echo "== $name: exit $status after $((SECONDS - start)) s"
    ((status == 0)) || exit "$status"  # stopped (SIGTERM: 130) or failed: stop the queue
}

style() {  # style NAME STEPS IMAGE STYLE_SIZE STYLE_WEIGHT DESCRIPTION (LAYER_WEIGHTS,
    # STYLE_SCALES, CONTENT_LAYER and CONTENT_WEIGHT: set by style_recipe, one weight per
    # LAYERS entry; empty: averaged, the style loss at scale 1 alone, the content at
    # relu2_2 at weight 1)
    STYLE_SIZE=$4 train style "$1" "$2" "$3" --image-size 256 --style-size "$4" --arch half \
        --content-weight "${CONTENT_WEIGHT:-1}" --style-weight "$5" --tv-weight 10 \
        --style-layers "$LAYERS" ${LAYER_WEIGHTS:+--style-layer-weights "$LAYER_WEIGHTS"} \
        ${STYLE_SCALES:+--style-scales "$STYLE_SCALES"} \
        ${CONTENT_LAYER:+--content-layer "$CONTENT_LAYER"} \
        --preview samples/photos/chelsea.jpg --description "$6"
}

sr() {  # sr NAME SCALE LOSS STEPS DESCRIPTION [ARGS...]
    train sr "$1" "$4" --scale "$2" --loss "$3" --arch half --patch-size 192 \
        --preview samples/photos/coffee.jpg --description "$5" "${@:6}"
}

JJ="$STYLES/jcjohnson_fast_neural_style"
# Style weight 10: calibrated on the paper's own outputs (benchmarks/loss_balance.py).
# Johnson's chicago_mosaic.jpg scores content 1.98 (relu2_2 MSE / photo energy) and style
# 0.136 (mean relative Gram distance), the photo itself 0 and 0.757, a washed-out texture
# about 3.4 and 0.05; only a weight between about 3 and 16 makes the training prefer
# Johnson's balance to both (starry-night, great-wave, composition-vii: above 3, 2, 1).
# (An earlier mosaic run at 100, then 30, lost the photo entirely.)
style_recipe() {  # NAME STEPS [STYLE_WEIGHT [STYLE_SIZE [LAYER_WEIGHTS [STYLE_SCALES
    # [CONTENT_LAYER [CONTENT_WEIGHT]]]]]]
    local name=$1 steps=$2 weight=${3:-10} size=${4:-384} LAYER_WEIGHTS=${5:-} \
        STYLE_SCALES=${6:-} CONTENT_LAYER=${7:-} CONTENT_WEIGHT=${8:-} image description
    case $name in
    mosaic) image=$STYLES/pytorch_examples/mosaic.jpg
        description="Mosaic (style image from pytorch/examples)" ;;
    starry-night) image=$JJ/starry_night_crop.jpg
        description="The Starry Night, Vincent van Gogh, 1889 (public domain)" ;;
    great-wave) image=$JJ/wave_crop.jpg
        description="The Great Wave off Kanagawa, Hokusai, c. 1831 (public domain)" ;;
    composition-vii) image=$JJ/composition_vii.jpg
        description="Composition VII, Wassily Kandinsky, 1913 (public domain)" ;;
    the-scream) image=$JJ/the_scream.jpg
        description="The Scream, Edvard Munch, 1893 (public domain)" ;;
    udnie) image=$JJ/udnie.jpg
        description="Udnie, Francis Picabia, 1913 (public domain)" ;;
    shipwreck-of-the-minotaur)
        image=$STYLES/engstrom_fast_style_transfer/the_shipwreck_of_the_minotaur.jpg
        description="The Shipwreck of the Minotaur, J. M. W. Turner, c. 1810 (public domain)" ;;
    *) echo "no recipe for style $name" >&2; exit 2 ;;
    esac
    style "$name" "$steps" "$image" "$size" "$weight" "$description"
}

# The styles that ship today (trained on the random VGG) are replaced first, then the new
# ones; a first pass takes every style to FIRST_PASS_STEPS (one session here) before any
# goes on to STYLE_STEPS, so that every shipped style improves as early as it can.
SHIPPED="mosaic starry-night great-wave composition-vii"
NEW="the-scream udnie shipwreck-of-the-minotaur"
first=$FIRST_PASS_STEPS
((first > 0 && first < STYLE_STEPS)) || first=$STYLE_STEPS
for name in $SHIPPED; do style_recipe "$name" "$first"; done
# Feature-loss upscalers on the paper's own layer, ImageNet relu2_2.
sr sr4 4 feature "$SR_STEPS" "x4 upscale, feature loss (sharper)" --pixel-weight 10
sr sr8 8 feature "$SR_STEPS" "x8 upscale, feature loss" --pixel-weight 10
sr sr4-pixel 4 pixel "$SR_PIXEL_STEPS" "x4 upscale, per-pixel loss (highest PSNR)"
for name in $NEW; do style_recipe "$name" "$first"; done
for name in $SHIPPED $NEW; do style_recipe "$name" "$STYLE_STEPS"; done
for late in $LATE; do  # paper-length runs (STYLE_STEPS past a late pass's STEPS) skip it
    IFS=: read -r name steps weight size layer_weights lr scales content content_weight \
        <<< "$late"
    ((steps > STYLE_STEPS)) &&
        NEW_PASS_LR=${lr:-$CONTINUE_LR} style_recipe "$name" "$steps" "$weight" "$size" \
            "$layer_weights" "$scales" "$content" "$content_weight"
done
echo "== all done $(date -u +%FT%TZ)"
