#!/usr/bin/env bash
# A paper-length training run on a lent CUDA machine, in one device call (issue 20).
#
#   here, once:      .venv/bin/python training/gpu_kit.py      (or: make gpu-kit)
#   device tool:     run(command="bash training/gpu_run.sh", carry=[".gpukit"], timeout_s=600)
#   here, after:     tar xf FILES_AT/result.tar -C runs/gpu; judge the snapshots
#
# The device tool carries the checkout and .gpukit/ (photos, paintings, the partial
# ImageNet VGG19 and the wheels the machine's image lacks: training/gpu_kit.py), nothing
# from ../shared. This runs training/train_bundled.sh there from the checkout itself, on
# CUDA in bf16, and stops it with SIGTERM (a checkpoint) after BUDGET seconds, so that
# what it trained comes back inside the call's limit. $OUT then holds:
#   result.tar     the runs (checkpoint.pt: resume or --init-from it here), installed
#                  packs, commands.log and the queue's log;
#   snapshots.tar  the network's fp16 weights at every checkpoint, NAME-STEP.safetensors
#                  (training/gpu_snapshots.py), to be judged here over several
#                  checkpoints (their noise is large);
#   gpu.log        this script's own log.
# What trains: ONLY, LATE, STYLE_STEPS... as for the queue. The default takes the bundled
# mosaic on to 40,000 steps, the paper's length, at style weight 25 (training/RECIPES.md).
set -u
cd "$(dirname "$0")/.."
OUT="${OUT:?the device tool sets OUT}"
KIT="${KIT:-.gpukit}"
BUDGET="${BUDGET:-420}"  # seconds of training; the call's 600 include the machine's start
PY="${PY:-python3}"
WORK="${WORK:-/tmp/stylepipe-gpu}"

run_all() {  # the whole run, its output also in $OUT/gpu.log
    if [[ ! -d "$KIT/assets/training_photos" ]]; then
        echo "no $KIT: run training/gpu_kit.py first"; exit 2
    fi
    mkdir -p "$WORK/bin" "$WORK/snapshots"
    if compgen -G "$KIT/wheels/*.whl" > /dev/null; then
        "$PY" -m pip install -q --no-index --no-deps --no-compile --target "$WORK/site" \
            "$KIT"/wheels/*.whl || exit 2
    fi
    export PYTHONPATH="$WORK/site:$PWD:$PWD/plugins:$PWD/training${PYTHONPATH:+:$PYTHONPATH}"
    printf '#!/bin/sh\nexec %s -m stylepipe "$@"\n' "$PY" > "$WORK/bin/stylepipe"
    chmod +x "$WORK/bin/stylepipe"
    nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null

    export STYLEPIPE="${STYLEPIPE:-$WORK/bin/stylepipe}" PYTHON="$PY" ASSETS="$KIT/assets"
    export STYLEPIPE_HOME="$WORK/home" DEVICE="${DEVICE:-cuda}" PRECISION="${PRECISION:-bf16}"
    export THREADS="${THREADS:-8}" WORKERS="${WORKERS:-8}"
    export CHECKPOINT_EVERY="${CHECKPOINT_EVERY:-2000}"
    export ONLY="${ONLY-mosaic}" STYLE_STEPS="${STYLE_STEPS:-5000}"
    export FIRST_PASS_STEPS="${FIRST_PASS_STEPS:-0}"
    export LATE="${LATE-mosaic:40000:25}"

    # every new checkpoint's network, as fp16 safetensors named by run and step
    "$PY" training/gpu_snapshots.py "$STYLEPIPE_HOME/runs" "$WORK/snapshots" "$WORK/stop" &
    watcher=$!

    start=$SECONDS
    timeout -s TERM "$BUDGET" bash training/train_bundled.sh > "$WORK/bundled.log" 2>&1
    status=$?
    echo "queue: exit $status after $((SECONDS - start)) s (124: stopped at the budget," \
        "checkpointed)"
    grep -E "^== |step [0-9]+/" "$WORK/bundled.log" | tail -n 20
    touch "$WORK/stop"
    wait "$watcher"
    cp "$WORK/bundled.log" "$STYLEPIPE_HOME/" 2>/dev/null
    tar -cf "$OUT/result.tar" --exclude=checkpoint.prev.pt -C "$STYLEPIPE_HOME" .
    tar -cf "$OUT/snapshots.tar" -C "$WORK/snapshots" .
    ls -l "$OUT"
}

run_all 2>&1 | tee -a "$OUT/gpu.log"
exit "${PIPESTATUS[0]}"
