"""Audio for real calls: test speech made with espeak-ng and sox, WAV I/O, and the scoring of
what a call received against what it sent (alignment by cross-correlation, then PESQ).

Role: the emulation engine plays a speech WAV into a call and records what arrives; this
module makes that WAV (:func:`make_speech_wav`, argv builders :func:`espeak_argv` and
:func:`sox_convert_argv` run through :func:`voipbed.emulation.process.run_command`), reads
and writes 16-bit PCM WAVs, and scores a recording (:func:`score_call`): a recording starts
when the call's media starts, so it is offset from the reference by an unknown number of
samples, which :func:`align` finds (pure, numpy).
"""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from voipbed.emulation.process import run_command
from voipbed.models.pesq import PesqMode, pesq_mos, resample

__all__ = [
    "Alignment",
    "Audio",
    "CallScore",
    "align",
    "espeak_argv",
    "make_silence_wav",
    "make_speech_wav",
    "read_wav",
    "rms_dbfs",
    "score_call",
    "sox_convert_argv",
    "write_wav",
]

FloatArray = NDArray[np.float64]

_FULL_SCALE = 32768.0
_SILENT_DBFS = -200.0  # what rms_dbfs says of digital silence

SPEECH_TEXT = (
    "The quick brown fox jumps over the lazy dog. A mobile voice call carries speech"
    " across the radio network, and every lost packet matters to the listener."
)
"""Default test sentence: about 8 s at espeak-ng's default 175 words per minute."""


@dataclass(frozen=True)
class Audio:
    """Mono audio: float64 samples in [-1, 1] (16-bit PCM / 32768) at ``sample_rate_hz``."""

    samples: FloatArray
    sample_rate_hz: int

    def __post_init__(self) -> None:
        if self.samples.ndim != 1:
            raise ValueError(f"samples must be 1-D (mono), got shape {self.samples.shape}")
        if self.sample_rate_hz <= 0:
            raise ValueError(f"sample_rate_hz must be > 0, got {self.sample_rate_hz}")

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return self.samples.size / self.sample_rate_hz

    def at_rate(self, sample_rate_hz: int) -> Audio:
        """The same audio resampled to ``sample_rate_hz`` (polyphase filter)."""
        if sample_rate_hz == self.sample_rate_hz:
            return self
        return Audio(resample(self.samples, self.sample_rate_hz, sample_rate_hz), sample_rate_hz)


def read_wav(path: Path) -> Audio:
    """A 16-bit PCM WAV file as mono :class:`Audio` (channels averaged)."""
    with wave.open(str(path), "rb") as wav:
        if wav.getsampwidth() != 2:
            raise ValueError(f"{path}: only 16-bit PCM WAV is read, got {8 * wav.getsampwidth()}")
        channels = wav.getnchannels()
        rate = wav.getframerate()
        frames = wav.readframes(wav.getnframes())
    pcm = np.frombuffer(frames, dtype="<i2").astype(np.float64) / _FULL_SCALE
    samples = pcm.reshape(-1, channels).mean(axis=1) if channels > 1 else pcm
    return Audio(samples, rate)


def write_wav(path: Path, audio: Audio) -> Path:
    """Write ``audio`` as a mono 16-bit PCM WAV (rounded, saturated); return ``path``."""
    scaled = np.rint(audio.samples * _FULL_SCALE)
    pcm = np.clip(scaled, -_FULL_SCALE, _FULL_SCALE - 1).astype("<i2")
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(audio.sample_rate_hz)
        wav.writeframes(pcm.tobytes())
    return path


def make_silence_wav(path: Path, sample_rate_hz: int, duration_s: float) -> Path:
    """Write ``duration_s`` of digital silence (a source for a call's silent side)."""
    if duration_s <= 0:
        raise ValueError(f"duration_s must be > 0, got {duration_s}")
    samples = np.zeros(round(duration_s * sample_rate_hz), dtype=np.float64)
    return write_wav(path, Audio(samples, sample_rate_hz))


