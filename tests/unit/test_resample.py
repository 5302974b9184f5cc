"""Polyphase rational resampling: level, frequency and phase of pass-band tones, rejection
of what the new rate cannot carry, output length, alignment and the filter's symmetry.

Bounds come from the filter design (Kaiser window, beta 5): pass-band ripple about
0.02 dB up to 0.84 of the cutoff and at least 53 dB of attenuation from 1.16 of it
(Kaiser's formulas; a denser check of the designed filters gives the same). Tones are
placed inside those bands with a margin, and only the steady part of each output (away
from the first and last filter lengths) is measured.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from voipbed.models.resample import ZERO_CROSSINGS, lowpass_filter, resample_poly

FloatArray = NDArray[np.float64]

RATE_PAIRS_HZ = [(8000, 16000), (16000, 8000), (48000, 8000), (8000, 48000), (22050, 8000)]
PASS_FRACTIONS = (0.02, 0.3, 0.6, 0.8)  # of the lower Nyquist frequency: in the flat pass band
STOP_FRACTIONS = (1.2, 1.5, 1.9)  # of the target Nyquist frequency: in the stop band
MAX_PASS_ERROR_DB = 0.05  # design ripple about 0.02 dB
MIN_STOP_ATTENUATION_DB = 50.0  # design attenuation about 53 dB or more
MAX_PHASE_ERROR_RAD = 1e-3  # linear phase, delay compensated: zero up to the ripple
EDGE_S = 0.02  # longer than any filter here lasts at either end (at most 1.25 ms)


def _ratio(from_hz: int, to_hz: int) -> tuple[int, int]:
    common = int(np.gcd(from_hz, to_hz))
    return to_hz // common, from_hz // common


def _tone(freq_hz: float, rate_hz: int, duration_s: float = 1.0, phase: float = 0.3) -> FloatArray:
    return np.sin(2 * np.pi * freq_hz * np.arange(round(duration_s * rate_hz)) / rate_hz + phase)


def _steady(signal: FloatArray, rate_hz: int) -> tuple[FloatArray, FloatArray]:
    """The sample times and values away from both ends."""
    edge = round(EDGE_S * rate_hz)
    times = np.arange(signal.size) / rate_hz
    return times[edge:-edge], signal[edge:-edge]


def _fit(signal: FloatArray, rate_hz: int, freq_hz: float) -> tuple[float, float, float]:
    """Amplitude, phase and residual RMS of the least-squares sinusoid at ``freq_hz``."""
    times, values = _steady(signal, rate_hz)
    basis = np.column_stack(
        (np.sin(2 * np.pi * freq_hz * times), np.cos(2 * np.pi * freq_hz * times))
    )
    (sin_part, cos_part), *_ = np.linalg.lstsq(basis, values, rcond=None)
    residual = values - basis @ np.array([sin_part, cos_part])
    return (
        float(np.hypot(sin_part, cos_part)),
        float(np.arctan2(cos_part, sin_part)),
        float(np.sqrt(np.mean(residual**2))),
    )


@pytest.mark.parametrize(("from_hz", "to_hz"), RATE_PAIRS_HZ)
def test_pass_band_tones_keep_level_frequency_and_phase(from_hz: int, to_hz: int) -> None:
    """A tone below 0.8 of the lower Nyquist frequency comes out at the same frequency, within
    0.05 dB of its level and 1 mrad of its phase, with nothing else above -50 dB."""
    up, down = _ratio(from_hz, to_hz)
    for fraction in PASS_FRACTIONS:
        freq_hz = fraction * min(from_hz, to_hz) / 2
        out = resample_poly(_tone(freq_hz, from_hz), up, down)
        amplitude, phase, residual = _fit(out, to_hz, freq_hz)
        assert abs(20 * np.log10(amplitude)) < MAX_PASS_ERROR_DB, (freq_hz, amplitude)
        assert abs(phase - 0.3) < MAX_PHASE_ERROR_RAD, (freq_hz, phase)
        assert 20 * np.log10(residual / amplitude) < -MIN_STOP_ATTENUATION_DB, (freq_hz, residual)


@pytest.mark.parametrize(("from_hz", "to_hz"), [p for p in RATE_PAIRS_HZ if p[0] > p[1]])
def test_tones_above_the_target_nyquist_are_removed(from_hz: int, to_hz: int) -> None:
    """Downsampling, a tone from 1.2 times the new Nyquist frequency up to the old one loses
    more than 50 dB instead of aliasing into the output."""
    up, down = _ratio(from_hz, to_hz)
    for fraction in STOP_FRACTIONS:
        freq_hz = fraction * to_hz / 2
        assert freq_hz < from_hz / 2
        _, kept = _steady(resample_poly(_tone(freq_hz, from_hz), up, down), to_hz)
        level_db = 20 * np.log10(np.sqrt(np.mean(kept**2)) / np.sqrt(0.5))
        assert level_db < -MIN_STOP_ATTENUATION_DB, (freq_hz, level_db)


@pytest.mark.parametrize(("from_hz", "to_hz"), [p for p in RATE_PAIRS_HZ if p[0] < p[1]])
def test_upsampling_leaves_no_images(from_hz: int, to_hz: int) -> None:
    """Upsampling a tone at 0.8 of the old Nyquist frequency leaves less than -50 dB of its
    images above 1.2 times that frequency."""
    up, down = _ratio(from_hz, to_hz)
    out = resample_poly(_tone(0.4 * from_hz, from_hz), up, down)
    _, kept = _steady(out, to_hz)
    spectrum = np.abs(np.fft.rfft(kept * np.hanning(kept.size)))
    freqs_hz = np.fft.rfftfreq(kept.size, 1 / to_hz)
    images = spectrum[freqs_hz > 1.2 * from_hz / 2]
    assert 20 * np.log10(images.max() / spectrum.max()) < -MIN_STOP_ATTENUATION_DB


@pytest.mark.parametrize(("up", "down"), [(2, 1), (1, 2), (3, 1), (1, 6), (160, 441), (2, 3)])
def test_output_length_is_the_ceiling_of_the_ratio(up: int, down: int) -> None:
    """``len(x) * up / down`` samples, rounded up, for any input length including 0 and 1."""
    for size in (0, 1, 2, 5, 441, 1000, 1001):
        out = resample_poly(np.ones(size), up, down)
        assert out.size == -(-size * up // down), size


def test_equal_rates_give_an_independent_copy() -> None:
    """With up == down (after reduction) the output is the input, in a new array."""
    signal = np.random.default_rng(1).standard_normal(100)
    for up in (1, 3):
        out = resample_poly(signal, up, up)
        np.testing.assert_array_equal(out, signal)
        out[0] += 1.0
        assert out[0] != signal[0]


def test_ratio_is_reduced_by_its_gcd() -> None:
    """Resampling by 4/2 and by 2/1 give the same samples."""
    signal = np.random.default_rng(2).standard_normal(500)
    np.testing.assert_array_equal(resample_poly(signal, 4, 2), resample_poly(signal, 2, 1))


@pytest.mark.parametrize(("up", "down"), [(2, 1), (1, 6), (160, 441)])
def test_filter_is_symmetric_with_dc_gain_up(up: int, down: int) -> None:
    """The filter has 20 max(up, down) + 1 taps, is symmetric (linear phase), and sums to up."""
    taps = lowpass_filter(up, down)
    assert taps.size == 2 * ZERO_CROSSINGS * max(up, down) + 1
    np.testing.assert_allclose(taps, taps[::-1], rtol=0, atol=1e-15)
    assert np.sum(taps) == pytest.approx(up, rel=1e-12)
    assert int(np.argmax(taps)) == (taps.size - 1) // 2


@pytest.mark.parametrize(("up", "down"), [(3, 1), (1, 2), (2, 3), (160, 441)])
def test_impulse_response_is_symmetric_about_the_impulse(up: int, down: int) -> None:
    """An impulse at an input sample that falls on an output sample gives an output that peaks
    at that sample and is symmetric about it."""
    at_in = 441 * 4  # a multiple of every down here, so at_in * up / down is an output index
    impulse = np.zeros(2 * at_in)
    impulse[at_in] = 1.0
    out = resample_poly(impulse, up, down)
    at_out = at_in * up // down
    assert int(np.argmax(out)) == at_out
    span = min(at_out, out.size - 1 - at_out)
    np.testing.assert_allclose(
        out[at_out - span : at_out], out[at_out + span : at_out : -1], rtol=0, atol=1e-15
    )


@pytest.mark.parametrize(("from_hz", "to_hz"), RATE_PAIRS_HZ)
def test_slow_ramp_stays_in_place(from_hz: int, to_hz: int) -> None:
    """A slow ramp (1 per second) comes out as the same line of time, offset by less than
    1 % of an output sample, each sample within the stop-band level (-54 dB) of its value."""
    up, down = _ratio(from_hz, to_hz)
    times, values = _steady(resample_poly(np.arange(from_hz) / from_hz, up, down), to_hz)
    slope, offset_s = np.polyfit(times, values, 1)
    assert slope == pytest.approx(1.0, abs=1e-5)
    assert abs(offset_s * to_hz) < 0.01
    np.testing.assert_allclose(values, times, rtol=2e-3, atol=0)


def test_rejects_bad_ratios_and_shapes() -> None:
    """Non-positive or non-integer factors and a 2-D input are errors that name them."""
    signal = np.ones(10)
    for up, down in ((0, 1), (1, -2), (1.5, 1), (True, 1)):
        with pytest.raises(ValueError, match="positive integer"):
            resample_poly(signal, up, down)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="1-D"):
        resample_poly(np.ones((2, 5)), 2, 1)
