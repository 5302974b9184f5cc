"""Human units to SI floats (and back): durations, bit rates, sizes, ratios."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from voipbed.units import (
    MAX_DURATION_S,
    UnitError,
    format_bytes,
    format_duration,
    format_rate,
    format_ratio,
    parse_bytes,
    parse_duration,
    parse_rate,
    parse_ratio,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("20ms", 0.020),
        ("1.5s", 1.5),
        ("2min", 120.0),
        ("1h", 3600.0),
        ("250us", 250e-6),
        ("250µs", 250e-6),
        ("100ns", 100e-9),
        ("3sec", 3.0),
        (" 40 ms ", 0.040),
        ("1e3ms", 1.0),
        (".5s", 0.5),
    ],
)
def test_parse_duration_reads_each_unit_to_seconds(text: str, seconds: float) -> None:
    """Every duration unit scales to seconds; spaces around and inside are allowed."""
    assert parse_duration(text) == pytest.approx(seconds, rel=1e-15)


@pytest.mark.parametrize("zero", [0, 0.0, "0", "0.0", "0ms"])
def test_parse_duration_accepts_zero_without_unit(zero: object) -> None:
    """Zero needs no unit: ``0`` and ``'0'`` are zero seconds."""
    assert parse_duration(zero) == 0.0


@pytest.mark.parametrize("bare", [5, 0.02, "5", "20", "1e3"])
def test_parse_duration_rejects_bare_nonzero_number(bare: object) -> None:
    """A non-zero duration without a unit is ambiguous and raises, naming the value."""
    with pytest.raises(UnitError, match=r"has no unit; a duration needs one"):
        parse_duration(bare)


@pytest.mark.parametrize(
    ("text", "bps"),
    [
        ("64kbps", 64_000.0),
        ("64Kbps", 64_000.0),
        ("10Mbps", 10e6),
        ("1Gbps", 1e9),
        ("1Gbit/s", 1e9),
        ("12.2kbit/s", 12_200.0),
        ("300bps", 300.0),
        ("2MBps", 16e6),
        ("1kBps", 8_000.0),
    ],
)
def test_parse_rate_is_decimal_with_bytes_as_eight_bits(text: str, bps: float) -> None:
    """Rate prefixes are decimal (1 kbps = 1000 bit/s) and byte rates count 8 bits each."""
    assert parse_rate(text) == pytest.approx(bps, rel=1e-15)


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ("64KiB", 65_536.0),
        ("1MiB", 1_048_576.0),
        ("1GiB", 1_073_741_824.0),
        ("1kB", 1_000.0),
        ("1KB", 1_000.0),
        ("1MB", 1e6),
        ("1500B", 1500.0),
        (1500, 1500.0),
        (0, 0.0),
    ],
)
def test_parse_bytes_si_is_decimal_and_iec_is_binary(value: object, size: float) -> None:
    """``kB`` is 1000 bytes, ``KiB`` is 1024; a bare integer counts bytes."""
    assert parse_bytes(value) == size


@pytest.mark.parametrize(
    ("value", "ratio"),
    [("2%", 0.02), ("0.5%", 0.005), ("0%", 0.0), ("100%", 1.0), (0.02, 0.02), (0, 0.0), (1, 1.0)],
)
def test_parse_ratio_reads_percentages_and_fractions(value: object, ratio: float) -> None:
    """A ratio is a percentage string or a bare fraction, both giving a value in [0, 1]."""
    assert parse_ratio(value) == pytest.approx(ratio, rel=1e-15)


@pytest.mark.parametrize(
    ("parse", "value"),
    [
        (parse_duration, "5parsecs"),
        (parse_duration, "5m"),
        (parse_rate, "5 mbps"),
        (parse_rate, "10MiBps"),
        (parse_bytes, "64kib"),
        (parse_bytes, "1Kib"),
    ],
)
def test_unknown_unit_is_an_error_listing_known_units(
    parse: Callable[[object], float], value: str
) -> None:
    """An unknown unit (units are case-sensitive) is named along with the known ones."""
    with pytest.raises(UnitError, match=r"unknown unit .* \(known: "):
        parse(value)


@pytest.mark.parametrize("parse", [parse_duration, parse_rate, parse_bytes, parse_ratio])
@pytest.mark.parametrize("value", [True, False, None, [1], {"ms": 1}, "", "ms", "fast", "1.2.3s"])
def test_non_quantities_are_rejected_by_every_parser(
    parse: Callable[[object], float], value: object
) -> None:
    """Booleans, None, containers and unreadable text are never quantities."""
    with pytest.raises(UnitError, match=r"is not a|has no unit|unknown unit"):
        parse(value)


def test_unit_error_is_a_value_error_naming_the_value_and_kind() -> None:
    """``UnitError`` is a ``ValueError`` whose message quotes the value and shows an example."""
    with pytest.raises(ValueError, match=r"^True is not a bit rate \(write it like '64kbps'"):
        parse_rate(True)


@pytest.mark.parametrize("value", [-0.1, "-1%", 1.5, "101%", "100.5%"])
def test_parse_ratio_rejects_values_outside_zero_to_one(value: object) -> None:
    """A negative ratio and one above 100 % are errors."""
    with pytest.raises(UnitError, match="is not a ratio between 0% and 100%"):
        parse_ratio(value)


@pytest.mark.parametrize("parse", [parse_ratio, parse_duration, parse_rate, parse_bytes])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), 10**400, "1e400%"])
def test_parsers_refuse_what_is_not_a_finite_number(
    parse: Callable[[object], float], value: object
) -> None:
    """NaN, infinities and integers beyond a float's range are errors, not values."""
    with pytest.raises(UnitError, match="is not a finite number"):
        parse(value)


