#!/usr/bin/env python3
"""Compute reference embeddings with ONNX Runtime for the Rust embedder tests.

For each model and test photo this script builds an ONNX graph with onnx.helper
straight from the weights, runs it on CPU with graph optimisations disabled, and
writes:

- ``inputs/<photo>-<size>.png``: the photo decoded by Pillow, converted to RGB and
  resized to size x size with ``Image.BILINEAR``. The Rust test feeds these exact
  pixels to its network, so both sides see identical input.
- ``embeddings.json``: the L2-normalised global-max-pooled feature map for every
  (model, photo) pair and, for the EfficientNet-Lite models, the top-5 ImageNet
  classes of the trained classifier head.

The graphs follow the published architectures, not the Rust code: every
BatchNormalization is a separate op, "same" padding is spelled out as explicit
asymmetric Conv pads, ReLU6 is Clip(0, 6), and pooling is GlobalMaxPool.

The script checks that each EfficientNet-Lite model classifies the photos of known
content correctly and exits with an error otherwise.

Run from the repository root:
    .venv-ref/bin/python crates/fashion-core/tests/reference/make_reference.py
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import math
import struct
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

log = logging.getLogger("make_reference")

HERE = Path(__file__).resolve().parent
REPOSITORY = HERE.parents[3]
PHOTOS = REPOSITORY / "fixtures" / "photos"
WEIGHTS = REPOSITORY / "models" / "cache"
INPUTS = HERE / "inputs"

ONNX_OPSET = 17


@dataclasses.dataclass(frozen=True)
class Photo:
    """A test photo and the ImageNet classes that count as a correct top-1."""

    name: str
    file: str
    # Empty for catalogue photos, whose top-5 is recorded but not checked.
    expected_classes: dict[int, str]


PHOTO_LIST = [
    Photo("cat", "cat.jpg", {281: "tabby", 282: "tiger cat", 283: "Persian cat", 284: "Siamese cat", 285: "Egyptian cat"}),
    Photo("coffee", "coffee.jpg", {504: "coffee mug", 967: "espresso", 968: "cup"}),
    Photo("rocket", "rocket.jpg", {657: "missile", 744: "projectile, missile", 812: "space shuttle"}),
    Photo("shirt", "shirt.jpg", {}),
    Photo("shoe", "shoe.jpg", {}),
]


# ---------------------------------------------------------------------------
# Weights
# ---------------------------------------------------------------------------


def load_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Read an F32 safetensors file into numpy arrays."""
    data = path.read_bytes()
    (header_size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + header_size])
    body = memoryview(data)[8 + header_size :]

    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if entry["dtype"] != "F32":
            raise ValueError(f"{path}: tensor {name} has dtype {entry['dtype']}, expected F32")
        begin, end = entry["data_offsets"]
        tensors[name] = np.frombuffer(body[begin:end], dtype="<f4").reshape(entry["shape"])
    return tensors


def fnv1a_64(text: str) -> int:
    """Hash the UTF-8 bytes of ``text`` with 64-bit FNV-1a."""
    value = 0xCBF29CE484222325
    for byte in text.encode("utf-8"):
        value ^= byte
        value = (value * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return value


def splitmix64_uniform(seed: int, count: int) -> np.ndarray:
    """Return ``count`` uniform floats in [0, 1): SplitMix64 of ``seed + i``, top 24 bits."""
    with np.errstate(over="ignore"):
        x = np.uint64(seed) + np.arange(count, dtype=np.uint64)
        x = x + np.uint64(0x9E3779B97F4A7C15)
        z = x
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(40)).astype(np.float64) / float(1 << 24)


def random_resnet_tensor(name: str, shape: tuple[int, ...]) -> np.ndarray:
    """Generate one deterministic ResNet-50 tensor, as specified in this folder's README."""
    u = splitmix64_uniform(fnv1a_64(name), math.prod(shape))

    if len(shape) == 4:
        fan_in = shape[1] * shape[2] * shape[3]
        values = (2.0 * u - 1.0) * math.sqrt(6.0 / fan_in)
    elif name.endswith(".weight") or name.endswith(".running_var"):
        values = 0.5 + u
    elif name.endswith(".bias") or name.endswith(".running_mean"):
        values = 0.2 * (u - 0.5)
    else:
        raise ValueError(f"no generator rule for tensor {name}")

    return values.astype(np.float32).reshape(shape)


