#!/usr/bin/env bash
# Times candle (bench_embed) and ONNX Runtime (ort_bench.py) on the same
# weights, one right after the other per model and batch size, and prints a
# Markdown table with the ratio candle / ONNX Runtime. Sets up a Python venv
# with ONNX Runtime in .venv-ref on first use. With FASHION_CATALOGUE set to
# a catalogue folder, it then times decoding and a whole index build of it
# (wall time and peak RSS from /usr/bin/time).
#
# Usage: bench/run.sh [ROUNDS]   (default 5 timed rounds per measurement)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}

if [ ! -x .venv-ref/bin/python ]; then
    python3 -m venv .venv-ref
    .venv-ref/bin/pip install --quiet -r crates/fashion-core/tests/reference/requirements.txt
fi
cargo build --release --quiet -p fashion-core --example bench_embed
mkdir -p target/bench
resnet=target/bench/resnet50-random.safetensors
[ -f "$resnet" ] || .venv-ref/bin/python bench/ort_bench.py write-resnet "$resnet"

median() { sed -E 's/.*"median_ms_per_image": ?([0-9.]+).*/\1/'; }

echo "| model | batch | candle ms/image | ONNX Runtime ms/image | ratio |"
echo "| --- | --- | --- | --- | --- |"
for model in efficientnet-lite0 efficientnet-lite1 efficientnet-lite2 resnet50; do
    weights=models/cache/$model.safetensors
    [ "$model" = resnet50 ] && weights=$resnet
    for batch in 1 16; do
        candle=$(target/release/examples/bench_embed "$model" "$weights" "$batch" "$rounds" | median)
        onnx=$(.venv-ref/bin/python bench/ort_bench.py "$model" "$batch" "$rounds" | median)
        ratio=$(python3 -c "print(f'{$candle / $onnx:.2f}')")
        echo "| $model | $batch | $candle | $onnx | $ratio |"
    done
done

# With a full catalogue at hand, also time decoding and a whole index build.
if [ -n "${FASHION_CATALOGUE:-}" ]; then
    echo
    echo "Decode and resize throughput:"
    cargo test --release --quiet -p fashion-image --test catalogue -- --ignored --nocapture 2>&1 | grep -i "images/s" || true
    echo
    echo "fashion-index build $FASHION_CATALOGUE:"
    cargo build --release --quiet -p fashion-index
    index=target/bench/catalogue.fidx
    rm -f "$index" "$index.partial"
    /usr/bin/time -v target/release/fashion-index build "$FASHION_CATALOGUE" --index "$index" --quiet --json \
        2> target/bench/build-time.txt
    grep -E "Elapsed|Maximum resident" target/bench/build-time.txt
fi
