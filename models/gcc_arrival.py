"""GCC inter-arrival grouping: packets sent within 5 ms form one group (draft 5.2).

``InterArrival`` takes one packet at a time (send time, arrival time, size) and,
when a packet opens a new group, returns the deltas between the two groups
before it: d(i) = t(i) - t(i-1) - (T(i) - T(i-1)), where T is a group's last
send time and t its last arrival. A packet that arrives less than 5 ms after
the group's last one and earlier than its send spacing predicts joins that
group (a burst the network delivered back to back, draft 5.2). Pure: the
times come in as arguments, in seconds on any clock (send and arrival clocks
need not agree).
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["GroupDelta", "InterArrival"]

GROUP_LENGTH_S = 0.005  # draft-ietf-rmcat-gcc-02 5.2: burst_time, 5 ms
BURST_DELTA_S = 0.005  # libwebrtc inter_arrival_delta.cc kBurstDeltaThreshold
MAX_BURST_S = 0.1  # libwebrtc inter_arrival_delta.cc kMaxBurstDuration
REORDERED_RESET = 3  # libwebrtc inter_arrival_delta.h kReorderedResetThreshold


class GroupDelta(NamedTuple):
    """Deltas between two consecutive complete groups (the later one ends at ``arrival_s``)."""

    send_delta_s: float
    arrival_delta_s: float
    size_delta_bytes: int
    arrival_s: float

    @property
    def delay_variation_s(self) -> float:
        """d(i) of draft 5.2: how much later the group arrived than its send spacing predicts."""
        return self.arrival_delta_s - self.send_delta_s


class _Group:
    """A group being built; two instances are swapped rather than reallocated."""

    __slots__ = ("empty", "first_arrival_s", "first_send_s", "last_arrival_s", "send_s", "size")

    def __init__(self) -> None:
        self.empty = True
        self.first_send_s = 0.0
        self.send_s = 0.0
        self.first_arrival_s = 0.0
        self.last_arrival_s = 0.0
        self.size = 0

    def start(self, send_s: float, arrival_s: float) -> None:
        self.empty = False
        self.first_send_s = send_s
        self.send_s = send_s
        self.first_arrival_s = arrival_s
        self.size = 0


class InterArrival:
    """Groups packets by send time and yields the deltas of consecutive groups."""

    def __init__(
        self,
        group_length_s: float = GROUP_LENGTH_S,
        burst_delta_s: float = BURST_DELTA_S,
        max_burst_s: float = MAX_BURST_S,
    ) -> None:
        if group_length_s <= 0.0 or burst_delta_s < 0.0 or max_burst_s <= 0.0:
            raise ValueError("group length and burst limits must be positive")
        self._group_length_s = group_length_s
        self._burst_delta_s = burst_delta_s
        self._max_burst_s = max_burst_s
        self._current = _Group()
        self._previous = _Group()
        self._reordered = 0

    def add(self, send_s: float, arrival_s: float, size_bytes: int) -> GroupDelta | None:
        """Take one packet; the deltas of the two groups before it when it starts a new one."""
        current = self._current
        if current.empty:
            current.start(send_s, arrival_s)
        elif send_s < current.first_send_s:
            return None  # sent before the group it arrived in: reordered, ignored
        elif self._opens_group(send_s, arrival_s):
            delta = self._close(send_s, arrival_s)
            current = self._current
            if delta is not None:
                current.size += size_bytes
                current.last_arrival_s = arrival_s
                return delta
        else:
            current.send_s = max(current.send_s, send_s)
        current.size += size_bytes
        current.last_arrival_s = arrival_s
        return None

    def _close(self, send_s: float, arrival_s: float) -> GroupDelta | None:
        """Complete the current group, start the next one, and return the deltas if any."""
        current, previous = self._current, self._previous
        delta: GroupDelta | None = None
        if not previous.empty:
            arrival_delta_s = current.last_arrival_s - previous.last_arrival_s
            if arrival_delta_s < 0.0:
                # Groups reordered after their arrival was stamped: skip, reset if it persists.
                self._reordered += 1
                if self._reordered >= REORDERED_RESET:
                    self._reordered = 0
                    previous.empty = True
                    current.start(send_s, arrival_s)
                    return None
            else:
                self._reordered = 0
                delta = GroupDelta(
                    current.send_s - previous.send_s,
                    arrival_delta_s,
                    current.size - previous.size,
                    current.last_arrival_s,
                )
        self._current, self._previous = previous, current
        previous.start(send_s, arrival_s)
        return delta

    def _opens_group(self, send_s: float, arrival_s: float) -> bool:
        current = self._current
        send_delta_s = send_s - current.send_s
        if send_delta_s == 0.0:
            return False
        arrival_delta_s = arrival_s - current.last_arrival_s
        if (
            arrival_delta_s - send_delta_s < 0.0
            and arrival_delta_s <= self._burst_delta_s
            and arrival_s - current.first_arrival_s < self._max_burst_s
        ):
            return False  # draft 5.2: a burst delivered faster than it was sent stays one group
        return send_s - current.first_send_s > self._group_length_s
