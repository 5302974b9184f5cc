"""The timing check of the emulation tests (timing.late_beyond), on made-up lateness."""

from __future__ import annotations

import numpy as np

from tests.emulation.timing import Lateness, late_beyond


def _lateness(leave_s: np.ndarray, path_s: np.ndarray | None = None) -> Lateness:
    """Lateness with ``leave_s``, and a path of 20 us for each packet unless given."""
    return Lateness(leave_s, np.full(leave_s.size, 20e-6) if path_s is None else path_s)


def _idle(n: int, seed: int) -> np.ndarray:
    """Leave lateness of an idle machine: about 0.1 ms, exponential."""
    return np.random.default_rng(seed).exponential(1e-4, n)


def test_a_sender_as_punctual_as_the_baseline_is_on_time() -> None:
    """Lateness drawn as the baseline's is on time, leaving and on the path."""
    baseline = _lateness(_idle(4000, 1))
    assert late_beyond(_lateness(_idle(400, 2)), baseline) == []


def _stalled(n: int, seed: int) -> np.ndarray:
    """Leave lateness of a busy machine: idle, and 2 ms more for one packet in 20."""
    late_s: np.ndarray = _idle(n, seed) + 0.002 * (np.arange(n) % 20 == 0)
    return late_s


def test_stalls_the_baseline_met_too_are_on_time() -> None:
    """A busy machine's stalls are on time when the baseline met them too, not otherwise."""
    link = _lateness(_stalled(400, 2))
    assert late_beyond(link, _lateness(_stalled(4000, 1))) == []
    alone = late_beyond(link, _lateness(_idle(4000, 1)))
    assert len(alone) == 1 and alone[0].startswith("leave: 20 of 400 packets beyond")


def test_a_sender_late_by_a_millisecond_or_more_is_not() -> None:
    """1 ms late on every packet fails at the median; 2 ms also in the tail."""
    baseline = _lateness(_idle(4000, 1))
    for late_s, failing in ((0.001, ["leave"]), (0.002, ["leave", "leave:"])):
        found = late_beyond(_lateness(_idle(400, 2) + late_s), baseline)
        assert [line.split()[0] for line in found] == failing


def test_a_path_that_holds_a_packet_is_late() -> None:
    """A packet reaching the far end 20 ms after it left fails on the path's maximum."""
    path_s = np.full(400, 20e-6)
    path_s[100] = 0.020
    found = late_beyond(_lateness(_idle(400, 2), path_s), _lateness(_idle(4000, 1)))
    assert found == ["path max 20.000 ms > baseline 0.020 ms + 10 ms"]
