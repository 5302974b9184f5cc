"""Packet loss concealment, its Bpl, G.711 companding and the receiver's rendering."""

from __future__ import annotations

import warnings
from types import ModuleType

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from voipbed.models.codecs import codec
from voipbed.models.degrade import (
    G711_LAW_BY_CODEC,
    G711Law,
    alaw_decode,
    alaw_encode,
    compand,
    degrade,
    frame_count,
    samples_per_frame,
    ulaw_decode,
    ulaw_encode,
)
from voipbed.models.plc import (
    REPETITION_BPL_FACTOR,
    Plc,
    RepetitionConfig,
    bpl_for,
    conceal,
    repetition_gain,
)

RATE = 8000
FRAME = 160  # 20 ms at 8 kHz
ALL_PCM16 = np.arange(-32768, 32768, dtype=np.int64).astype(np.int16)
ALL_CODES = np.arange(256, dtype=np.int64).astype(np.uint8)


def _frames(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-0.5, 0.5, (count, FRAME))


def _audioop() -> ModuleType:
    """CPython's audioop (Sun's G.711 code), imported without its 3.11 deprecation warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # audioop: removed in 3.13 (PEP 594)
        module: ModuleType = pytest.importorskip("audioop", exc_type=ModuleNotFoundError)
    return module


# --- concealment --------------------------------------------------------------------------


def test_plc_names_match_the_scenario_values() -> None:
    """The choices are spelled none, repetition and codec, as scenario YAML spells them."""
    assert [plc.value for plc in Plc] == ["none", "repetition", "codec"]


def test_silence_replaces_lost_frames_and_keeps_played_ones() -> None:
    """With no PLC a lost frame is zeros; played frames pass unchanged."""
    frames = _frames(4)
    played = np.array([True, False, True, False])
    out = conceal(frames, played, Plc.NONE, RATE)
    np.testing.assert_array_equal(out[played], frames[played])
    assert not out[~played].any()


def test_repetition_gain_follows_g711_appendix_i() -> None:
    """Full level for 10 ms, then 20 % less per 10 ms: 0.8 at 20 ms, silent from 60 ms."""
    elapsed_ms = np.array([0, 5, 10, 20, 30, 50, 60, 100])
    gain = repetition_gain(elapsed_ms * RATE // 1000, RATE, RepetitionConfig())
    np.testing.assert_allclose(gain, [1.0, 1.0, 1.0, 0.8, 0.6, 0.2, 0.0, 0.0], atol=1e-12)
    assert gain[-2] == 0.0  # exactly silent at 60 ms


def test_repetition_repeats_the_last_good_frame_fading_out() -> None:
    """A run of lost frames replays the last good frame under the fade; 60 ms in it is silent."""
    frames = _frames(6)
    played = np.array([True, False, False, False, False, True])
    out = conceal(frames, played, Plc.REPETITION, RATE)
    elapsed = np.arange(4 * FRAME).reshape(4, FRAME)
    expected = frames[0] * repetition_gain(elapsed, RATE, RepetitionConfig())
    np.testing.assert_allclose(out[1:5], expected)
    np.testing.assert_array_equal(out[1, :80], frames[0, :80])  # first 10 ms untouched
    assert not out[4].any()  # 60-80 ms into the gap
    np.testing.assert_array_equal(out[5], frames[5])


def test_repetition_fade_restarts_after_a_good_frame() -> None:
    """Each run of losses starts its fade afresh from the frame that played before it."""
    frames = _frames(5)
    played = np.array([True, False, True, False, False])
    out = conceal(frames, played, Plc.REPETITION, RATE)
    first_frame_gain = repetition_gain(np.arange(FRAME), RATE, RepetitionConfig())
    np.testing.assert_allclose(out[1], frames[0] * first_frame_gain)
    np.testing.assert_allclose(out[3], frames[2] * first_frame_gain)


def test_loss_before_anything_played_is_silence() -> None:
    """Nothing has played yet, so there is nothing to repeat: the lost frames are silent."""
    out = conceal(_frames(3), np.array([False, False, True]), Plc.REPETITION, RATE)
    assert not out[:2].any()


def test_codec_plc_renders_as_repetition() -> None:
    """The codec PLC stand-in plays exactly what repetition plays."""
    frames = _frames(8, seed=3)
    played = np.array([True, False, True, True, False, False, True, False])
    np.testing.assert_array_equal(
        conceal(frames, played, Plc.CODEC, RATE), conceal(frames, played, Plc.REPETITION, RATE)
    )


def test_conceal_rejects_mismatched_shapes() -> None:
    """One played flag per frame, frames as a 2-D array; anything else is an error."""
    with pytest.raises(ValueError, match="one flag per frame"):
        conceal(_frames(3), np.array([True, False]), Plc.NONE, RATE)
    with pytest.raises(ValueError, match="2-D"):
        conceal(np.zeros(160), np.array([True]), Plc.NONE, RATE)


def test_repetition_config_rejects_bad_times() -> None:
    """A negative hold or a zero fade is a configuration error."""
    with pytest.raises(ValueError, match="hold_s"):
        RepetitionConfig(hold_s=-0.01)
    with pytest.raises(ValueError, match="fade_s"):
        RepetitionConfig(fade_s=0.0)


@settings(max_examples=50, deadline=None)
@given(
    played=hnp.arrays(np.bool_, st.integers(1, 40)),
    plc=st.sampled_from(list(Plc)),
    seed=st.integers(0, 2**16),
)
def test_concealment_never_louder_than_what_played(played: np.ndarray, plc: Plc, seed: int) -> None:
    """Concealed samples never exceed the loudest frame that played before them."""
    frames = _frames(played.size, seed)
    out = conceal(frames, played, plc, RATE)
    np.testing.assert_array_equal(out[played], frames[played])
    loudest = np.maximum.accumulate(np.where(played, np.abs(frames).max(axis=1), 0.0))
    assert np.all(np.abs(out).max(axis=1) <= loudest + 1e-12)


# --- Bpl ----------------------------------------------------------------------------------


def test_bpl_for_g711_choices() -> None:
    """G.711: 4.3 without PLC and 25.1 with its own (G.113 App. I); repetition 1.3 x 4.3."""
    g711 = codec("PCMU")
    without, with_plc = g711.bpl_without_plc, g711.bpl_with_plc
    assert bpl_for(without, with_plc, Plc.NONE) == 4.3
    assert bpl_for(without, with_plc, Plc.CODEC) == 25.1
    assert bpl_for(without, with_plc, Plc.REPETITION) == pytest.approx(5.59)
    assert bpl_for(without, with_plc, Plc("repetition")) == REPETITION_BPL_FACTOR * 4.3


def test_bpl_for_repetition_never_beats_codec_plc() -> None:
    """Repetition's estimate is capped at the codec's own PLC Bpl and never below none."""
    assert bpl_for(10.0, 11.0, Plc.REPETITION) == 11.0
    for without, with_plc in [(1.0, 2.0), (4.3, 25.1), (10.0, 10.0)]:
        assert without <= bpl_for(without, with_plc, Plc.REPETITION) <= with_plc


def test_bpl_for_rejects_inconsistent_inputs() -> None:
    """Bpl must be positive and PLC must not make a codec less robust."""
    with pytest.raises(ValueError, match="codec_bpl_without"):
        bpl_for(0.0, 25.1, Plc.NONE)
    with pytest.raises(ValueError, match="codec_bpl_with"):
        bpl_for(4.3, float("nan"), Plc.CODEC)
    with pytest.raises(ValueError, match="must be >="):
        bpl_for(25.1, 4.3, Plc.CODEC)


def test_bpl_for_codec_without_a_silence_decoder() -> None:
    """With no Bpl without PLC (e.g. AMR), only the codec's own PLC has a Bpl."""
    assert bpl_for(None, 10.0, Plc.CODEC) == 10.0
    for plc in (Plc.NONE, Plc.REPETITION):
        with pytest.raises(ValueError, match="only 'codec' has a Bpl"):
            bpl_for(None, 10.0, plc)


