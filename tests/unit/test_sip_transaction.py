"""RFC 3261 section 17 transaction machines and their timers, against hand-worked schedules."""

from __future__ import annotations

import math
from typing import Protocol

import pytest

from voipbed.models.sip_timers import SipTimers
from voipbed.models.sip_transaction import (
    InviteClientState,
    InviteClientTransaction,
    InviteServerState,
    InviteServerTransaction,
    NonInviteClientTransaction,
    NonInviteServerTransaction,
    NonInviteState,
    Outbox,
    SipMessage,
)

INVITE = SipMessage("INVITE", "INVITE", 0, 1, "b1", 800)
ACK = SipMessage("ACK", "ACK", 0, 1, "b1", 300)
REGISTER = SipMessage("REGISTER", "REGISTER", 0, 1, "r1", 500)


def response(status: int, request: SipMessage = INVITE) -> SipMessage:
    return SipMessage(str(status), request.method, status, request.cseq, request.branch, 400)


class Machine(Protocol):
    deadline: float

    def on_timer(self, now: float) -> bool: ...


class Timed:
    """Runs a transaction's timers and notes when each message went out."""

    def __init__(self) -> None:
        self.outbox: Outbox = []
        self.sent: list[tuple[float, str, bool]] = []
        self.now = 0.0

    def flush(self) -> None:
        self.sent += [(self.now, m.label, retx) for m, retx in self.outbox]
        self.outbox.clear()

    def run(self, tx: Machine, until: float) -> float | None:
        """Fire timers up to ``until``; the time a timeout was reported, if one was."""
        self.flush()
        while tx.deadline <= until:
            self.now = tx.deadline
            timed_out = tx.on_timer(self.now)
            self.flush()
            if timed_out:
                return self.now
        return None


def test_timer_defaults_follow_rfc3261_table4() -> None:
    """T1 0.5 s, T2 4 s, T4 5 s; B, F, H = 64*T1; D 32 s, I and K T4, J 64*T1 on UDP, 0 on TCP."""
    t = SipTimers()
    assert (t.t1_s, t.t2_s, t.t4_s) == (0.5, 4.0, 5.0)
    assert (t.a_s, t.e_s, t.g_s) == (0.5, 0.5, 0.5)
    assert (t.b_s, t.f_s, t.h_s, t.l_s, t.m_s) == (32.0, 32.0, 32.0, 32.0, 32.0)
    assert (t.d_s(False), t.i_s(False), t.j_s(False), t.k_s(False)) == (32.0, 5.0, 32.0, 5.0)
    assert (t.d_s(True), t.i_s(True), t.j_s(True), t.k_s(True)) == (0.0, 0.0, 0.0, 0.0)


def test_derived_timers_scale_with_t1_and_t4() -> None:
    """With T1 = 0.2 s and T4 = 2 s: B = F = J = 12.8 s, I = K = 2 s."""
    t = SipTimers(t1_s=0.2, t2_s=1.0, t4_s=2.0)
    assert t.b_s == pytest.approx(12.8) and t.f_s == pytest.approx(12.8)
    assert t.j_s(False) == pytest.approx(12.8) and t.k_s(False) == 2.0 and t.i_s(False) == 2.0


@pytest.mark.parametrize(
    "kwargs", [{"t1_s": 0.0}, {"t1_s": 1.0, "t2_s": 0.5}, {"t4_s": -1.0}, {"t2_s": math.inf}]
)
def test_bad_timer_values_are_refused(kwargs: dict[str, float]) -> None:
    """A zero T1, T2 below T1, a negative or infinite value raise ValueError."""
    with pytest.raises(ValueError):
        SipTimers(**kwargs)


