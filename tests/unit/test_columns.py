"""Column tables and their Arrow conversions agree with pyarrow's own, without pandas."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from voipbed.arrow_numpy import dictionary_codes, from_numpy, from_strings, to_numpy
from voipbed.columns import Columns

NUMBER_TYPES = [pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8(), pa.float64()]


@given(
    st.sampled_from(NUMBER_TYPES),
    st.lists(st.integers(-100, 100), max_size=40),
    st.lists(st.booleans(), min_size=40, max_size=40),
    st.integers(0, 10),
    st.integers(0, 10),
)
def test_numbers_read_back_as_pyarrow_reads_them(
    type: pa.DataType, values: list[int], nulls: list[bool], start: int, cut: int
) -> None:
    """Integers and floats, with nulls, in a slice (an offset into the buffers), built and read
    back here equal pyarrow's own array and its own conversion to numpy."""
    given_values = np.abs(values) if pa.types.is_unsigned_integer(type) else np.array(values)
    mask = np.array(nulls[: len(values)], dtype=np.bool_)
    built = from_numpy(given_values, type, mask)
    expected = pa.array(given_values, type=type, mask=mask)
    assert built.equals(expected)
    part = expected.slice(min(start, len(values)), max(len(values) - start - cut, 0))
    np.testing.assert_array_equal(to_numpy(part), part.to_numpy(zero_copy_only=False))


@given(st.lists(st.booleans(), max_size=70), st.integers(0, 9))
def test_booleans_pack_and_unpack_at_any_offset(values: list[bool], start: int) -> None:
    """Booleans are packed as Arrow bits and read back from any bit offset."""
    built = from_numpy(np.array(values, dtype=np.bool_), pa.bool_())
    assert built.equals(pa.array(values, type=pa.bool_()))
    part = built.slice(min(start, len(values)))
    np.testing.assert_array_equal(to_numpy(part), np.array(values[start:], dtype=np.bool_))


def test_an_integer_that_does_not_fit_is_refused() -> None:
    """A value an integer type cannot hold raises, as pyarrow.array does."""
    with pytest.raises(ValueError, match="do not fit"):
        from_numpy(np.array([1, 300]), pa.uint8())
    with pytest.raises(ValueError, match="do not fit"):
        from_numpy(np.array([1.5]), pa.int32())


def test_strings_and_dictionaries_decode_to_text_with_none_for_null() -> None:
    """Strings (UTF-8, nulls) and dictionary-encoded strings read back as str and None."""
    text = ["uplink", None, "ünïcode", ""]
    built = from_strings(text, large=True)
    assert built.equals(pa.array(text, type=pa.large_string()))
    assert to_numpy(built).tolist() == text
    encoded = pa.DictionaryArray.from_arrays(
        pa.array([1, None, 0, 1], type=pa.int16()), from_strings(["radio", "core"])
    )
    names, codes = dictionary_codes(pa.chunked_array([encoded.slice(0, 2), encoded.slice(2)]))
    assert names == ["radio", "core"] and codes.tolist() == [1, -1, 0, 1]
    assert to_numpy(encoded.slice(1)).tolist() == [None, "radio", "core"]


def test_arrow_round_trip_writes_nan_as_null_and_text_as_large_string() -> None:
    """A table written to Arrow keeps integer widths, turns float NaN into null and text into
    large_string, and reads back as it was."""
    table = Columns(
        {
            "call": np.array([0, 1, 2], dtype=np.int32),
            "direction": ["uplink", "downlink", "uplink"],
            "mos": [4.2, np.nan, 1.0],
            "ce": [True, False, True],
        }
    )
    arrow = table.to_arrow()
    assert arrow.schema.types == [pa.int32(), pa.large_string(), pa.float64(), pa.bool_()]
    assert arrow.column("mos").null_count == 1
    back = Columns.from_arrow(arrow)
    assert back.names == table.names
    assert back["direction"].tolist() == ["uplink", "downlink", "uplink"]
    np.testing.assert_array_equal(back["mos"], table["mos"])
    assert back["call"].dtype == np.int32 and back["ce"].dtype == np.bool_