def espeak_argv(
    text: str, wav_path: Path, *, voice: str = "en-us", words_per_minute: int = 175
) -> list[str]:
    """espeak-ng speaking ``text`` into ``wav_path`` (its native 22050 Hz mono WAV)."""
    if not text.strip():
        raise ValueError("text to speak is empty")
    if not 80 <= words_per_minute <= 450:  # espeak-ng's accepted range
        raise ValueError(f"words_per_minute must be in 80..450, got {words_per_minute}")
    # "--" ends the options, so a text starting with "-" is spoken, not parsed.
    return ["espeak-ng", "-v", voice, "-s", str(words_per_minute), "-w", str(wav_path), "--", text]


def sox_convert_argv(
    source: Path, target: Path, sample_rate_hz: int, *, peak_dbfs: float = -3.0
) -> list[str]:
    """sox converting ``source`` to a mono 16-bit WAV at ``sample_rate_hz``, peak at
    ``peak_dbfs`` (normalised first, so the resampler's overshoot does not clip)."""
    if sample_rate_hz <= 0:
        raise ValueError(f"sample_rate_hz must be > 0, got {sample_rate_hz}")
    if peak_dbfs > 0:
        raise ValueError(f"peak_dbfs must be <= 0, got {peak_dbfs}")
    return [
        "sox",
        str(source),
        "-c",
        "1",
        "-b",
        "16",
        "-e",
        "signed-integer",
        str(target),
        "gain",
        "-n",
        f"{peak_dbfs:g}",
        "rate",
        str(sample_rate_hz),
    ]


def make_speech_wav(
    path: Path,
    sample_rate_hz: int,
    text: str = SPEECH_TEXT,
    *,
    voice: str = "en-us",
    words_per_minute: int = 175,
    timeout_s: float = 30.0,
) -> Audio:
    """Speak ``text`` into ``path`` (mono 16-bit at ``sample_rate_hz``) and return it."""
    raw = path.with_name(path.stem + ".espeak.wav")
    run_command(
        espeak_argv(text, raw, voice=voice, words_per_minute=words_per_minute),
        timeout_s=timeout_s,
    )
    try:
        run_command(sox_convert_argv(raw, path, sample_rate_hz), timeout_s=timeout_s)
    finally:
        raw.unlink(missing_ok=True)
    return read_wav(path)


def rms_dbfs(samples: FloatArray) -> float:
    """RMS level in dB relative to full scale (a full-scale square wave is 0 dBFS)."""
    samples = np.asarray(samples, dtype=np.float64)
    if samples.size == 0:
        raise ValueError("no samples")
    rms = float(np.sqrt(np.mean(samples**2)))
    return float(20.0 * np.log10(rms)) if rms > 0 else _SILENT_DBFS


@dataclass(frozen=True)
class Alignment:
    """Where a recording matches its reference.

    ``lag_samples`` > 0: the recording is late (``recorded[n + lag] ~ reference[n]``);
    < 0: it started after the reference did. ``reference`` and ``degraded`` are the
    overlapping parts, equal in length and sample-aligned; ``correlation`` is their
    normalised correlation (1: same waveform up to a gain, 0: unrelated).
    """

    lag_samples: int
    correlation: float
    reference: FloatArray
    degraded: FloatArray


