#!/usr/bin/env bash
# Measures leave-one-out retrieval quality (precision@5, @10, mAP@10 by
# articleType) for each model and resize mode on a labelled catalogue.
#
# Usage: bench/quality.sh CATALOGUE OUT_DIR [MODEL...] [-- RESIZE...]
#   CATALOGUE  folder with images/ and labels.csv
#   OUT_DIR    where the indexes and one JSON line per run go
# Models default to efficientnet-lite0, resize modes to squash and pad.
# QUERY_STEP=N in the environment queries only every Nth labelled image
# (default 1, every image); all images stay candidate results.
# Prints the JSON lines of fashion-eval on stdout.
set -euo pipefail

catalogue=$1
out=$2
shift 2
models=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do models+=("$1"); shift; done
[ $# -gt 0 ] && shift
resizes=("$@")
[ ${#models[@]} -eq 0 ] && models=(efficientnet-lite0)
[ ${#resizes[@]} -eq 0 ] && resizes=(squash pad)

root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/target/release"
mkdir -p "$out"

for model in "${models[@]}"; do
    for resize in "${resizes[@]}"; do
        index="$out/$(basename "$catalogue")-$model-$resize.fidx"
        "$bin/fashion-index" build "$catalogue" --index "$index" --model "$model" --resize "$resize" \
            --weights "$root/models/cache/$model.safetensors" --quiet --json > "$index.build.json" || [ $? -eq 1 ]
        "$bin/fashion-eval" "$index" --labels "$catalogue/labels.csv" --label-column articleType -k 5,10 \
            --query-step "${QUERY_STEP:-1}" --json
    done
done