RESNET50_LAYERS = [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]
RESNET_EXPANSION = 4


def resnet50_shapes() -> dict[str, tuple[int, ...]]:
    """Return the shapes of the torchvision ``resnet50`` state dict without ``fc.*`` and ``num_batches_tracked``."""
    shapes: dict[str, tuple[int, ...]] = {}

    def batch_norm(prefix: str, channels: int) -> None:
        for field in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{prefix}.{field}"] = (channels,)

    shapes["conv1.weight"] = (64, 3, 7, 7)
    batch_norm("bn1", 64)

    in_channels = 64
    for layer_index, (width, blocks, _stride) in enumerate(RESNET50_LAYERS, start=1):
        out_channels = width * RESNET_EXPANSION
        for block in range(blocks):
            prefix = f"layer{layer_index}.{block}"
            shapes[f"{prefix}.conv1.weight"] = (width, in_channels, 1, 1)
            batch_norm(f"{prefix}.bn1", width)
            shapes[f"{prefix}.conv2.weight"] = (width, width, 3, 3)
            batch_norm(f"{prefix}.bn2", width)
            shapes[f"{prefix}.conv3.weight"] = (out_channels, width, 1, 1)
            batch_norm(f"{prefix}.bn3", out_channels)
            if block == 0:
                shapes[f"{prefix}.downsample.0.weight"] = (out_channels, in_channels, 1, 1)
                batch_norm(f"{prefix}.downsample.1", out_channels)
            in_channels = out_channels

    return shapes


def random_resnet50_weights() -> dict[str, np.ndarray]:
    return {name: random_resnet_tensor(name, shape) for name, shape in resnet50_shapes().items()}


# ---------------------------------------------------------------------------
# ONNX graph construction
# ---------------------------------------------------------------------------


class GraphBuilder:
    """Nodes and initializers of one single-image NCHW graph under construction."""

    def __init__(self, weights: dict[str, np.ndarray]):
        self.weights = weights
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: dict[str, onnx.TensorProto] = {}
        self.used_weights: set[str] = set()
        self.counter = 0

    def unique_name(self, hint: str) -> str:
        self.counter += 1
        return f"{hint}_{self.counter}"

    def weight(self, name: str) -> str:
        if name not in self.initializers:
            self.initializers[name] = numpy_helper.from_array(np.ascontiguousarray(self.weights[name]), name)
            self.used_weights.add(name)
        return name

    def constant(self, name: str, value: np.ndarray) -> str:
        if name not in self.initializers:
            self.initializers[name] = numpy_helper.from_array(value, name)
        return name

    def conv(self, x: str, weight: str, stride: int, pads: list[int], groups: int = 1) -> str:
        """Add a Conv node without bias. ``pads`` is [top, left, bottom, right]."""
        kernel = self.weights[weight].shape[2:]
        out = self.unique_name("conv")
        self.nodes.append(
            helper.make_node(
                "Conv",
                [x, self.weight(weight)],
                [out],
                kernel_shape=list(kernel),
                strides=[stride, stride],
                pads=pads,
                group=groups,
            )
        )
        return out

    def batch_norm(self, x: str, prefix: str, epsilon: float) -> str:
        out = self.unique_name("bn")
        inputs = [self.weight(f"{prefix}.{field}") for field in ("weight", "bias", "running_mean", "running_var")]
        self.nodes.append(helper.make_node("BatchNormalization", [x, *inputs], [out], epsilon=epsilon))
        return out

    def conv_bn(self, x: str, weight: str, bn_prefix: str, epsilon: float, stride: int = 1, pads: list[int] | None = None, groups: int = 1) -> str:
        """Add a Conv node followed by a separate BatchNormalization node."""
        convolved = self.conv(x, weight, stride, pads or [0, 0, 0, 0], groups)
        return self.batch_norm(convolved, bn_prefix, epsilon)

    def relu(self, x: str) -> str:
        out = self.unique_name("relu")
        self.nodes.append(helper.make_node("Relu", [x], [out]))
        return out

    def relu6(self, x: str) -> str:
        low = self.constant("clip_min", np.array(0.0, dtype=np.float32))
        high = self.constant("clip_max", np.array(6.0, dtype=np.float32))
        out = self.unique_name("relu6")
        self.nodes.append(helper.make_node("Clip", [x, low, high], [out]))
        return out

    def add(self, a: str, b: str) -> str:
        out = self.unique_name("add")
        self.nodes.append(helper.make_node("Add", [a, b], [out]))
        return out

    def node(self, op: str, inputs: list[str], output: str, **attributes) -> str:
        self.nodes.append(helper.make_node(op, inputs, [output], **attributes))
        return output

    def build(self, name: str, size: int, outputs: list[tuple[str, list[int]]]) -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes,
            name,
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, size, size])],
            [helper.make_tensor_value_info(output, TensorProto.FLOAT, shape) for output, shape in outputs],
            initializer=list(self.initializers.values()),
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", ONNX_OPSET)])
        onnx.checker.check_model(model)
        return model


