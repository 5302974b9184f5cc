"""The event loop of the emulation's SIP agents (``phone_agent``, ``light_agent``).

One thread: timers on the monotonic clock in seconds from the run's ``t0``, readable
sockets through ``selectors``, and a JSON-lines log of what the agent did, each line
stamped with its ``t``. An agent with work of its own between timers (the light agent's
paced RTP) subclasses :class:`AgentLoop` and overrides :meth:`AgentLoop.after_timers` and
:meth:`AgentLoop.next_due_s`.
"""

from __future__ import annotations

import heapq
import itertools
import json
import selectors
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

__all__ = [
    "MAX_DATAGRAM",
    "AgentLoop",
    "Stopped",
    "Timer",
    "raise_stopped_on_signals",
    "udp_socket",
]

MAX_DATAGRAM = 65535  # holds any datagram: the IP total length is 16 bits (RFC 791 3.1)


class Stopped(Exception):
    """SIGTERM or SIGINT arrived."""


def raise_stopped_on_signals() -> None:
    """Make SIGTERM and SIGINT raise :class:`Stopped` in the main thread."""

    def stop(signum: int, frame: object) -> None:
        raise Stopped

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


@dataclass(order=True)
class Timer:
    """``action`` due at ``when`` (seconds from t0); ``seq`` orders timers due at the
    same instant as they were set."""

    when: float
    seq: int
    action: Callable[[], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        """Skip the action when its instant comes."""
        self.cancelled = True


def udp_socket(address: str, port: int) -> socket.socket:
    """A non-blocking UDP socket bound to ``address`` and ``port``: IPv6 (``AF_INET6``) for
    an IPv6 address, IPv4 for anything else."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.bind((address, port))
    sock.setblocking(False)
    return sock


def _read(sock: socket.socket, on_datagram: Callable[[bytes], None], skip_errors: bool) -> None:
    """Every datagram queued on ``sock``, to ``on_datagram``; an OSError is raised, or
    with ``skip_errors`` passed over."""
    while True:
        try:
            data = sock.recv(MAX_DATAGRAM)
        except BlockingIOError:
            return
        except OSError:  # an ICMP error queued on the socket
            if not skip_errors:
                raise
            continue
        on_datagram(data)


class AgentLoop:
    """Timers on the monotonic clock (seconds from ``t0``), readable sockets, and the
    agent's log ``log``."""

    def __init__(self, t0: float, log: IO[str]) -> None:
        self.t0 = t0
        self._log = log
        self._timers: list[Timer] = []
        self._seq = itertools.count()
        self._selector = selectors.DefaultSelector()

    def now(self) -> float:
        """Seconds since ``t0`` on the monotonic clock."""
        return time.monotonic() - self.t0

    def at(self, when_s: float, action: Callable[[], None]) -> Timer:
        """Run ``action`` once ``when_s`` (seconds from t0) has come."""
        timer = Timer(when_s, next(self._seq), action)
        heapq.heappush(self._timers, timer)
        return timer

    def watch(
        self,
        sock: socket.socket,
        on_datagram: Callable[[bytes], None],
        *,
        skip_errors: bool = False,
    ) -> None:
        """Pass each datagram ``sock`` receives to ``on_datagram``. An OSError from the
        socket (an ICMP error queued on it) ends :meth:`run_until` with that error, or
        with ``skip_errors`` is passed over."""
        self.on_readable(sock, lambda: _read(sock, on_datagram, skip_errors))

    def on_readable(self, sock: socket.socket, action: Callable[[], None]) -> None:
        """Run ``action`` whenever ``sock`` has something to read; it reads it all."""
        self._selector.register(sock, selectors.EVENT_READ, action)

    def record(self, what: str, **fields: Any) -> None:
        """One JSON line in the log: ``t`` (seconds from t0, to the microsecond),
        ``what`` and ``fields``."""
        self._log.write(json.dumps({"t": round(self.now(), 6), "what": what, **fields}) + "\n")
        self._log.flush()

    def after_timers(self) -> None:
        """What a subclass does after each round of due timers; nothing here."""

    def next_due_s(self) -> float | None:
        """The instant (seconds from t0) a subclass has work due, or None: the loop
        wakes by then to call :meth:`after_timers`."""
        return None

    def run_until(self, end_s: float, finished: Callable[[], bool] | None = None) -> None:
        """Serve due timers, then :meth:`after_timers`, then readable sockets, until
        ``end_s`` (seconds from t0) or, when given, ``finished()``."""
        while True:
            now = self.now()
            while self._timers and self._timers[0].when <= now:
                timer = heapq.heappop(self._timers)
                if not timer.cancelled:
                    timer.action()
            self.after_timers()
            if now >= end_s or (finished is not None and finished()):
                return
            wait = end_s - now
            if self._timers:
                wait = min(wait, self._timers[0].when - now)
            due = self.next_due_s()
            if due is not None:
                wait = min(wait, due - now)
            for key, _ in self._selector.select(max(wait, 0.0)):
                action: Callable[[], None] = key.data
                action()
