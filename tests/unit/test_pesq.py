"""PESQ of rendered audio: validation of the wrapper, and scores that move the right way.

Test speech is made at test time: espeak-ng when it is on the PATH, otherwise
a synthetic speech-like signal built here. Each scoring test prints which it
used (``pytest -rP`` shows it) and names it in its assertion messages. The
scoring tests skip only when the ``pesq`` package is not installed at all.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from voipbed.models.degrade import G711Law, degrade, frame_count
from voipbed.models.emodel import mos_from_r
from voipbed.models.pesq import PesqMode, pesq_mos, resample
from voipbed.models.plc import REPETITION_BPL_FACTOR, Plc

FloatArray = NDArray[np.float64]

PTIME_S = 0.020
LOSS_RATES = (0.0, 0.05, 0.15, 0.30)
SEEDS = (1, 2, 3, 4, 5, 6)
PEAK = 0.5  # about -6 dBFS: clear of G.711 overload, well above its coarse low segments

# Harvard sentences (IEEE 1969 "Recommended practice for speech quality measurements").
SENTENCES = (
    "The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background."
    " It is easy to tell the depth of a well. These days a chicken leg is a rare dish."
)
# espeak-ng's female variant: its default male voice, a buzzier excitation, scores lower
# after G.711 (about 3.96 nb against 4.31 for this one, espeak-ng 1.51).
ESPEAK_VOICE = "en-us+f3"
ESPEAK_TIMEOUT_S = 30

# Vowel formants F1-F3 in Hz (Peterson and Barney 1952, adult female means).
VOWEL_FORMANTS_HZ = ((850, 1220, 2810), (310, 2790, 3310), (370, 950, 2670), (560, 2320, 2950))


@dataclass(frozen=True)
class Speech:
    """One test utterance at 8 and 16 kHz, and where it came from."""

    source: str
    nb: FloatArray
    wb: FloatArray

    def at(self, sample_rate_hz: int) -> FloatArray:
        """The utterance at 8000 or 16000 Hz."""
        return self.nb if sample_rate_hz == 8000 else self.wb


def _normalized(audio: FloatArray) -> FloatArray:
    return audio / np.max(np.abs(audio)) * PEAK


def _espeak_speech(directory: Path) -> tuple[FloatArray, int]:
    """SENTENCES spoken by espeak-ng into a WAV file, read back as float."""
    path = directory / "speech.wav"
    argv = ["espeak-ng", "-v", ESPEAK_VOICE, "-s", "150", "-w", str(path), SENTENCES]
    subprocess.run(argv, check=True, capture_output=True, timeout=ESPEAK_TIMEOUT_S)
    with wave.open(str(path), "rb") as wav:
        assert wav.getnchannels() == 1 and wav.getsampwidth() == 2
        rate = wav.getframerate()
        pcm = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    return pcm.astype(np.float64) / 32768.0, rate


def _fft_convolved(signal: FloatArray, taps: FloatArray) -> FloatArray:
    """``signal`` convolved with ``taps``, cut to the length of ``signal``."""
    size = 1 << int(signal.size + taps.size - 2).bit_length()
    spectrum = np.fft.rfft(signal, size) * np.fft.rfft(taps, size)
    return np.fft.irfft(spectrum, size)[: signal.size]


def _resonated(signal: FloatArray, formant_hz: float, sample_rate_hz: int) -> FloatArray:
    """``signal`` through a two-pole resonator at ``formant_hz``, 80 Hz bandwidth.

    The filter (1 - r) / (1 - 2 r cos(theta) z^-1 + r^2 z^-2), poles r e^(+-j theta),
    applied by its impulse response (1 - r) r^n sin((n + 1) theta) / sin(theta), cut
    where r^n falls below 1e-12.
    """
    radius = np.exp(-np.pi * 80.0 / sample_rate_hz)
    theta = 2 * np.pi * formant_hz / sample_rate_hz
    n = np.arange(int(np.ceil(np.log(1e-12) / np.log(radius))))
    impulse = (1 - radius) * radius**n * np.sin((n + 1) * theta) / np.sin(theta)
    return _fft_convolved(signal, impulse)


def _high_band(signal: FloatArray, cutoff_hz: float, sample_rate_hz: int) -> FloatArray:
    """``signal`` high-passed with the gain of a digital 4th-order Butterworth filter.

    The gain of the bilinear-transform design, 1 / sqrt(1 + (tan(pi fc / fs) / tan(pi f / fs))^8),
    -3 dB at ``cutoff_hz``, is applied to the signal's spectrum (zero phase).
    """
    freqs_hz = np.fft.rfftfreq(signal.size, 1 / sample_rate_hz)
    warped = np.tan(np.pi * freqs_hz / sample_rate_hz)
    with np.errstate(divide="ignore"):
        ratio = np.tan(np.pi * cutoff_hz / sample_rate_hz) / warped
    gain = 1 / np.sqrt(1 + ratio**8)
    return np.fft.irfft(np.fft.rfft(signal) * gain, signal.size)


def synthetic_speech(sample_rate_hz: int, duration_s: float = 8.0, seed: int = 7) -> FloatArray:
    """A speech-like signal: voiced syllables with a moving pitch, fricative bursts, pauses.

    Syllables of 120-240 ms (about 4 per second) carry harmonics of a pitch
    that drifts between 170 and 260 Hz and falls within each syllable, shaped
    by one of four vowels' formants; 40 % start with a 50-100 ms burst of
    high-band noise; words of 1-3 syllables are separated by 80-250 ms pauses.
    """
    rng = np.random.default_rng(seed)
    n = round(duration_s * sample_rate_hz)
    voiced_env, noise_env = np.zeros(n), np.zeros(n)
    vowel_of = np.zeros(n, dtype=np.int64)
    f0 = 215.0 + 45.0 * np.sin(2 * np.pi * 0.3 * np.arange(n) / sample_rate_hz)
    cursor = round(0.2 * sample_rate_hz)
    while cursor < n - sample_rate_hz // 2:
        for _ in range(rng.integers(1, 4)):
            if rng.random() < 0.4:
                length = round(rng.uniform(0.05, 0.10) * sample_rate_hz)
                noise_env[cursor : cursor + length] = np.hanning(length)[: n - cursor] * 0.3
                cursor += length
            length = min(round(rng.uniform(0.12, 0.24) * sample_rate_hz), n - cursor)
            voiced_env[cursor : cursor + length] = np.hanning(length) * rng.uniform(0.5, 1.0)
            vowel_of[cursor : cursor + length] = rng.integers(len(VOWEL_FORMANTS_HZ))
            f0[cursor : cursor + length] *= np.linspace(1.05, 0.9, length)
            cursor += length
        cursor += round(rng.uniform(0.08, 0.25) * sample_rate_hz)
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate_hz
    top_hz = 0.45 * sample_rate_hz
    excitation = sum(
        np.where(k * f0 < top_hz, np.sin(k * phase) / k, 0.0) for k in range(1, int(top_hz // 150))
    )
    voiced = np.zeros(n)
    for index, formants in enumerate(VOWEL_FORMANTS_HZ):
        shaped = np.asarray(excitation, dtype=np.float64)
        for formant_hz in formants:
            shaped = _resonated(shaped, formant_hz, sample_rate_hz)
        voiced += np.where(vowel_of == index, shaped / np.max(np.abs(shaped)), 0.0)
    hiss = _high_band(rng.standard_normal(n), 0.25 * sample_rate_hz, sample_rate_hz)
    speech = voiced * voiced_env + hiss / np.max(np.abs(hiss)) * noise_env
    return _normalized(np.asarray(speech, dtype=np.float64))


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Speech:
    """espeak-ng speech if espeak-ng is installed, otherwise the synthetic signal."""
    if shutil.which("espeak-ng"):
        audio, rate = _espeak_speech(tmp_path_factory.mktemp("espeak"))
        result = Speech(
            f"espeak-ng ({ESPEAK_VOICE})",
            _normalized(resample(audio, rate, 8000)),
            _normalized(resample(audio, rate, 16000)),
        )
    else:
        result = Speech(
            "synthetic speech-like signal (espeak-ng not found)",
            synthetic_speech(8000),
            synthetic_speech(16000),
        )
    print(f"test speech: {result.source}")
    return result


@pytest.fixture(scope="module")
def pesq_library() -> Any:
    """The ``pesq`` package; the scoring tests skip, saying why, only when it is absent."""
    return pytest.importorskip(
        "pesq",
        reason="the 'pesq' package is not installed (pip install pesq): PESQ scoring not tested",
        exc_type=ModuleNotFoundError,
    )


def _loss_pattern(packets: int, loss: float, seed: int) -> NDArray[np.bool_]:
    """Packets played under random loss; patterns of one seed are nested as loss grows."""
    return np.random.default_rng(seed).random(packets) >= loss


Scorer = Callable[[PesqMode, float, int, Plc], float]


@pytest.fixture(scope="module")
def score(pesq_library: Any, speech: Speech) -> Scorer:
    """PESQ of the test speech after G.711 (nb only), random loss and concealment, memoized."""
    memo: dict[tuple[PesqMode, float, int, Plc], float] = {}

    def scored(mode: PesqMode, loss: float, seed: int, plc: Plc) -> float:
        key = (mode, loss, seed, plc)
        if key not in memo:
            rate = 8000 if mode is PesqMode.NB else 16000
            reference = speech.at(rate)
            played = _loss_pattern(frame_count(reference.size, rate, PTIME_S), loss, seed)
            law = G711Law.MU if mode is PesqMode.NB else None  # G.711 exists at 8 kHz only
            degraded = degrade(reference, rate, PTIME_S, played, plc, law=law)
            memo[key] = pesq_mos(reference, degraded, rate, mode)
        return memo[key]

    return scored


def _r_from_mos(mos: FloatArray) -> FloatArray:
    """Inverse of G.107 Annex B (B-4) where it rises strictly (R from 6.5 to 100)."""
    r_grid = np.linspace(6.5, 100.0, 20_000)
    return np.asarray(np.interp(mos, np.asarray(mos_from_r(r_grid)), r_grid), dtype=np.float64)


def _fitted_bpl(ppl_percent: FloatArray, ie_eff: FloatArray) -> float:
    """Least-squares Bpl of Ie,eff = 95 Ppl / (Ppl + Bpl) (G.107 eq. 7-29, Ie = 0, BurstR = 1)."""
    candidates = np.geomspace(0.5, 200.0, 4000)
    model = 95.0 * ppl_percent[:, np.newaxis] / (ppl_percent[:, np.newaxis] + candidates)
    errors = np.sum((model - ie_eff[:, np.newaxis]) ** 2, axis=0)
    return float(candidates[np.argmin(errors)])


# --- validation (no PESQ library needed) --------------------------------------------------


def test_rejects_unsupported_sample_rate() -> None:
    """Only 8000 and 16000 Hz are accepted, and the error names them."""
    audio = np.ones(48000)
    with pytest.raises(ValueError, match="8000 or 16000"):
        pesq_mos(audio, audio, 48000)


def test_wideband_needs_16_khz() -> None:
    """P.862.2 at 8 kHz is an error."""
    audio = np.ones(8000)
    with pytest.raises(ValueError, match="16000"):
        pesq_mos(audio, audio, 8000, "wb")


def test_rejects_unknown_mode() -> None:
    """A mode other than nb or wb is an error."""
    audio = np.ones(8000)
    with pytest.raises(ValueError, match="'nb' or 'wb'"):
        pesq_mos(audio, audio, 8000, "swb")


def test_rejects_unequal_lengths() -> None:
    """Reference and degraded must be time-aligned: equal lengths."""
    with pytest.raises(ValueError, match="equal lengths"):
        pesq_mos(np.ones(8000), np.ones(8001), 8000)


def test_rejects_too_short_and_non_finite() -> None:
    """Less than a quarter second, or NaN samples, are errors that say so."""
    with pytest.raises(ValueError, match=r"at least 0\.25 s"):
        pesq_mos(np.ones(1000), np.ones(1000), 8000)
    audio = np.ones(8000)
    audio[5] = np.nan
    with pytest.raises(ValueError, match="finite"):
        pesq_mos(np.ones(8000), audio, 8000)


def test_rejects_silent_signals() -> None:
    """A silent reference or degraded signal is an error, not a crash in the C code."""
    audio = synthetic_speech(8000, duration_s=1.0)
    with pytest.raises(ValueError, match="reference is silent"):
        pesq_mos(np.zeros(8000), audio, 8000)
    with pytest.raises(ValueError, match="degraded is silent"):
        pesq_mos(audio, np.zeros(8000), 8000)


def test_missing_package_gives_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the pesq package, scoring raises ImportError saying how to install it."""
    monkeypatch.setitem(sys.modules, "pesq", None)  # makes `import pesq` fail
    audio = synthetic_speech(8000, duration_s=1.0)
    with pytest.raises(ImportError, match="pip install pesq"):
        pesq_mos(audio, audio, 8000)