def same_padding(size: int, kernel: int, stride: int) -> tuple[list[int], int]:
    """Return the ONNX pads and the output size of TensorFlow "SAME" padding for a square input.

    The total padding is max((ceil(size / stride) - 1) * stride + kernel - size, 0).
    The smaller half goes before (top, left) and the rest after (bottom, right).
    """
    out_size = -(-size // stride)
    total = max((out_size - 1) * stride + kernel - size, 0)
    before = total // 2
    after = total - before
    return [before, before, after, after], out_size


# ---------------------------------------------------------------------------
# EfficientNet-Lite
# ---------------------------------------------------------------------------

LITE_BN_EPSILON = 1e-3

# Block groups of EfficientNet-Lite0, as in `efficientnet_lite()` of efficientnet-lite-pytorch
# 0.1.0 (utils.py): (repeats, kernel, first stride, expand ratio, in filters, out filters).
LITE_BLOCK_GROUPS = [
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
]


@dataclasses.dataclass(frozen=True)
class LiteVariant:
    name: str
    width: float
    depth: float
    size: int


LITE_VARIANTS = [
    LiteVariant("efficientnet-lite0", 1.0, 1.0, 224),
    LiteVariant("efficientnet-lite1", 1.0, 1.1, 240),
    LiteVariant("efficientnet-lite2", 1.1, 1.2, 260),
]


def round_filters(filters: int, width: float, divisor: int = 8) -> int:
    """Scale a channel count by ``width`` and round to a multiple of ``divisor``, never below 90 %."""
    scaled = filters * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * scaled:
        rounded += divisor
    return int(rounded)


@dataclasses.dataclass(frozen=True)
class LiteBlock:
    in_filters: int
    out_filters: int
    expand_ratio: int
    kernel: int
    stride: int


def lite_blocks(variant: LiteVariant) -> list[LiteBlock]:
    """Expand the block groups for one variant.

    EfficientNet-Lite fixes the stem and head: the first and last groups keep their
    repeat count, and the first block takes 32 input channels at every width.
    """
    blocks = []
    for index, (repeats, kernel, stride, expand, in_filters, out_filters) in enumerate(LITE_BLOCK_GROUPS):
        in_channels = round_filters(in_filters, variant.width)
        out_channels = round_filters(out_filters, variant.width)
        if index == 0 or index == len(LITE_BLOCK_GROUPS) - 1:
            count = repeats
        else:
            count = int(math.ceil(variant.depth * repeats))
        if index == 0:
            in_channels = 32

        blocks.append(LiteBlock(in_channels, out_channels, expand, kernel, stride))
        blocks.extend(LiteBlock(out_channels, out_channels, expand, kernel, 1) for _ in range(count - 1))
    return blocks


def build_efficientnet_lite(variant: LiteVariant, weights: dict[str, np.ndarray]) -> onnx.ModelProto:
    """Build the Lite graph with two outputs: the max-pooled features and the classifier logits."""
    graph = GraphBuilder(weights)
    size = variant.size

    pads, size = same_padding(size, 3, 2)
    x = graph.conv_bn("input", "_conv_stem.weight", "_bn0", LITE_BN_EPSILON, stride=2, pads=pads)
    x = graph.relu6(x)

    blocks = lite_blocks(variant)
    for index, block in enumerate(blocks):
        prefix = f"_blocks.{index}"
        expanded = block.in_filters * block.expand_ratio
        branch = x

        if block.expand_ratio != 1:
            _check_shape(weights, f"{prefix}._expand_conv.weight", (expanded, block.in_filters, 1, 1))
            branch = graph.conv_bn(branch, f"{prefix}._expand_conv.weight", f"{prefix}._bn0", LITE_BN_EPSILON)
            branch = graph.relu6(branch)

        _check_shape(weights, f"{prefix}._depthwise_conv.weight", (expanded, 1, block.kernel, block.kernel))
        pads, size = same_padding(size, block.kernel, block.stride)
        branch = graph.conv_bn(
            branch,
            f"{prefix}._depthwise_conv.weight",
            f"{prefix}._bn1",
            LITE_BN_EPSILON,
            stride=block.stride,
            pads=pads,
            groups=expanded,
        )
        branch = graph.relu6(branch)

        # The projection has no activation, and the skip exists only where shapes match.
        _check_shape(weights, f"{prefix}._project_conv.weight", (block.out_filters, expanded, 1, 1))
        branch = graph.conv_bn(branch, f"{prefix}._project_conv.weight", f"{prefix}._bn2", LITE_BN_EPSILON)
        if block.stride == 1 and block.in_filters == block.out_filters:
            branch = graph.add(branch, x)
        x = branch

    if f"_blocks.{len(blocks)}._depthwise_conv.weight" in weights:
        raise ValueError(f"{variant.name}: checkpoint has more than the expected {len(blocks)} blocks")

    features = graph.conv_bn(x, "_conv_head.weight", "_bn1", LITE_BN_EPSILON)
    features = graph.relu6(features)
    channels = weights["_conv_head.weight"].shape[0]

    max_pooled = graph.node("GlobalMaxPool", [features], "max_pooled_4d")
    graph.node("Flatten", [max_pooled], "max_pooled")

    averaged = graph.node("GlobalAveragePool", [features], "avg_pooled_4d")
    averaged = graph.node("Flatten", [averaged], "avg_pooled")
    graph.node("Gemm", [averaged, graph.weight("_fc.weight"), graph.weight("_fc.bias")], "logits", transB=1)

    unused = set(weights) - graph.used_weights
    if unused:
        raise ValueError(f"{variant.name}: graph leaves checkpoint tensors unused: {sorted(unused)[:5]}")

    log.debug("%s: %d blocks, feature map %d x %d x %d", variant.name, len(blocks), channels, size, size)
    return graph.build(variant.name, variant.size, [("max_pooled", [1, channels]), ("logits", [1, 1000])])


def _check_shape(weights: dict[str, np.ndarray], name: str, expected: tuple[int, ...]) -> None:
    actual = tuple(weights[name].shape)
    if actual != expected:
        raise ValueError(f"tensor {name} has shape {actual}, the architecture expects {expected}")


# ---------------------------------------------------------------------------
# ResNet-50
# ---------------------------------------------------------------------------

RESNET_BN_EPSILON = 1e-5
RESNET_SIZE = 224


def build_resnet50(weights: dict[str, np.ndarray]) -> onnx.ModelProto:
    """Build torchvision's ResNet-50 up to layer4, followed by global max pooling."""
    graph = GraphBuilder(weights)

    x = graph.conv_bn("input", "conv1.weight", "bn1", RESNET_BN_EPSILON, stride=2, pads=[3, 3, 3, 3])
    x = graph.relu(x)
    x = graph.node("MaxPool", [x], "stem_pooled", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])

    for layer_index, (_width, blocks, stride) in enumerate(RESNET50_LAYERS, start=1):
        for block in range(blocks):
            prefix = f"layer{layer_index}.{block}"
            # torchvision's Bottleneck puts the stride on the 3x3 conv2, not on conv1.
            block_stride = stride if block == 0 else 1

            branch = graph.conv_bn(x, f"{prefix}.conv1.weight", f"{prefix}.bn1", RESNET_BN_EPSILON)
            branch = graph.relu(branch)
            branch = graph.conv_bn(
                branch, f"{prefix}.conv2.weight", f"{prefix}.bn2", RESNET_BN_EPSILON, stride=block_stride, pads=[1, 1, 1, 1]
            )
            branch = graph.relu(branch)
            branch = graph.conv_bn(branch, f"{prefix}.conv3.weight", f"{prefix}.bn3", RESNET_BN_EPSILON)

            shortcut = x
            if block == 0:
                shortcut = graph.conv_bn(
                    x, f"{prefix}.downsample.0.weight", f"{prefix}.downsample.1", RESNET_BN_EPSILON, stride=block_stride
                )
            x = graph.relu(graph.add(branch, shortcut))

    max_pooled = graph.node("GlobalMaxPool", [x], "max_pooled_4d")
    graph.node("Flatten", [max_pooled], "max_pooled")
    return graph.build("resnet50-random", RESNET_SIZE, [("max_pooled", [1, 2048])])