def test_long_values_are_cut_in_messages() -> None:
    """A huge value is quoted in part, so that the message stays one line."""
    with pytest.raises(UnitError) as caught:
        parse_duration("9" * 5000 + "ms")
    assert len(str(caught.value)) < 120


def test_durations_end_at_a_week() -> None:
    """A week is the longest duration; a timer of 1e300 s is refused, not carried."""
    assert parse_duration("168h") == MAX_DURATION_S
    with pytest.raises(UnitError, match="longer than a week"):
        parse_duration("1e300s")


def test_parse_ratio_rejects_units_other_than_percent() -> None:
    """Only ``%`` is a ratio unit."""
    with pytest.raises(UnitError, match="is not a percentage"):
        parse_ratio("2ms")


def test_overflowing_quantity_is_an_error() -> None:
    """A value that scales to infinity is rejected instead of becoming ``inf``."""
    with pytest.raises(UnitError, match="too large"):
        parse_rate("1e308Gbps")


def test_negative_quantities_parse_for_the_caller_to_reject() -> None:
    """Parsers return negative values as written; the scenario decides they are errors."""
    assert parse_duration("-5ms") == pytest.approx(-0.005)


@pytest.mark.parametrize(
    ("format_", "value", "text"),
    [
        (format_duration, 0.04, "40.0ms"),
        (format_duration, 1.5, "1.5s"),
        (format_duration, 0.0, "0.0s"),
        (format_rate, 2e6, "2.0Mbps"),
        (format_rate, 64_000.0, "64.0kbps"),
        (format_bytes, 1500.0, "1500.0B"),
        (format_ratio, 0.005, "0.5%"),
        (format_ratio, 1.0, "100.0%"),
    ],
)
def test_format_picks_the_largest_readable_unit(
    format_: Callable[[float], str], value: float, text: str
) -> None:
    """Formatters write the value in the largest unit in which it is at least 1."""
    assert format_(value) == text


@given(st.floats(min_value=0.0, max_value=MAX_DURATION_S))
def test_duration_round_trips_exactly(seconds: float) -> None:
    """``parse_duration(format_duration(x)) == x`` for every duration up to a week."""
    assert parse_duration(format_duration(seconds)) == seconds


@given(st.floats(min_value=1.0, max_value=1e12))
def test_rate_round_trips_exactly(bps: float) -> None:
    """``parse_rate(format_rate(x)) == x`` for every rate from 1 bit/s to 1 Tbit/s."""
    assert parse_rate(format_rate(bps)) == bps


@given(st.floats(min_value=0.0, max_value=1e12))
def test_bytes_round_trip_exactly(size: float) -> None:
    """``parse_bytes(format_bytes(x)) == x`` for every size up to 1e12 bytes."""
    assert parse_bytes(format_bytes(size)) == size


@given(st.floats(min_value=0.0, max_value=1.0))
def test_ratio_round_trips_exactly(ratio: float) -> None:
    """``parse_ratio(format_ratio(x)) == x`` for every ratio in [0, 1], however many digits."""
    assert parse_ratio(format_ratio(ratio)) == ratio
