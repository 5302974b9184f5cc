"""Column tables: equal-length numpy arrays by name, the per-flow tables of a run.

A run's per-flow metrics, quality windows and loss breakdown, and the packet
and event columns its report draws, are tables that scoring builds from numpy
arrays and the report reads column by column. ``Columns`` holds one: a dict
of one-dimensional numpy arrays of one length, in column order, with the few
operations scoring and the report use (column access, adding columns, rows
by mask, index or sort order, rows per distinct key, a left join on a key)
and conversion from and to ``pyarrow.Table``.

Why not pandas: importing it costs a run about 0.2 s, more than these small
tables' work; numpy and pyarrow are loaded anyway. Why not ``pyarrow.Table``
itself: selecting and sorting its rows needs ``pyarrow.compute`` (about
30 ms to import), and its columns do not take numpy's arithmetic.

Text columns are numpy object arrays of ``str`` (None where missing), and
become Arrow ``large_string`` columns, as pandas writes them. Arrow data is
converted by ``voipbed.arrow_numpy``: pyarrow's own conversions import
pandas. A ``Columns`` does not change: each operation returns a new one,
sharing the arrays it kept, and the arrays it hands out are read-only views.
"""

from __future__ import annotations

from collections.abc import ItemsView, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from voipbed.arrow_numpy import from_numpy, from_strings, to_numpy

__all__ = ["Columns"]

Array = npt.NDArray[Any]
Rows = npt.NDArray[np.integer[Any]] | npt.NDArray[np.bool_] | slice


class Columns:
    """Named one-dimensional numpy arrays of one length (the rows), in column order.

    ``len()`` is the number of rows, as for a ``pyarrow.Table``. A scalar
    value is repeated over the rows; text (numpy ``str`` arrays, lists of
    ``str``) is kept as an object array.
    """

    __slots__ = ("_arrays", "_rows")

    def __init__(self, arrays: Mapping[str, npt.ArrayLike] | None = None, *, rows: int = 0) -> None:
        """Columns from ``arrays``; ``rows`` is the length when every value is a scalar (or none
        is given). Raises ``ValueError`` for arrays of different lengths or more than one dimension.
        """
        values = {str(name): _as_array(value) for name, value in (arrays or {}).items()}
        lengths = {name: value.shape[0] for name, value in values.items() if value.ndim == 1}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"columns of different lengths: {lengths}")
        self._rows = next(iter(lengths.values()), rows)
        self._arrays = {name: _column(value, self._rows, name) for name, value in values.items()}

    @classmethod
    def from_arrow(cls, table: pa.Table) -> Columns:
        """The columns of an Arrow table: numbers as numpy arrays (zero-copy where Arrow allows),
        dictionary-encoded and string columns as object arrays of ``str`` (None where null)."""
        return cls(
            {name: to_numpy(table.column(name)) for name in table.column_names},
            rows=table.num_rows,
        )

    @classmethod
    def from_records(cls, records: Sequence[Mapping[str, Any]]) -> Columns:
        """One row per record, columns in the order their names first appear (see
        ``from_lists``; a name a record lacks is None there)."""
        names = dict.fromkeys(name for record in records for name in record)
        lists = {name: [record.get(name) for record in records] for name in names}
        return cls.from_lists(lists, rows=len(records))

    @classmethod
    def from_lists(cls, lists: Mapping[str, Sequence[Any]], *, rows: int = 0) -> Columns:
        """Columns of Python values: a column of numbers becomes a numpy array of numbers
        (None in it NaN), any other an object array of its values (a list stays one value)."""
        columns: dict[str, npt.ArrayLike] = {}
        for name, values in lists.items():
            present = [value for value in values if value is not None]
            numeric = bool(present) and all(isinstance(v, int | float) for v in present)
            if numeric and len(present) < len(values):
                values = [np.nan if value is None else value for value in values]
            columns[name] = np.asarray(values) if numeric else _objects(values)
        return cls(columns, rows=rows)

    def to_arrow(self) -> pa.Table:
        """An Arrow table of these columns: text as ``large_string``, and NaN in a column of
        floats as null, as ``pyarrow.Table.from_pandas`` writes a DataFrame."""
        arrays = [_to_arrow(values) for values in self._arrays.values()]
        return pa.Table.from_arrays(arrays, names=list(self._arrays))

    @property
    def names(self) -> tuple[str, ...]:
        """The column names, in order."""
        return tuple(self._arrays)

    def __len__(self) -> int:
        return self._rows

    def __contains__(self, name: object) -> bool:
        return name in self._arrays

    def __getitem__(self, name: str) -> Array:
        try:
            return self._arrays[name]
        except KeyError:
            raise KeyError(f"no column {name!r} among {list(self._arrays)}") from None

    def __repr__(self) -> str:
        return f"Columns({self._rows} rows: {', '.join(self._arrays)})"

    def get(self, name: str, default: Array | None = None) -> Array | None:
        """The column ``name``, or ``default`` when there is none."""
        return self._arrays.get(name, default)

    def items(self) -> ItemsView[str, Array]:
        """(name, array) of every column, in order."""
        return self._arrays.items()

    def with_columns(self, arrays: Mapping[str, npt.ArrayLike]) -> Columns:
        """These columns with ``arrays`` added at the end, or replacing those of the same name
        in place."""
        return Columns({**self._arrays, **arrays}, rows=self._rows)

    def select(self, names: Iterable[str]) -> Columns:
        """The columns ``names``, in that order."""
        return Columns({name: self[name] for name in names}, rows=self._rows)

    def take(self, rows: Rows) -> Columns:
        """The rows ``rows`` selects: a boolean mask, row indices (in their order) or a slice."""
        count = _count(rows, self._rows)  # checks a mask's length first
        picked = {name: values[rows] for name, values in self._arrays.items()}
        return Columns(picked, rows=count)

    def head(self, count: int) -> Columns:
        """The first ``count`` rows."""
        return self.take(slice(0, count))

    def order(self, keys: Sequence[str], *, nan_first: bool = False) -> npt.NDArray[np.intp]:
        """Row indices that sort by ``keys`` (the first decides, ties go to the next), stably.

        NaN sorts after every number, or before with ``nan_first``.
        """
        sort_keys: list[Array] = []
        for name in reversed(keys):  # np.lexsort: the last key is the primary one
            values = self[name]
            sort_keys.append(values)
            if nan_first and values.dtype.kind == "f":
                sort_keys.append(~np.isnan(values))
        if not sort_keys:
            return np.arange(self._rows)
        return np.lexsort(sort_keys)

    def sort_by(self, keys: Sequence[str], *, nan_first: bool = False) -> Columns:
        """The rows sorted by ``keys`` (see ``order``)."""
        return self.take(self.order(keys, nan_first=nan_first))

    def group_by(self, key: str) -> dict[Any, Columns]:
        """The rows of each distinct value of column ``key``, in the rows' order, by sorted value.

        The values are Python scalars (``int``, ``float``, ``str``).
        """
        values, inverse = np.unique(self[key], return_inverse=True)
        order = np.argsort(inverse, kind="stable")
        ends = np.cumsum(np.bincount(inverse, minlength=values.size))
        starts = ends - np.bincount(inverse, minlength=values.size)
        return {
            value: self.take(order[start:end])
            for value, start, end in zip(values.tolist(), starts, ends, strict=True)
        }

    def join(self, other: Columns, on: str) -> Columns:
        """These rows with ``other``'s columns beside them, matched on column ``on``: a left
        join. ``other`` has at most one row per value; where it has none, a column of numbers
        gets NaN (and becomes one of floats), any other column None."""
        where_in_other = {key: row for row, key in enumerate(other[on].tolist())}
        if len(where_in_other) < len(other):
            raise ValueError(f"join: {on!r} repeats in the joined table")
        where = np.array([where_in_other.get(key, -1) for key in self[on].tolist()], np.intp)
        found = where >= 0
        added: dict[str, npt.ArrayLike] = {}
        for name, values in other.items():
            if name == on:
                continue
            if found.all():
                added[name] = values[where]
                continue
            numeric = values.dtype.kind in "fiub"
            column = np.full(
                self._rows, np.nan if numeric else None, np.float64 if numeric else object
            )
            column[found] = values[where[found]]
            added[name] = column
        return self.with_columns(added)

    def records(self) -> list[dict[str, Any]]:
        """The rows as dicts of Python values, in column order."""
        lists = {name: values.tolist() for name, values in self._arrays.items()}
        return [dict(zip(lists, row, strict=True)) for row in zip(*lists.values(), strict=True)]