# ---------------------------------------------------------------------------
# Preprocessing and inference
# ---------------------------------------------------------------------------

LITE_PREPROCESSING = "RGB float32 (pixel - 127) / 128, NCHW"
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
RESNET_PREPROCESSING = "RGB float32 (pixel / 255 - mean) / std, mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225), NCHW"
RESIZE = "Pillow Image.open, convert('RGB'), resize((size, size), Image.BILINEAR) (antialiased when downscaling), saved as PNG"


def load_input(photo: Photo, size: int) -> tuple[np.ndarray, str]:
    """Resize the photo, save the PNG that the Rust test reads, and return its HWC uint8 pixels and path."""
    with Image.open(PHOTOS / photo.file) as image:
        resized = image.convert("RGB").resize((size, size), Image.BILINEAR)

    path = INPUTS / f"{photo.name}-{size}.png"
    resized.save(path, optimize=True)

    # Read the PNG back, so the arrays below are exactly what the test decodes.
    with Image.open(path) as saved:
        pixels = np.asarray(saved.convert("RGB"), dtype=np.uint8)
    return pixels, path.relative_to(HERE).as_posix()


def lite_tensor(pixels: np.ndarray) -> np.ndarray:
    scaled = (pixels.astype(np.float32) - np.float32(127.0)) / np.float32(128.0)
    return np.ascontiguousarray(scaled.transpose(2, 0, 1)[np.newaxis], dtype=np.float32)


