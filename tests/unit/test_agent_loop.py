"""The SIP agents' event loop: timers, readable sockets, the log and the subclass hooks."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import time
from collections.abc import Iterator

import pytest

from voipbed.emulation.agent_loop import (
    AgentLoop,
    Stopped,
    raise_stopped_on_signals,
    udp_socket,
)

LATER_S = 10.0  # an end the tests never reach when the loop behaves


def _loop() -> AgentLoop:
    return AgentLoop(time.monotonic(), io.StringIO())


@pytest.fixture
def sockets() -> Iterator[list[socket.socket]]:
    """Sockets a test opens, closed after it."""
    opened: list[socket.socket] = []
    yield opened
    for sock in opened:
        sock.close()


def test_due_timers_run_by_instant_then_in_the_order_set() -> None:
    """Timers already due run in one round, earliest first; equal instants as they were set."""
    loop = _loop()
    ran: list[str] = []
    for name, when in (("c", -0.1), ("a", -0.3), ("b1", -0.2), ("b2", -0.2)):
        loop.at(when, lambda name=name: ran.append(name))  # type: ignore[misc]
    loop.run_until(0.0)
    assert ran == ["a", "b1", "b2", "c"]


def test_a_cancelled_timer_does_not_run() -> None:
    """cancel() keeps the action from running; the other timers still run."""
    loop = _loop()
    ran: list[str] = []
    loop.at(-0.2, lambda: ran.append("kept"))
    loop.at(-0.1, lambda: ran.append("cancelled")).cancel()
    loop.run_until(0.0)
    assert ran == ["kept"]


def test_a_later_timer_runs_once_its_instant_has_come() -> None:
    """The loop sleeps until a timer's instant, then runs it."""
    loop = _loop()
    ran_at: list[float] = []
    loop.at(0.05, lambda: ran_at.append(loop.now()))
    loop.run_until(LATER_S, lambda: bool(ran_at))
    assert len(ran_at) == 1
    assert ran_at[0] >= 0.05


def test_the_run_ends_at_its_end() -> None:
    """With nothing to do, run_until returns once its end has come."""
    loop = _loop()
    loop.run_until(0.05)
    assert loop.now() >= 0.05


def test_finished_ends_the_run_before_its_end() -> None:
    """Once finished() holds after a round of timers, the run returns; later timers wait."""
    loop = _loop()
    ran: list[str] = []
    loop.at(0.0, lambda: ran.append("first"))
    loop.at(LATER_S, lambda: ran.append("later"))
    loop.run_until(2 * LATER_S, lambda: bool(ran))
    assert ran == ["first"]


def test_every_datagram_queued_on_a_watched_socket_reaches_its_handler(
    sockets: list[socket.socket],
) -> None:
    """watch() hands each datagram waiting on the socket to the handler, in order."""
    loop = _loop()
    sock = udp_socket("127.0.0.1", 0)
    sender = udp_socket("127.0.0.1", 0)
    sockets += [sock, sender]
    sent = [b"one", b"two", b"three"]
    for data in sent:
        sender.sendto(data, sock.getsockname())
    received: list[bytes] = []
    loop.watch(sock, received.append)
    loop.run_until(LATER_S, lambda: len(received) == len(sent))
    assert received == sent


def _refused_then_datagram(sockets: list[socket.socket]) -> socket.socket:
    """A socket with an ICMP port-unreachable error queued, then a datagram."""
    closed = udp_socket("127.0.0.1", 0)
    peer = closed.getsockname()
    closed.close()
    sock = udp_socket("127.0.0.1", 0)
    sockets.append(sock)
    sock.connect(peer)
    sock.send(b"to a closed port")
    replier = udp_socket(*peer)
    sockets.append(replier)
    replier.sendto(b"after the error", sock.getsockname())
    return sock


def test_a_socket_error_ends_the_run(sockets: list[socket.socket]) -> None:
    """Without skip_errors, an error queued on a watched socket leaves run_until."""
    loop = _loop()
    received: list[bytes] = []
    loop.watch(_refused_then_datagram(sockets), received.append)
    with pytest.raises(ConnectionRefusedError):
        loop.run_until(LATER_S, lambda: bool(received))
    assert received == []


def test_a_socket_error_is_passed_over_with_skip_errors(sockets: list[socket.socket]) -> None:
    """With skip_errors, the error is skipped and the datagram after it still arrives."""
    loop = _loop()
    received: list[bytes] = []
    loop.watch(_refused_then_datagram(sockets), received.append, skip_errors=True)
    loop.run_until(LATER_S, lambda: bool(received))
    assert received == [b"after the error"]


class _Paced(AgentLoop):
    """A subclass with work due at ``due_s``, noting what ran in which order."""

    def __init__(self, due_s: float) -> None:
        super().__init__(time.monotonic(), io.StringIO())
        self.due_s: float | None = due_s
        self.order: list[str] = []
        self.served_at: float | None = None

    def after_timers(self) -> None:
        self.order.append("after")
        if self.due_s is not None and self.now() >= self.due_s:
            self.served_at = self.now()
            self.due_s = None

    def next_due_s(self) -> float | None:
        return self.due_s


def test_after_timers_follows_each_round_of_due_timers() -> None:
    """The hook runs after the timers due in the same round."""
    loop = _Paced(LATER_S)
    loop.at(-0.1, lambda: loop.order.append("timer"))
    loop.run_until(0.0)
    assert loop.order == ["timer", "after"]


def test_the_next_due_instant_wakes_the_loop() -> None:
    """With no timer and no datagram, the loop wakes for next_due_s, not for its end."""
    loop = _Paced(0.05)
    loop.run_until(LATER_S, lambda: loop.served_at is not None)
    assert loop.served_at is not None
    assert 0.05 <= loop.served_at < LATER_S


def test_each_record_is_one_json_line_stamped_from_t0() -> None:
    """record() writes ``t`` (seconds from t0), ``what`` and the fields, one line each."""
    log = io.StringIO()
    loop = AgentLoop(time.monotonic() - 1.0, log)
    loop.record("ready", role="phones")
    loop.record("done")
    lines = [json.loads(line) for line in log.getvalue().splitlines()]
    assert [line["what"] for line in lines] == ["ready", "done"]
    assert lines[0]["role"] == "phones"
    assert 1.0 <= lines[0]["t"] <= lines[1]["t"]


def test_udp_socket_is_bound_and_does_not_block(sockets: list[socket.socket]) -> None:
    """udp_socket binds the address given (port 0: one the system picks), non-blocking."""
    sock = udp_socket("127.0.0.1", 0)
    sockets.append(sock)
    address, port = sock.getsockname()
    assert address == "127.0.0.1"
    assert port > 0
    assert not sock.getblocking()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_sigint_raise_stopped(signum: signal.Signals) -> None:
    """After raise_stopped_on_signals, either signal raises Stopped in the main thread."""
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        raise_stopped_on_signals()
        with pytest.raises(Stopped):
            os.kill(os.getpid(), signum)
            time.sleep(LATER_S)  # the handler raises before this ends
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
