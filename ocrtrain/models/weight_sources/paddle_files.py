"""Reading Paddle's inference files without building a program: the parameter list of a program (legacy
``.pdmodel`` protobuf or PIR ``.json``) and the combined ``.pdiparams`` tensor stream.

The combined file stores the program's persistable variables one after another, sorted by name, each as a
serialized LoDTensor: version (u32), LoD levels (u64, each a u64 size + data), tensor version (u32), the size of a
``TensorDesc`` protobuf (i32) and the protobuf (dtype, dims), then the raw little-endian data.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
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


def legacy_persistable_names(pdmodel: Path) -> list[str]:
    """Names of the persistable variables of block 0 of a legacy ProgramDesc (feed/fetch excluded), sorted."""
    try:
        block0 = next(v for f, v in _proto_fields(pdmodel.read_bytes()) if f == 1)
        names = []
        for field, var in _proto_fields(block0):
            if field != 3:  # BlockDesc.vars
                continue
            attrs = dict(_proto_fields(var))
            name = attrs[1].decode()
            if attrs.get(3) and name not in ("feed", "fetch"):  # VarDesc.persistable
                names.append(name)
    except (ValueError, IndexError, KeyError, StopIteration, AttributeError, UnicodeDecodeError) as e:
        raise WeightsError(f"{pdmodel}: damaged or not a Paddle program ({type(e).__name__}: {e})") from e
    return sorted(names)


def pir_parameter_names(program_json: Path) -> list[str]:
    """Names of the parameters of a PIR program (``inference.json``: the ``p`` ops of its first block), sorted."""
    try:
        program = json.loads(program_json.read_text(encoding="utf-8"))
        ops = program["program"]["regions"][0]["blocks"][0]["ops"]
        return sorted(op["A"][3] for op in ops if op["#"] == "p")
    except (ValueError, KeyError, IndexError, TypeError) as e:
        raise WeightsError(
            f"{program_json}: damaged or not a Paddle PIR program ({type(e).__name__}: {e})"
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
    dtype, dims = None, []
    for field, value in _proto_fields(buf[pos : pos + desc_size]):
        if field == 1:
            dtype = value
        elif field == 2:  # dims: packed or not
            if isinstance(value, bytes):
                j = 0
                while j < len(value):
                    dim, j = _varint(value, j)
                    dims.append(dim)
            else:
                dims.append(value)
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