def imagenet_tensor(pixels: np.ndarray) -> np.ndarray:
    scaled = (pixels.astype(np.float32) / np.float32(255.0) - IMAGENET_MEAN) / IMAGENET_STD
    return np.ascontiguousarray(scaled.transpose(2, 0, 1)[np.newaxis], dtype=np.float32)


def make_session(model: onnx.ModelProto) -> ort.InferenceSession:
    """Create a single-threaded CPU session that runs the graph exactly as built (no op fusion)."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def l2_normalise(vector: np.ndarray) -> np.ndarray:
    vector = vector.astype(np.float64)
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def to_json_floats(values: np.ndarray) -> list[float]:
    """Round float32 values to 9 significant digits, enough to restore each float32 exactly."""
    return [float(f"{value:.9g}") for value in np.asarray(values, dtype=np.float32).tolist()]


def top5(logits: np.ndarray) -> list[dict[str, float]]:
    order = np.argsort(-logits, kind="stable")[:5]
    return [{"class": int(index), "logit": to_json_floats(logits[index : index + 1])[0]} for index in order]


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_lite(variant: LiteVariant, failures: list[str]) -> dict:
    weights_path = WEIGHTS / f"{variant.name}.safetensors"
    if not weights_path.is_file():
        raise SystemExit(f"error: {weights_path} not found. Run `python3 models/fetch.py {variant.name}` first")

    weights = load_safetensors(weights_path)
    session = make_session(build_efficientnet_lite(variant, weights))

    photos = {}
    for photo in PHOTO_LIST:
        pixels, relative = load_input(photo, variant.size)
        pooled, logits = session.run(["max_pooled", "logits"], {"input": lite_tensor(pixels)})
        classes = top5(logits[0])

        top1 = classes[0]["class"]
        log.info("%s %s: top-1 class %d, top-5 %s", variant.name, photo.name, top1, [c["class"] for c in classes])
        if photo.expected_classes and top1 not in photo.expected_classes:
            failures.append(f"{variant.name} {photo.name}: top-1 class {top1}, expected one of {sorted(photo.expected_classes)}")

        photos[photo.name] = {
            "input": relative,
            "embedding": to_json_floats(l2_normalise(pooled[0])),
            "top5": classes,
        }

    return {
        "input_size": variant.size,
        "weights": {"file": f"models/cache/{weights_path.name}", "sha256": sha256_file(weights_path)},
        "preprocessing": LITE_PREPROCESSING,
        "pooling": "global max pool of the head output (after _conv_head, _bn1, ReLU6), then L2 normalisation",
        "classifier": "global average pool of the same feature map, then _fc (logits, no softmax)",
        "photos": photos,
    }


def run_resnet() -> dict:
    weights = random_resnet50_weights()
    session = make_session(build_resnet50(weights))

    photos = {}
    for photo in PHOTO_LIST:
        pixels, relative = load_input(photo, RESNET_SIZE)
        (pooled,) = session.run(["max_pooled"], {"input": imagenet_tensor(pixels)})
        photos[photo.name] = {"input": relative, "embedding": to_json_floats(l2_normalise(pooled[0]))}
        log.info("resnet50-random %s: embedding computed", photo.name)

    # A few generated values let a port of the generator find its first mismatch.
    generator_samples = {
        name: to_json_floats(weights[name].reshape(-1)[:4])
        for name in ("conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var", "layer4.2.conv3.weight")
    }

    return {
        "input_size": RESNET_SIZE,
        "weights": "deterministic random weights in torchvision resnet50 layout, generated as described in README.md",
        "weight_samples": generator_samples,
        "preprocessing": RESNET_PREPROCESSING,
        "pooling": "global max pool of the layer4 output (2048 x 7 x 7), then L2 normalisation",
        "photos": photos,
    }


def format_json(value: object, depth: int = 0) -> str:
    """Serialise like ``json.dumps(indent=1)``, but keep each list of numbers on one line."""
    indent = " " * (depth + 1)
    closing = " " * depth

    if isinstance(value, dict):
        items = [f"{indent}{json.dumps(key)}: {format_json(item, depth + 1)}" for key, item in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + closing + "}"

    if isinstance(value, list) and not all(isinstance(item, (int, float)) for item in value):
        items = [f"{indent}{format_json(item, depth + 1)}" for item in value]
        return "[\n" + ",\n".join(items) + "\n" + closing + "]"

    return json.dumps(value)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    log.setLevel(logging.DEBUG if args.verbose else logging.INFO)

    INPUTS.mkdir(exist_ok=True)

    failures: list[str] = []
    models = {variant.name: run_lite(variant, failures) for variant in LITE_VARIANTS}
    models["resnet50-random"] = run_resnet()

    document = {
        "generated_by": "crates/fashion-core/tests/reference/make_reference.py",
        "input_paths_relative_to": "crates/fashion-core/tests/reference",
        "versions": {
            "python": sys.version.split()[0],
            "numpy": np.__version__,
            "onnx": onnx.__version__,
            "onnxruntime": ort.__version__,
            "pillow": Image.__version__,
            "onnx_opset": ONNX_OPSET,
        },
        "runtime": "onnxruntime CPUExecutionProvider, graph optimisations disabled, 1 thread",
        "resize": RESIZE,
        "embedding_dtype": "float32, printed with 9 significant digits",
        "models": models,
    }
    (HERE / "embeddings.json").write_text(format_json(document) + "\n")
    log.info("wrote %s", HERE / "embeddings.json")

    if failures:
        for failure in failures:
            log.error("%s", failure)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
