"""Reading Paddle's inference files without paddle: what a program (legacy ``.pdmodel`` protobuf or PIR ``.json``)
says about itself, and the combined ``.pdiparams`` tensor stream.

The combined file stores the program's persistable variables one after another, sorted by name, each as a
serialized LoDTensor: version (u32), LoD levels (u64, each a u64 size + data), tensor version (u32), the size of a
``TensorDesc`` protobuf (i32) and the protobuf (dtype, dims), then the raw little-endian data.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ocrtrain.models.weights import WeightsError

# paddle's VarType codes for the dtypes weights come in
_DTYPES = {2: np.int32, 3: np.int64, 4: np.float16, 5: np.float32, 6: np.float64}


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = buf[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i


def _proto_fields(buf: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) of a protobuf message: ints for varints, bytes otherwise."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        wire = key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 2:
            length, i = _varint(buf, i)
            if i + length > len(buf):
                raise ValueError("a field runs past the end")
            value, i = buf[i : i + length], i + length
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            value, i = buf[i : i + size], i + size
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield key >> 3, value


def _signed(value: int) -> int:
    """An int64 field, which protobuf stores as an unsigned varint (two's complement)."""
    return value - (1 << 64) if value >= 1 << 63 else value


def _tensor_desc(buf: bytes) -> tuple[int | None, list[int]]:
    """(dtype code, dims) of a ``TensorDesc``; dims may come packed or one field each."""
    dtype, dims = None, []
    for field, value in _proto_fields(buf):
        if field == 1:
            dtype = value
        elif field == 2 and isinstance(value, bytes):
            j = 0
            while j < len(value):
                dim, j = _varint(value, j)
                dims.append(_signed(dim))
        elif field == 2:
            dims.append(_signed(value))
    return dtype, dims


@dataclass(frozen=True)
class ProgramGraph:
    """What an inference program says about itself."""

    output_shape: list[int]  # of the fetched output, -1 = dynamic
    params: list[tuple[str, list[int]]]  # persistable (name, shape), sorted by name as .pdiparams stores them

    @property
    def param_names(self) -> list[str]:
        return [name for name, _ in self.params]


def _legacy_program(buf: bytes) -> ProgramGraph:
    block0 = next(v for f, v in _proto_fields(buf) if f == 1)  # ProgramDesc.blocks[0]
    shapes: dict[str, list[int]] = {}
    persistable, fetched = [], []
    for field, value in _proto_fields(block0):
        if field == 3:  # BlockDesc.vars: VarDesc name (1), type (2), persistable (3)
            var = dict(_proto_fields(value))
            name = var[1].decode()
            dense = dict(
                _proto_fields(dict(_proto_fields(var.get(2, b""))).get(3, b""))
            )  # VarType.dense_tensor
            shapes[name] = _tensor_desc(dense.get(1, b""))[1]
            if var.get(3) and name not in ("feed", "fetch"):
                persistable.append(name)
        elif field == 4:  # BlockDesc.ops: OpDesc type (3), inputs (1: parameter, arguments)
            op = list(_proto_fields(value))
            if any(f == 3 and v == b"fetch" for f, v in op):
                first_input = next(v for f, v in op if f == 1)
                fetched.append(next(v for f, v in _proto_fields(first_input) if f == 2).decode())
    return ProgramGraph(shapes[fetched[0]], [(name, shapes[name]) for name in sorted(persistable)])


def _pir_program(buf: bytes) -> ProgramGraph:
    ops = json.loads(buf)["program"]["regions"][0]["blocks"][0]["ops"]
    params = sorted((op["A"][3], list(op["O"]["TT"]["D"][1])) for op in ops if op["#"] == "p")
    fetch = next(op for op in ops if op["#"].endswith(".fetch"))
    return ProgramGraph(list(fetch["O"][0]["TT"]["D"][1]), params)


def read_program(path: Path) -> ProgramGraph:
    """The output shape and parameters of a Paddle inference program: PIR ``.json``, else legacy ``.pdmodel``."""
    buf = Path(path).read_bytes()
    if not buf:
        raise WeightsError(f"{path}: empty file")
    try:
        return _pir_program(buf) if Path(path).suffix == ".json" else _legacy_program(buf)
    except (
        ValueError,
        IndexError,
        KeyError,
        TypeError,
        StopIteration,
        AttributeError,
        UnicodeDecodeError,
    ) as e:
        raise WeightsError(
            f"{path}: damaged or not a Paddle inference program ({type(e).__name__}: {e})"
        ) from e


def _read_one(buf: bytes, pos: int) -> tuple[np.ndarray, int]:
    pos += 4  # LoDTensor version
    (lod_levels,) = struct.unpack_from("<Q", buf, pos)
    pos += 8
    for _ in range(lod_levels):
        (size,) = struct.unpack_from("<Q", buf, pos)
        pos += 8 + size
    pos += 4  # Tensor version
    (desc_size,) = struct.unpack_from("<i", buf, pos)
    pos += 4
    if desc_size < 0 or pos + desc_size > len(buf):
        raise ValueError(f"tensor description of {desc_size} bytes at offset {pos}")
    dtype, dims = _tensor_desc(buf[pos : pos + desc_size])
    pos += desc_size
    if dtype not in _DTYPES:
        raise ValueError(f"unsupported tensor dtype code {dtype} at offset {pos}")
    dt = np.dtype(_DTYPES[dtype])
    count = int(np.prod(dims)) if dims else 1
    if pos + count * dt.itemsize > len(buf):
        raise ValueError(f"a tensor of shape {dims} runs past the end of the file")
    return np.frombuffer(buf, dt, count, pos).reshape(dims).copy(), pos + count * dt.itemsize


def read_combined_params(pdiparams: Path, names: list[str]) -> dict[str, np.ndarray]:
    """The tensors of a combined ``.pdiparams`` file, named by ``names`` (the program's sorted persistables)."""
    buf = pdiparams.read_bytes()
    pos, tensors = 0, []
    try:
        while pos < len(buf):
            tensor, pos = _read_one(buf, pos)
            tensors.append(tensor)
    except (struct.error, ValueError, IndexError) as e:
        raise WeightsError(
            f"{pdiparams}: damaged or not a Paddle parameters file ({type(e).__name__}: {e})"
        ) from e
    if len(names) != len(tensors):
        raise WeightsError(
            f"{pdiparams}: damaged or not this program's parameters file "
            f"({len(tensors)} tensors, the program has {len(names)} parameters)"
        )
    return dict(zip(names, tensors, strict=True))