def test_timer_a_doubles_without_cap_until_timer_b() -> None:
    """Unanswered INVITE over UDP: sent at 0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5; timeout at 32 s."""
    run = Timed()
    tx = InviteClientTransaction(
        INVITE, ACK, now=0.0, outbox=run.outbox, timers=SipTimers(), reliable=False
    )
    timed_out = run.run(tx, 100.0)
    assert [t for t, _, _ in run.sent] == [0.0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert [retx for _, _, retx in run.sent] == [False] + [True] * 6
    assert timed_out == 32.0 and tx.state is InviteClientState.TERMINATED


def test_timer_a_ignores_t2() -> None:
    """Timer A is not capped by T2 (17.1.1.2): with T2 = 1 s the intervals still double."""
    run = Timed()
    timers = SipTimers(t2_s=1.0)
    tx = InviteClientTransaction(
        INVITE, ACK, now=0.0, outbox=run.outbox, timers=timers, reliable=False
    )
    run.run(tx, 8.0)
    assert [t for t, _, _ in run.sent] == [0.0, 0.5, 1.5, 3.5, 7.5]


def test_reliable_invite_is_not_retransmitted_but_times_out() -> None:
    """Over TCP/TLS Timer A does not run; Timer B still ends the transaction at 64*T1."""
    run = Timed()
    run.now = 2.0
    tx = InviteClientTransaction(
        INVITE, ACK, now=2.0, outbox=run.outbox, timers=SipTimers(), reliable=True
    )
    assert run.run(tx, 100.0) == 34.0
    assert run.sent == [(2.0, "INVITE", False)]


def test_provisional_response_stops_retransmission_and_timer_b() -> None:
    """A 1xx moves Calling to Proceeding: no more INVITEs and no Timer B."""
    run = Timed()
    tx = InviteClientTransaction(
        INVITE, ACK, now=0.0, outbox=run.outbox, timers=SipTimers(), reliable=False
    )
    run.run(tx, 0.6)
    assert tx.on_response(0.7, response(100)) is True
    assert tx.state is InviteClientState.PROCEEDING and tx.deadline == math.inf
    assert run.run(tx, 100.0) is None and len(run.sent) == 2


def test_non_2xx_final_is_acknowledged_by_the_transaction() -> None:
    """A 486 is passed up once and ACKed (INVITE's branch); its retransmission is ACKed again;
    Timer D (32 s) ends the transaction."""
    run = Timed()
    tx = InviteClientTransaction(
        INVITE, ACK, now=0.0, outbox=run.outbox, timers=SipTimers(), reliable=False
    )
    run.flush()
    run.now = 1.0
    assert tx.on_response(1.0, response(486)) is True
    run.flush()
    run.now = 1.2
    assert tx.on_response(1.2, response(486)) is False
    run.flush()
    assert run.sent[1:] == [(1.0, "ACK", False), (1.2, "ACK", True)]
    assert run.outbox == [] and tx.state is InviteClientState.COMPLETED
    assert tx.deadline == 33.0
    tx.on_timer(33.0)
    assert tx.state is InviteClientState.TERMINATED


def test_timer_d_is_zero_over_reliable_transport() -> None:
    """Over TCP the Completed state ends at once (Timer D = 0)."""
    outbox: Outbox = []
    tx = InviteClientTransaction(
        INVITE, ACK, now=0.0, outbox=outbox, timers=SipTimers(), reliable=True
    )
    tx.on_response(1.0, response(603))
    assert tx.deadline == 1.0


def test_2xx_moves_to_accepted_and_every_2xx_goes_up() -> None:
    """RFC 6026: a 2xx and its retransmissions reach the TU; Timer M (64*T1) ends Accepted;
    the transaction itself sends no ACK for a 2xx."""
    outbox: Outbox = []
    tx = InviteClientTransaction(
        INVITE, ACK, now=0.0, outbox=outbox, timers=SipTimers(), reliable=False
    )
    outbox.clear()
    assert tx.on_response(2.0, response(200)) is True
    assert tx.state is InviteClientState.ACCEPTED
    assert tx.on_response(2.5, response(200)) is True
    assert outbox == [] and tx.deadline == 34.0


def test_timer_e_doubles_up_to_t2() -> None:
    """Unanswered non-INVITE over UDP: intervals 0.5, 1, 2, 4, 4, 4 ...; Timer F at 32 s."""
    run = Timed()
    tx = NonInviteClientTransaction(
        REGISTER, now=0.0, outbox=run.outbox, timers=SipTimers(), reliable=False
    )
    timed_out = run.run(tx, 100.0)
    times = [t for t, _, _ in run.sent]
    assert times == [0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert timed_out == 32.0 and tx.state is NonInviteState.TERMINATED


def test_timer_e_fires_every_t2_in_proceeding() -> None:
    """After a 1xx, the next Timer E firing resends and then every T2 (4 s)."""
    run = Timed()
    tx = NonInviteClientTransaction(
        REGISTER, now=0.0, outbox=run.outbox, timers=SipTimers(), reliable=False
    )
    run.run(tx, 0.6)  # sends at 0 and 0.5; E next at 1.5
    assert tx.on_response(0.7, response(100, REGISTER)) is True
    run.run(tx, 14.0)
    assert [t for t, _, _ in run.sent] == [0.0, 0.5, 1.5, 5.5, 9.5, 13.5]


def test_reliable_non_invite_sends_once_and_times_out() -> None:
    """Over TCP/TLS: one REGISTER, Timer F at 64*T1."""
    run = Timed()
    tx = NonInviteClientTransaction(
        REGISTER, now=0.0, outbox=run.outbox, timers=SipTimers(), reliable=True
    )
    assert run.run(tx, 100.0) == 32.0 and len(run.sent) == 1


@pytest.mark.parametrize(("reliable", "k_s"), [(False, 5.0), (True, 0.0)])
def test_non_invite_final_response_then_timer_k(reliable: bool, k_s: float) -> None:
    """A final response goes up once; retransmissions are absorbed; Timer K is T4 or 0."""
    outbox: Outbox = []
    tx = NonInviteClientTransaction(
        REGISTER, now=0.0, outbox=outbox, timers=SipTimers(), reliable=reliable
    )
    assert tx.on_response(0.3, response(401, REGISTER)) is True
    assert tx.on_response(0.4, response(401, REGISTER)) is False
    assert tx.state is NonInviteState.COMPLETED and tx.deadline == pytest.approx(0.3 + k_s)


def test_invite_server_sends_trying_and_repeats_latest_provisional() -> None:
    """100 at once; a retransmitted INVITE gets the latest provisional again."""
    run = Timed()
    tx = InviteServerTransaction(
        INVITE, now=0.0, outbox=run.outbox, timers=SipTimers(), reliable=False, trying=response(100)
    )
    run.flush()
    run.now = 0.2
    tx.respond(0.2, response(180))
    run.flush()
    run.now = 0.5
    tx.on_request(0.5, INVITE)
    run.flush()
    assert run.sent == [(0.0, "100", False), (0.2, "180", False), (0.5, "180", True)]


def test_invite_server_retransmits_error_on_timer_g_until_h() -> None:
    """A 486 without ACK: resent at +0.5, 1.5, 3.5, 7.5, 11.5 ... (T2 cap); Timer H at +32 s."""
    run = Timed()
    tx = InviteServerTransaction(
        INVITE, now=0.0, outbox=run.outbox, timers=SipTimers(), reliable=False
    )
    run.now = 1.0
    tx.respond(1.0, response(486))
    timed_out = run.run(tx, 100.0)
    times = [t - 1.0 for t, _, _ in run.sent]
    assert times == [0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert timed_out == 33.0


def test_invite_server_ack_confirms_and_timer_i_ends() -> None:
    """The ACK of a 486 stops Timer G; Confirmed lasts T4 (5 s) over UDP, 0 over TCP."""
    for reliable, i_s in ((False, 5.0), (True, 0.0)):
        outbox: Outbox = []
        tx = InviteServerTransaction(
            INVITE, now=0.0, outbox=outbox, timers=SipTimers(), reliable=reliable
        )
        tx.respond(1.0, response(486))
        tx.on_request(1.3, ACK)
        assert tx.state is InviteServerState.CONFIRMED and tx.deadline == pytest.approx(1.3 + i_s)
        tx.on_request(1.4, INVITE)
        assert len(outbox) == 1  # nothing resent once confirmed


def test_invite_server_2xx_goes_to_accepted() -> None:
    """RFC 6026: after a 2xx the INVITE retransmissions are absorbed; Timer L ends it at +64*T1."""
    outbox: Outbox = []
    tx = InviteServerTransaction(INVITE, now=0.0, outbox=outbox, timers=SipTimers(), reliable=False)
    tx.respond(2.0, response(200))
    tx.on_request(2.3, INVITE)
    assert tx.state is InviteServerState.ACCEPTED and len(outbox) == 1
    assert tx.deadline == 34.0
    assert tx.on_timer(34.0) is False and tx.state is InviteServerState.TERMINATED


@pytest.mark.parametrize(("reliable", "j_s"), [(False, 32.0), (True, 0.0)])
def test_non_invite_server_repeats_final_and_timer_j(reliable: bool, j_s: float) -> None:
    """A retransmitted request before any response gets nothing, after the final one gets it
    again; Timer J is 64*T1 over UDP and 0 over TCP."""
    outbox: Outbox = []
    tx = NonInviteServerTransaction(
        REGISTER, now=0.0, outbox=outbox, timers=SipTimers(), reliable=reliable
    )
    tx.on_request(0.1, REGISTER)
    assert outbox == []
    tx.respond(0.2, response(200, REGISTER))
    tx.on_request(0.6, REGISTER)
    assert [(m.label, retx) for m, retx in outbox] == [("200", False), ("200", True)]
    assert tx.deadline == pytest.approx(0.2 + j_s)
