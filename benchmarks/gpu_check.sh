#!/usr/bin/env bash
# The GPU check: one short run (under 8 minutes) on a lent CUDA machine, its figures in $OUT/gpu_check.txt.
#   1. detector: the stage (DetectStage, CUDA graph) beside its bare forward and ultralytics' predict, batch 32 / 128
#      (benchmarks/detector.py --device cuda)
#   2. trainer: step time with and without the ROI branch at ViT-B/16, batch 128, bf16 (benchmarks/train.py roi)
#   3. training end to end on real shards: configs/train_vit_b16.yaml (ViT-B/16 + a BERT-base-sized text encoder,
#      batch 128, bf16, 8 loader workers) on the sample corpus built at 256 px: the shard reader's samples/s, the
#      step time on its real batches with and without the ROI branch and cuDNN's attention (loading excluded), then
#      the three progressive stages at 40 steps each with and without the ROI branch, and their evaluation
#      (benchmarks/train.py reader step compare)
#
#   bash benchmarks/gpu_check.sh prepare   # here, once: Python 3.12 wheels the GPU image lacks, 64 sample PNGs and
#                                           # the sample corpus at 256 px, into .gpu_check/ (ignored by git; ~40 MiB)
#   then on the device machine: command "bash benchmarks/gpu_check.sh", carry [".gpu_check"], timeout_s 540
#   (or "bash benchmarks/gpu_check.sh 3" for part 3 alone; any of 1 2 3)
#
# Without CUDA it stops at once with exit status 2 and says so (in $OUT/gpu_check.txt too).
set -uo pipefail
cd "$(dirname "$0")/.."
CHECK=.gpu_check
# What benchmarks/detector.py imports that the GPU image (Python 3.12, numpy 2) does not hold; Ray is not needed.
WHEELS="ultralytics==8.4.190 ultralytics-thop==2.2.3 imagehash==4.3.2 pywavelets==1.9.0 pydicom==3.0.2
        nibabel==5.4.2 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19"

if [ "${1:-}" = prepare ]; then
    mkdir -p "$CHECK/wheels" "$CHECK/images"
    # shellcheck disable=SC2086
    python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 -d "$CHECK/wheels" $WHEELS || exit 1
    python - "$CHECK/images" <<'EOF' || exit 1
import sys
from pathlib import Path
from annotators.imaging import decode, encode_png, resize_long_side
from connectors.sample.generate import ensure
sample = ensure("out/sample", 1000, 0)  # the default build's sample (rendered once)
for path in sorted((sample / "images").rglob("*.png"))[:64]:  # as the build stores them: 8-bit, 512 px
    pixels = resize_long_side(decode(path.read_bytes(), path.name)[0], 512).pixels
    (Path(sys.argv[1]) / path.name).write_bytes(encode_png(pixels))
EOF
    # The default build's corpus at 256 px (training reads 224): small enough to travel with the working tree.
    sed -e "s|^output: .*|output: $CHECK/corpus|" -e "s|max_side: 512|max_side: 256|" configs/sample.yaml \
        > "$CHECK/corpus.yaml"
    medregion build "$CHECK/corpus.yaml" --fresh || exit 1
    du -sh "$CHECK" "$CHECK/corpus"
    exit 0
fi
PARTS=${*:-1 2 3}

REPORT="${OUT:-out}/gpu_check.txt"
mkdir -p "$(dirname "$REPORT")"
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "gpu_check: no CUDA device here (torch.cuda.is_available() is False); run it on a GPU machine" | tee "$REPORT" >&2
    exit 2
fi
if [ -d "$CHECK/wheels" ]; then
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
        "$CHECK"/wheels/*.whl || exit 1
    export PYTHONPATH="/tmp/site:$PWD"
fi
export PYTHONUNBUFFERED=1
IMAGES="$CHECK/images"
[ -d "$IMAGES" ] || IMAGES=out/sample/n1000-s0/images
{
    date -u
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    if [[ " $PARTS " == *" 1 "* ]]; then
        echo "== 1. detector: stage vs bare forward vs ultralytics predict (benchmarks/detector.py)"
        timeout 270 "$PYTHON" benchmarks/detector.py --images "$IMAGES" --device cuda --batch-sizes 32,128 --count 512
        echo "detector exit status $?"
    fi
    if [[ " $PARTS " == *" 2 "* ]]; then
        echo "== 2. trainer: step time with and without the ROI branch, ViT-B/16, batch 128, bf16 (benchmarks/train.py roi)"
        timeout 200 "$PYTHON" benchmarks/train.py roi --device cuda --size vit_b16 --batch 128 --bf16
        echo "trainer exit status $?"
    fi
    if [[ " $PARTS " == *" 3 "* ]]; then
        echo "== 3. training end to end on the sample shards: configs/train_vit_b16.yaml, 3 stages x 40 steps, ROI and not"
        timeout 300 "$PYTHON" benchmarks/train.py reader step compare --config configs/train_vit_b16.yaml \
            --shards "$CHECK/corpus" --device cuda --bf16 --stage-steps 40 --reader-batches 10 --out /tmp/gpu_check_runs
        echo "training exit status $?"
        ls /tmp/gpu_check_runs/roi && du -sh /tmp/gpu_check_runs/roi/checkpoints
    fi
} 2>&1 | tee "$REPORT"