def test_resample_changes_length_by_the_ratio() -> None:
    """Resampling 1 s from 22050 Hz gives 1 s at 8000 Hz and keeps a 1 kHz tone's level."""
    t = np.arange(22050) / 22050
    tone = np.sin(2 * np.pi * 1000 * t)
    out = resample(tone, 22050, 8000)
    assert out.size == 8000
    assert np.sqrt(np.mean(out[400:-400] ** 2)) == pytest.approx(np.sqrt(0.5), rel=0.01)


# --- scores (PESQ library) ----------------------------------------------------------------


@pytest.mark.slow
def test_unimpaired_g711_scores_high(pesq_library: Any, speech: Speech) -> None:
    """With nothing lost, PCMU and PCMA nb score above 4.0 and clean wb above 4.4."""
    played = np.ones(frame_count(speech.nb.size, 8000, PTIME_S), dtype=np.bool_)
    for law in G711Law:
        degraded = degrade(speech.nb, 8000, PTIME_S, played, Plc.NONE, law=law)
        score = pesq_mos(speech.nb, degraded, 8000, PesqMode.NB)
        assert score > 4.0, f"{law} nb {score:.3f} with {speech.source}"
    clean_wb = pesq_mos(speech.wb, speech.wb, 16000, PesqMode.WB)
    assert clean_wb > 4.4, f"clean wb {clean_wb:.3f} with {speech.source}"