# --- G.711 companding ---------------------------------------------------------------------


def test_g711_known_code_points() -> None:
    """µ-law 0xFF/0x7F decode to 0 and 0x80 to +8031 << 2; A-law 0xD5 to +8, 0xAA to +4032 << 3."""
    mu = ulaw_decode(np.array([0xFF, 0x7F, 0x80, 0x00], dtype=np.uint8))
    assert mu.tolist() == [0, 0, 8031 * 4, -8031 * 4]
    a = alaw_decode(np.array([0xD5, 0x55, 0xAA, 0x2A], dtype=np.uint8))
    assert a.tolist() == [8, -8, 4032 * 8, -4032 * 8]
    assert ulaw_encode(np.array([0, 32767, -32768], dtype=np.int16)).tolist() == [0xFF, 0x80, 0x00]
    assert alaw_encode(np.array([0, 32767, -32768], dtype=np.int16)).tolist() == [0xD5, 0xAA, 0x2A]


def test_ulaw_round_trip_error_within_half_a_step() -> None:
    """µ-law: below overload the error is at most half of the segment's step 2**(s+1) (14-bit)."""
    x = ALL_PCM16.astype(np.int64)
    decoded = ulaw_decode(ulaw_encode(ALL_PCM16)).astype(np.int64)
    magnitude14 = np.where(x >= 0, x, -x - 1) >> 2  # 14-bit magnitude, one's complement below 0
    biased = magnitude14 + 33
    in_range = biased <= 8191  # overload: |x| above 8158 in 14-bit units
    segment = np.floor(np.log2(biased)).astype(np.int64) - 5
    half_step_16bit = 2 ** (segment + 1) / 2 * 4
    error = np.abs(decoded - x)
    assert np.all(error[in_range] <= half_step_16bit[in_range])
    assert np.all(np.abs(decoded[~in_range]) == 8031 * 4)  # overload: the top level
    assert np.abs(decoded - x).max() < 650