def test_columns_of_different_lengths_or_shapes_are_refused() -> None:
    """Every column has the same number of rows and one dimension; a scalar fills the rows."""
    with pytest.raises(ValueError, match="different lengths"):
        Columns({"a": [1, 2], "b": [1]})
    with pytest.raises(ValueError, match="dimensions"):
        Columns({"a": np.zeros((2, 2))})
    filled = Columns({"a": [1, 2, 3], "kind": "rrc"})
    assert len(filled) == 3 and filled["kind"].tolist() == ["rrc"] * 3


def test_columns_do_not_change() -> None:
    """The arrays a table hands out are read-only, and adding a column makes a new table."""
    table = Columns({"a": np.arange(3)})
    with pytest.raises(ValueError, match="read-only"):
        table["a"][0] = 5
    wider = table.with_columns({"b": [1.0, 2.0, 3.0]})
    assert table.names == ("a",) and wider.names == ("a", "b")


def test_sorting_is_stable_and_puts_nan_where_asked() -> None:
    """Rows sort by the first key, then the next; NaN last, or first with nan_first; ties keep
    their order."""
    table = Columns({"mos": [3.0, np.nan, 2.0, 3.0], "flow": [7, 5, 6, 4], "row": [0, 1, 2, 3]})
    assert table.sort_by(["mos"])["row"].tolist() == [2, 0, 3, 1]
    assert table.sort_by(["mos"], nan_first=True)["row"].tolist() == [1, 2, 0, 3]
    assert table.sort_by(["mos", "flow"])["row"].tolist() == [2, 3, 0, 1]


def test_rows_by_mask_index_and_slice() -> None:
    """take picks rows by a mask, by indices in their order, or by a slice."""
    table = Columns({"a": [10, 20, 30, 40]})
    assert table.take(table["a"] > 15)["a"].tolist() == [20, 30, 40]
    assert table.take(np.array([3, 0]))["a"].tolist() == [40, 10]
    assert len(table.head(2)) == 2 and len(table.head(9)) == 4
    with pytest.raises(ValueError, match="mask"):
        table.take(np.array([True, False]))


def test_group_by_gives_sorted_keys_and_rows_in_order() -> None:
    """Groups come by sorted key, each with its rows in the table's order."""
    table = Columns({"direction": ["uplink", "downlink", "uplink"], "sent": [1, 2, 3]})
    groups = table.group_by("direction")
    assert list(groups) == ["downlink", "uplink"]
    assert groups["uplink"]["sent"].tolist() == [1, 3]
    assert Columns({"k": np.empty(0, dtype=np.int64)}).group_by("k") == {}


def test_left_join_fills_what_the_other_table_lacks() -> None:
    """Each row gets the other table's columns for its key: NaN for numbers it lacks, None for
    text; a key repeated in the other table is an error."""
    metrics = Columns({"flow": [0, 1, 2], "mos": [4.0, 3.0, 2.0]})
    pesq = Columns.from_records(
        [{"flow": 2, "pesq_mos_lqo": 3.5, "note": "ok"}, {"flow": 0, "pesq_mos_lqo": None}]
    )
    joined = metrics.join(pesq, on="flow")
    assert joined.names == ("flow", "mos", "pesq_mos_lqo", "note")
    np.testing.assert_array_equal(joined["pesq_mos_lqo"], [np.nan, np.nan, 3.5])
    assert joined["note"].tolist() == [None, None, "ok"]
    with pytest.raises(ValueError, match="repeats"):
        metrics.join(Columns({"flow": [1, 1]}), on="flow")


def test_records_are_rows_of_python_values() -> None:
    """records gives one dict per row, in column order, of Python values."""
    table = Columns({"call": np.array([3], dtype=np.int32), "direction": ["uplink"]})
    assert table.records() == [{"call": 3, "direction": "uplink"}]
    assert type(table.records()[0]["call"]) is int