@pytest.mark.slow
@pytest.mark.parametrize("mode", list(PesqMode))
@pytest.mark.parametrize("plc", [Plc.NONE, Plc.REPETITION])
def test_pesq_falls_as_loss_rises(score: Scorer, speech: Speech, mode: PesqMode, plc: Plc) -> None:
    """0, 5, 15, 30 % random frame loss: each step scores lower, for every loss pattern."""
    for seed in SEEDS:
        scores = [score(mode, loss, seed, plc) for loss in LOSS_RATES]
        assert all(np.diff(scores) < 0), f"{mode} {plc} seed {seed}: {scores} ({speech.source})"


@pytest.mark.slow
@pytest.mark.parametrize("mode", list(PesqMode))
def test_repetition_beats_silence(score: Scorer, speech: Speech, mode: PesqMode) -> None:
    """At 5, 15 and 30 % loss, repeating the last frame scores higher than silence on average."""
    for loss in LOSS_RATES[1:]:
        silence = np.mean([score(mode, loss, seed, Plc.NONE) for seed in SEEDS])
        repetition = np.mean([score(mode, loss, seed, Plc.REPETITION) for seed in SEEDS])
        assert repetition > silence, (
            f"{mode} loss {loss}: repetition {repetition:.3f} vs silence {silence:.3f}"
            f" over {len(SEEDS)} loss patterns ({speech.source})"
        )