def test_alaw_round_trip_error_within_half_a_step() -> None:
    """A-law: error at most half of the step, 2 (13-bit) in segments 0-1, 2**s above."""
    x = ALL_PCM16.astype(np.int64)
    decoded = alaw_decode(alaw_encode(ALL_PCM16)).astype(np.int64)
    magnitude12 = np.where(x >= 0, x, -x - 1) >> 4
    segment = np.maximum(np.floor(np.log2(np.maximum(magnitude12, 1))).astype(np.int64) - 3, 0)
    step_13bit = 2 ** np.maximum(segment, 1)
    assert np.all(np.abs(decoded - x) <= step_13bit / 2 * 8)


def test_g711_decoders_match_audioop_tables() -> None:
    """All 256 µ-law and A-law characters decode as CPython's audioop (Sun's g711.c) does."""
    audioop = _audioop()
    for decode, reference in [(ulaw_decode, audioop.ulaw2lin), (alaw_decode, audioop.alaw2lin)]:
        expected = np.frombuffer(reference(ALL_CODES.tobytes(), 2), dtype=np.int16)
        np.testing.assert_array_equal(decode(ALL_CODES), expected)


def test_g711_encoders_match_audioop() -> None:
    """A-law everywhere and µ-law for x >= 0 encode as audioop; negatives are symmetric.

    audioop negates negative µ-law input; G.191's reference (followed here) takes the
    one's complement, so x < 0 codes as ~x with the sign bit cleared.
    """
    audioop = _audioop()
    raw = ALL_PCM16.tobytes()
    alaw = np.frombuffer(audioop.lin2alaw(raw, 2), dtype=np.uint8)
    np.testing.assert_array_equal(alaw_encode(ALL_PCM16), alaw)
    ulaw = np.frombuffer(audioop.lin2ulaw(raw, 2), dtype=np.uint8)
    positive = ALL_PCM16 >= 0
    np.testing.assert_array_equal(ulaw_encode(ALL_PCM16)[positive], ulaw[positive])
    negative = ALL_PCM16[~positive]
    mirrored = ulaw_encode(~negative)
    np.testing.assert_array_equal(ulaw_encode(negative), mirrored & 0x7F)


def test_codec_names_map_to_laws() -> None:
    """PCMU is µ-law and PCMA is A-law (RFC 3551)."""
    assert G711_LAW_BY_CODEC == {"PCMU": G711Law.MU, "PCMA": G711Law.A}


# --- rendering ----------------------------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(
    samples=st.integers(1, 2000),
    frame_ms=st.sampled_from([10, 20, 30]),
    law=st.sampled_from([None, G711Law.MU, G711Law.A]),
    plc=st.sampled_from(list(Plc)),
    seed=st.integers(0, 2**16),
)
def test_nothing_lost_returns_the_coded_input(
    samples: int, frame_ms: int, law: G711Law | None, plc: Plc, seed: int
) -> None:
    """No loss means no concealment: the input itself, or its G.711 round trip, same length."""
    audio = np.random.default_rng(seed).uniform(-1.0, 1.0, samples)
    played = np.ones(frame_count(samples, RATE, frame_ms / 1000), dtype=np.bool_)
    out = degrade(audio, RATE, frame_ms / 1000, played, plc, law=law)
    expected = audio if law is None else compand(audio, law)
    np.testing.assert_array_equal(out, expected)


def test_lost_packet_silences_its_samples_only() -> None:
    """With no PLC, packet 2 lost silences samples 320-479 and nothing else; length is kept."""
    audio = np.random.default_rng(1).uniform(-0.5, 0.5, 5 * FRAME - 37)  # last packet partial
    played = np.array([True, True, False, True, True])
    out = degrade(audio, RATE, 0.020, played, Plc.NONE)
    assert out.shape == audio.shape
    assert not out[320:480].any()
    np.testing.assert_array_equal(np.delete(out, np.s_[320:480]), np.delete(audio, np.s_[320:480]))


def test_repetition_plays_the_decoded_previous_packet() -> None:
    """Concealment works on decoded audio: a lost PCMA packet replays the decoded one before."""
    audio = np.random.default_rng(2).uniform(-0.5, 0.5, 3 * FRAME)
    out = degrade(audio, RATE, 0.020, np.array([True, False, True]), Plc.REPETITION, law=G711Law.A)
    coded = compand(audio, G711Law.A)
    np.testing.assert_array_equal(out[FRAME : FRAME + 80], coded[:80])


def test_degrade_rejects_bad_traces() -> None:
    """Wrong packet count, non-boolean flags, G.711 at 16 kHz, fractional frames: errors."""
    audio = np.zeros(800)
    with pytest.raises(ValueError, match="need 5"):
        degrade(audio, RATE, 0.020, np.ones(4, dtype=np.bool_), Plc.NONE)
    with pytest.raises(ValueError, match="boolean"):
        degrade(audio, RATE, 0.020, np.ones(5), Plc.NONE)
    with pytest.raises(ValueError, match="8000 Hz"):
        degrade(np.zeros(1600), 16000, 0.020, np.ones(5, dtype=np.bool_), Plc.NONE, law=G711Law.MU)
    with pytest.raises(ValueError, match="whole number of samples"):
        samples_per_frame(RATE, 0.0201)