def _objects(values: Iterable[Any]) -> Array:
    """An object array of ``values`` (never a 2-D array, whatever the values are)."""
    items = list(values)
    array = np.empty(len(items), dtype=object)
    array[:] = items
    return array


def _count(rows: Rows, length: int) -> int:
    """How many rows ``rows`` picks out of ``length``."""
    if isinstance(rows, slice):
        return len(range(*rows.indices(length)))
    if rows.dtype == np.bool_:
        if rows.shape != (length,):
            raise ValueError(f"a mask of {rows.shape[0]} rows for a table of {length}")
        return int(np.count_nonzero(rows))
    return int(rows.shape[0])


def _as_array(value: npt.ArrayLike) -> Array:
    array = np.asarray(value)
    return array.astype(object) if array.dtype.kind in "US" else array


def _column(array: Array, rows: int, name: str) -> Array:
    """A read-only one-dimensional view of ``array``, a scalar repeated over ``rows``."""
    if array.ndim == 0:
        array = np.full(rows, array.item(), dtype=array.dtype)
    elif array.ndim != 1:
        raise ValueError(f"column {name!r} has {array.ndim} dimensions, not 1")
    view = array.view()
    view.flags.writeable = False
    return view


def _to_arrow(values: Array) -> pa.Array:
    """A column as an Arrow array: text as ``large_string``, NaN among floats as null."""
    if values.dtype.kind == "f":
        nan = np.isnan(values)
        return from_numpy(values, pa.from_numpy_dtype(values.dtype), nan if nan.any() else None)
    if values.dtype.kind in "iub":
        return from_numpy(values, pa.from_numpy_dtype(values.dtype))
    if all(isinstance(value, str) or value is None for value in values.tolist()):
        return from_strings(values.tolist(), large=True)
    raise TypeError(f"no Arrow type for a column of {values.dtype} values")
