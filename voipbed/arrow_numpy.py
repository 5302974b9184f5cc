"""Arrow arrays from numpy arrays and back, without pandas.

pyarrow's own conversions, ``pyarrow.array`` of a numpy array or a list and
``to_numpy`` of an array, import pandas whenever it is installed (to
recognise pandas' types): about 0.2 s of a simulator run, which needs none
of it. These functions build an array from numpy buffers
(``pyarrow.Array.from_buffers``) and read an array's buffers back as numpy
arrays, which pyarrow does without pandas; numbers read back are zero-copy,
read-only views of the Arrow data.

They cover the types a trace and the per-flow tables hold: signed and
unsigned integers, floats, booleans, strings and dictionary-encoded strings.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

__all__ = ["dictionary_codes", "from_numpy", "from_strings", "to_numpy"]

Array = npt.NDArray[Any]
BoolArray = npt.NDArray[np.bool_]


def from_numpy(values: npt.ArrayLike, type: pa.DataType, mask: BoolArray | None = None) -> pa.Array:
    """``values`` as an Arrow array of ``type`` (an integer, float or boolean type), null where
    ``mask`` is True.

    Raises ``ValueError`` when an integer type cannot hold a value exactly, as
    ``pyarrow.array`` does.
    """
    given = np.asarray(values)
    if given.ndim != 1:
        raise ValueError(f"an Arrow array needs one dimension, not {given.ndim}")
    size = given.shape[0]
    if pa.types.is_boolean(type):
        data = np.packbits(given.astype(np.bool_), bitorder="little")
    else:
        dtype = _numpy_dtype(type)
        data = np.ascontiguousarray(given.astype(dtype, copy=False))
        if dtype.kind in "iu" and not np.array_equal(data, given):
            raise ValueError(f"values do not fit Arrow type {type}")
    validity, nulls = None, 0
    if mask is not None:
        nulls = int(np.count_nonzero(mask))
        validity = pa.py_buffer(np.packbits(~np.asarray(mask, dtype=np.bool_), bitorder="little"))
    return pa.Array.from_buffers(type, size, [validity, pa.py_buffer(data)], null_count=nulls)


def from_strings(values: Sequence[str | None], *, large: bool = False) -> pa.Array:
    """``values`` as an Arrow ``string`` array (``large_string`` if ``large``), UTF-8, null
    where a value is None."""
    encoded = [b"" if value is None else value.encode("utf-8") for value in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64 if large else np.int32)
    np.cumsum([len(value) for value in encoded], out=offsets[1:])
    missing = np.array([value is None for value in values], dtype=np.bool_)
    validity, nulls = None, int(np.count_nonzero(missing))
    if nulls:
        validity = pa.py_buffer(np.packbits(~missing, bitorder="little"))
    return pa.Array.from_buffers(
        pa.large_string() if large else pa.string(),
        len(encoded),
        [validity, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))],
        null_count=nulls,
    )


def to_numpy(array: pa.Array | pa.ChunkedArray) -> Array:
    """An Arrow array as a numpy array.

    Numbers are a zero-copy view where there are no nulls; with nulls, a copy
    with NaN there (integers become floats). Booleans are unpacked; strings
    (plain or dictionary-encoded) become an object array of ``str``, None
    where null.
    """
    array = _one_chunk(array)
    if pa.types.is_dictionary(array.type):
        names, codes = dictionary_codes(array)
        decoded: Array = np.array([*names, None], dtype=object)[codes]  # code -1: None
        return decoded
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        text = np.empty(len(array), dtype=object)
        text[:] = array.to_pylist()
        return text
    if pa.types.is_boolean(array.type):
        values = _bits(array.buffers()[1], array.offset, len(array))
    else:
        values = _fixed(array, _numpy_dtype(array.type))
    if array.null_count == 0:
        return values
    filled = values.astype(np.float64)
    filled[~_valid(array)] = np.nan
    return filled


def dictionary_codes(
    array: pa.Array | pa.ChunkedArray,
) -> tuple[list[str], npt.NDArray[np.signedinteger[Any]]]:
    """A dictionary-encoded Arrow array's names, and each row's code (-1 where null).

    The codes keep the indices' width when they are signed (a read-only view
    when nothing is null), so a column of millions of rows costs little.
    """
    array = _one_chunk(array)
    indices = array.indices
    codes = _fixed(indices, _numpy_dtype(indices.type))
    if codes.dtype.kind == "u" or indices.null_count:  # a copy that can hold -1
        codes = codes.astype(np.int64 if codes.dtype.kind == "u" else codes.dtype)
        codes[~_valid(indices)] = -1
    return [str(name) for name in array.dictionary.to_pylist()], codes


def _one_chunk(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    if not isinstance(array, pa.ChunkedArray):
        return array
    return array.chunk(0) if array.num_chunks == 1 else array.combine_chunks()


def _numpy_dtype(type: pa.DataType) -> np.dtype[Any]:
    """The numpy dtype of an Arrow integer or float type."""
    if pa.types.is_signed_integer(type):
        kind = "i"
    elif pa.types.is_unsigned_integer(type):
        kind = "u"
    elif pa.types.is_floating(type):
        kind = "f"
    else:
        raise TypeError(f"no numpy numbers for Arrow type {type}")
    return np.dtype(f"{kind}{type.bit_width // 8}")


def _fixed(array: pa.Array, dtype: np.dtype[Any]) -> Array:
    """The values buffer of a fixed-width array, as a read-only numpy view."""
    data = array.buffers()[1]
    if len(array) == 0 or data is None:
        return np.empty(0, dtype=dtype)
    return np.frombuffer(data, dtype=dtype, count=array.offset + len(array))[array.offset :]


def _bits(buffer: pa.Buffer | None, offset: int, size: int) -> BoolArray:
    """``size`` bits of an Arrow bitmap from bit ``offset``, as booleans."""
    if buffer is None or size == 0:
        return np.zeros(size, dtype=np.bool_)
    bits = np.unpackbits(np.frombuffer(buffer, dtype=np.uint8), bitorder="little")
    return bits[offset : offset + size].astype(np.bool_)


def _valid(array: pa.Array) -> BoolArray:
    """Which rows of ``array`` are not null."""
    validity = array.buffers()[0]
    if validity is None:
        return np.ones(len(array), dtype=np.bool_)
    return _bits(validity, array.offset, len(array))