@pytest.mark.slow
@pytest.mark.parametrize("mode", list(PesqMode))
def test_repetition_bpl_estimate_agrees_with_pesq(
    score: Scorer, speech: Speech, mode: PesqMode
) -> None:
    """Bpl fitted to PESQ rises by a factor near REPETITION_BPL_FACTOR with repetition."""
    r_clean = _r_from_mos(np.array([score(mode, 0.0, SEEDS[0], Plc.NONE)]))[0]
    fitted = {}
    for plc in (Plc.NONE, Plc.REPETITION):
        keys = [(loss, seed) for loss in LOSS_RATES[1:] for seed in SEEDS]
        mos = np.array([score(mode, loss, seed, plc) for loss, seed in keys])
        ppl = np.array([100.0 * loss for loss, _ in keys])
        fitted[plc] = _fitted_bpl(ppl, r_clean - _r_from_mos(mos))
    ratio = fitted[Plc.REPETITION] / fitted[Plc.NONE]
    print(
        f"{mode}: fitted Bpl none {fitted[Plc.NONE]:.2f}, repetition"
        f" {fitted[Plc.REPETITION]:.2f}, ratio {ratio:.3f} ({speech.source})"
    )
    assert 1.0 < ratio < 2.0, f"{mode}: ratio {ratio:.3f} ({speech.source})"
    assert ratio == pytest.approx(REPETITION_BPL_FACTOR, abs=0.3)


@pytest.mark.slow
def test_codec_plc_renders_as_repetition(score: Scorer) -> None:
    """The codec PLC stand-in scores exactly as repetition (it renders the same audio)."""
    assert score(PesqMode.NB, 0.15, 1, Plc.CODEC) == score(PesqMode.NB, 0.15, 1, Plc.REPETITION)