def align(
    reference: FloatArray, recorded: FloatArray, *, max_lag_samples: int | None = None
) -> Alignment:
    """Align ``recorded`` to ``reference`` by the peak of their cross-correlation.

    Searches lags in ``[-max_lag_samples, max_lag_samples]`` (default: every lag with
    any overlap). Both signals must be 1-D at the same sample rate and neither silent.
    """
    reference = np.asarray(reference, dtype=np.float64)
    recorded = np.asarray(recorded, dtype=np.float64)
    for name, signal in (("reference", reference), ("recorded", recorded)):
        if signal.ndim != 1 or signal.size == 0:
            raise ValueError(f"{name} must be a non-empty 1-D signal, got shape {signal.shape}")
        if not np.all(np.isfinite(signal)):
            raise ValueError(f"{name} must be finite")
        if not np.any(signal):
            raise ValueError(f"{name} is silent: there is nothing to align")
    if max_lag_samples is not None and max_lag_samples < 0:
        raise ValueError(f"max_lag_samples must be >= 0, got {max_lag_samples}")
    # c[k] = sum_n recorded[n + k] * reference[n], for every lag k with overlap.
    scores, lags = _cross_correlation(recorded, reference)
    if max_lag_samples is not None:
        window = np.abs(lags) <= max_lag_samples
        scores, lags = scores[window], lags[window]
    lag = int(lags[int(np.argmax(scores))])
    start_ref, start_rec = max(0, -lag), max(0, lag)
    length = min(reference.size - start_ref, recorded.size - start_rec)
    ref_part = reference[start_ref : start_ref + length]
    rec_part = recorded[start_rec : start_rec + length]
    energy = float(np.sqrt(np.dot(ref_part, ref_part) * np.dot(rec_part, rec_part)))
    correlation = float(np.dot(ref_part, rec_part)) / energy if energy > 0 else 0.0
    return Alignment(lag, correlation, ref_part.copy(), rec_part.copy())


def _cross_correlation(
    recorded: NDArray[np.float64], reference: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """``c[k] = sum_n recorded[n + k] * reference[n]`` for every lag ``k`` with overlap, and the
    lags (``-(len(reference) - 1)`` to ``len(recorded) - 1``), by FFT: the product of one
    spectrum with the other's conjugate, zero-padded past the full length so nothing wraps."""
    full = recorded.size + reference.size - 1
    size = 1 << (full - 1).bit_length()
    spectrum = np.fft.rfft(recorded, size) * np.conj(np.fft.rfft(reference, size))
    circular = np.fft.irfft(spectrum, size)
    lags = np.arange(-(reference.size - 1), recorded.size, dtype=np.int64)
    scores: NDArray[np.float64] = circular[lags % size]
    return scores, lags


@dataclass(frozen=True)
class CallScore:
    """PESQ of what a call received against what it sent, with how they were aligned."""

    mos_lqo: float
    mode: PesqMode
    lag_s: float  # > 0: the recording is late
    correlation: float
    scored_s: float  # length of the overlap that was scored
    received_dbfs: float  # level of the received audio in the scored overlap


def score_call(
    sent: Audio, received: Audio, mode: PesqMode | str, *, max_lag_s: float = 2.0
) -> CallScore:
    """PESQ MOS-LQO of ``received`` against ``sent``, both brought to PESQ's rate for
    ``mode`` (8 kHz nb, 16 kHz wb), aligned within ``max_lag_s`` and cut to their overlap."""
    mode = PesqMode(mode)
    rate = 16000 if mode is PesqMode.WB else 8000
    reference = sent.at_rate(rate).samples
    degraded = received.at_rate(rate).samples
    alignment = align(reference, degraded, max_lag_samples=round(max_lag_s * rate))
    mos = pesq_mos(alignment.reference, alignment.degraded, rate, mode)
    return CallScore(
        mos_lqo=mos,
        mode=mode,
        lag_s=alignment.lag_samples / rate,
        correlation=alignment.correlation,
        scored_s=alignment.reference.size / rate,
        received_dbfs=rms_dbfs(alignment.degraded),
    )


def tile_to_length(audio: Audio, duration_s: float, *, pause_s: float = 0.5) -> Audio:
    """``audio`` repeated, ``pause_s`` of silence between, cut to exactly ``duration_s``."""
    if duration_s <= 0:
        raise ValueError(f"duration_s must be > 0, got {duration_s}")
    rate = audio.sample_rate_hz
    one = np.concatenate([audio.samples, np.zeros(round(pause_s * rate))])
    wanted = round(duration_s * rate)
    return Audio(np.tile(one, -(-wanted // one.size))[:wanted], rate)
