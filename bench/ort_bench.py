#!/usr/bin/env python3
"""Time ONNX Runtime on the reference graphs, for comparison with bench_embed.

Usage:
  ort_bench.py write-resnet PATH          write the deterministic random
                                          ResNet-50 weights as safetensors
  ort_bench.py MODEL BATCH ROUNDS [THREADS]
                                          print one JSON line of ms/image

MODEL is efficientnet-lite0/1/2 (weights from models/cache) or resnet50 (the
random weights). The graphs are the ones that make_reference.py checks our
embeddings against, run with ONNX Runtime's default graph optimisations and
THREADS intra-op threads (default 2). Needs the packages of
crates/fashion-core/tests/reference/requirements.txt.
"""

import json
import struct
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "crates/fashion-core/tests/reference"))
import make_reference as reference  # noqa: E402


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name, array in tensors.items():
        data = np.ascontiguousarray(array, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for data in blobs:
            f.write(data)


def build(model):
    if model == "resnet50":
        return reference.build_resnet50(reference.random_resnet50_weights()), 224
    variant = {v.name: v for v in reference.LITE_VARIANTS}[model]
    weights = reference.load_safetensors(reference.WEIGHTS / f"{model}.safetensors")
    return reference.build_efficientnet_lite(variant, weights), variant.size


def main():
    if sys.argv[1] == "write-resnet":
        write_safetensors(sys.argv[2], reference.random_resnet50_weights())
        return
    model, batch, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    threads = int(sys.argv[4]) if len(sys.argv) > 4 else 2

    graph, size = build(model)
    graph.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "N"
    for output in graph.graph.output:
        output.type.tensor_type.shape.dim[0].dim_param = "N"
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(graph.SerializeToString(), options, providers=["CPUExecutionProvider"])

    x = np.random.default_rng(0).random((batch, 3, size, size), dtype=np.float32)
    session.run(["max_pooled"], {"input": x})
    per_image = []
    for _ in range(rounds):
        started = time.perf_counter()
        session.run(["max_pooled"], {"input": x})
        per_image.append((time.perf_counter() - started) * 1e3 / batch)
    per_image.sort()
    print(json.dumps({"model": model, "batch": batch, "rounds": rounds, "threads": threads,
                      "median_ms_per_image": round(per_image[rounds // 2], 2),
                      "min_ms_per_image": round(per_image[0], 2)}))


if __name__ == "__main__":
    main()
