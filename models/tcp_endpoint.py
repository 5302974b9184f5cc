"""One end of a TCP connection as a sans-IO state machine: handshake, sender, receiver.

:class:`TcpEndpoint` is fed segments (:meth:`~TcpEndpoint.on_segment`), timer expiries
(:meth:`~TcpEndpoint.on_timer`) and application calls (``connect``, ``write``, ``close``),
all with the time passed in; what it wants to send collects in ``outbox`` and its next
timer is ``deadline_s``. Sequence numbers count bytes of the data stream from 0; the SYN
is outside that space and a FIN takes one number after the last byte.

Handshake: the client sends a SYN and retransmits it on the RTO (initial 1 s, doubling,
RFC 6298 sections 2.1 and 5.5) up to ``syn_retries`` times before giving up (Linux
``tcp_syn_retries`` = 6: SYNs at 0, 1, 3, 7, 15, 31 and 63 s, failure at 127 s,
Documentation/networking/ip-sysctl.rst). The server answers each SYN with a SYN-ACK and
retransmits it on its own timer up to ``synack_retries`` times (Linux
``tcp_synack_retries`` = 5), then drops the half-open connection and listens again. The
handshake gives the first RTT sample unless its segment was retransmitted (Karn). A
retransmitted SYN or SYN-ACK leaves a loss window of one segment as the initial window
(RFC 5681 section 3.1) and, without a sample, a 3 s RTO (RFC 6298 section 5.7).

Sender: segments of at most SMSS bytes (the MSS less the options each segment carries,
RFC 6691) are cut from the stream when the window allows; Nagle's algorithm is not
modelled (a write goes out at once, as with ``TCP_NODELAY``). The window is
min(cwnd, peer's receive window) in bytes (RFC 5681), and also cwnd / SMSS in segments, as
Linux counts it in packets (``tcp_cwnd_test``), so that small messages do not slip more
segments through than full-sized ones would (after a timeout, one segment). The peer's
application reads at once, so its receive window stays open. RFC 6298 timer rules: a
data segment sent while the timer is off starts it (5.1), an ACK of all data stops it
(5.2), an ACK of new data restarts it (5.3); on expiry the earliest unacknowledged
segment is retransmitted (5.4), the RTO doubles (5.5) and the timer restarts (5.6). RTT
samples come from the oldest segment a new ACK covers, and only when no segment it covers
was retransmitted (Karn's algorithm, RFC 6298 section 3; Linux times the oldest newly
acknowledged segment as ``seq_rtt``).

Congestion control, RFC 5681: the initial window is 10 segments (RFC 6928); slow start
adds min(acked, SMSS) per ACK while cwnd < ssthresh, congestion avoidance SMSS*SMSS/cwnd
per ACK (section 3.1). The third duplicate ACK triggers fast retransmit and fast
recovery (section 3.2: ssthresh = max(FlightSize/2, 2 SMSS), cwnd = ssthresh + 3 SMSS,
+SMSS per further duplicate), with NewReno's partial ACKs (RFC 6582 section 3.2: a
partial ACK retransmits the next hole and deflates cwnd, the full ACK ends recovery with
cwnd = ssthresh). A timeout sets ssthresh the same way (only on the first timeout of a
series) and cwnd to one segment, the loss window (section 3.1), and resends from the
first unacknowledged byte as the window grows (go-back-N, as Linux marks every
outstanding segment lost after an RTO). After ``data_retries`` consecutive timeouts the
connection is aborted (Linux ``tcp_retries2`` = 15, which Linux turns into a time limit
of about 924.6 s with a 200 ms RTO; here it counts timeouts).

Receiver: it keeps out-of-order segments and advances ``rcv_nxt`` only over contiguous
bytes. By default it acknowledges every segment at once (Linux's quick-ack mode at the
start of a connection, where a signalling connection with sparse messages stays);
``delayed_ack_s`` selects delayed ACKs instead: an ACK for every second full-sized
segment or after the delay (RFC 5681 section 4.2, RFC 1122 section 4.2.3.2: at most
0.5 s; Linux's delay is 40 ms to 200 ms, ``TCP_DELACK_MIN``/``TCP_DELACK_MAX``). An
out-of-order segment, one that fills a gap and a duplicate are acknowledged at once
(RFC 5681 section 4.2). Data segments carry the current ACK (piggybacking).

With ``nagle`` (RFC 896, RFC 1122 section 4.2.3.4; Linux's default unless the
application sets TCP_NODELAY) a segment smaller than the MSS waits while sent
data is unacknowledged, and what was written meanwhile goes out together when
the ACK comes: with a peer that delays its ACKs, a second small message waits
for the peer's delayed-ACK timer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import IntEnum

from voipbed.models.overhead import IpVersion
from voipbed.models.tcp_rto import RtoConfig, RtoEstimator

__all__ = [
    "TCP_HEADER_BYTES",
    "Segment",
    "SegmentKind",
    "TcpConfig",
    "TcpEndpoint",
    "TcpState",
]

TCP_HEADER_BYTES = 20  # RFC 9293 section 3.1, no options
_LINUX_TIMESTAMP_OPTION_BYTES = 12  # RFC 7323 section 3: 10 bytes, padded with 2 NOPs
_LINUX_SYN_OPTION_BYTES = 20  # MSS 4 + SACK-permitted 2 + timestamps 10 + NOP 1 + wscale 3
_NO_DEADLINE = math.inf


class TcpState(IntEnum):
    """Connection states (RFC 9293 section 3.3.2), with the closing states folded."""

    CLOSED = 0
    LISTEN = 1
    SYN_SENT = 2
    SYN_RECEIVED = 3
    ESTABLISHED = 4
    FAILED = 5  # the handshake or a retransmission gave up


class SegmentKind(IntEnum):
    """What a segment carries; every kind but SYN also carries an ACK."""

    SYN = 0
    SYN_ACK = 1
    ACK = 2  # a pure ACK: no data
    DATA = 3
    FIN = 4


@dataclass(frozen=True, slots=True)
class Segment:
    """One TCP segment: ``seq`` and ``length`` in the data stream's sequence space."""

    kind: SegmentKind
    seq: int
    length: int  # sequence numbers taken: payload bytes, 1 for a FIN, 0 otherwise
    ack: int  # the next byte expected from the peer; -1 on a SYN
    wire_bytes: int  # IP + TCP headers + payload
    retransmission: bool


@dataclass(frozen=True)
class TcpConfig:
    """One endpoint's TCP settings; the source of each default is in its comment."""

    ip_version: IpVersion = IpVersion.V4
    mtu_bytes: int = 1500  # Ethernet and most mobile bearers
    options_bytes: int = _LINUX_TIMESTAMP_OPTION_BYTES  # per segment; 0 without timestamps
    syn_options_bytes: int = _LINUX_SYN_OPTION_BYTES
    initial_window_segments: int = 10  # RFC 6928 section 2; Linux TCP_INIT_CWND
    receive_window_bytes: int = 65_535  # the peer's advertised window, no scaling
    dupack_threshold: int = 3  # RFC 5681 section 3.2
    syn_retries: int = 6  # Linux net.ipv4.tcp_syn_retries
    synack_retries: int = 5  # Linux net.ipv4.tcp_synack_retries
    data_retries: int = 15  # Linux net.ipv4.tcp_retries2 (a count here)
    delayed_ack_s: float | None = None  # None: ACK every segment at once (quick ack)
    nagle: bool = False  # RFC 896 / RFC 1122 4.2.3.4; Linux has it on unless TCP_NODELAY
    rto: RtoConfig = field(default_factory=RtoConfig)

    def __post_init__(self) -> None:
        if self.mss_bytes - self.options_bytes < 1:
            raise ValueError(f"mtu_bytes {self.mtu_bytes} leaves no room for data")
        for name in ("options_bytes", "syn_options_bytes"):
            value = getattr(self, name)
            if not 0 <= value <= 40 or value % 4:
                raise ValueError(f"{name} must be a multiple of 4 in [0, 40], got {value}")
        for name in ("initial_window_segments", "receive_window_bytes", "dupack_threshold"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("syn_retries", "synack_retries", "data_retries"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.delayed_ack_s is not None and not 0 < self.delayed_ack_s <= 0.5:
            raise ValueError("delayed_ack_s must be in (0, 0.5] s (RFC 1122 section 4.2.3.2)")

    @property
    def mss_bytes(self) -> int:
        """The MSS: MTU less the IP and TCP fixed headers (RFC 9293 section 3.7.1)."""
        return self.mtu_bytes - self.ip_version.header_bytes - TCP_HEADER_BYTES

    @property
    def smss_bytes(self) -> int:
        """Payload bytes of a full segment: the MSS less the options (RFC 6691)."""
        return self.mss_bytes - self.options_bytes

    @property
    def header_bytes(self) -> int:
        """IP + TCP header bytes of a segment after the handshake."""
        return self.ip_version.header_bytes + TCP_HEADER_BYTES + self.options_bytes

    @property
    def syn_bytes(self) -> int:
        """Size of a SYN or SYN-ACK."""
        return self.ip_version.header_bytes + TCP_HEADER_BYTES + self.syn_options_bytes


class _Sent:
    """A segment sent and not yet acknowledged."""

    __slots__ = ("end", "fin", "retransmitted", "sent_at", "start")

    def __init__(self, start: int, end: int, sent_at: float, fin: bool) -> None:
        self.start = start
        self.end = end
        self.sent_at = sent_at
        self.fin = fin
        self.retransmitted = False


class TcpEndpoint:
    """One end of a connection; ``outbox`` holds the segments to send, in order."""

    def __init__(self, config: TcpConfig | None = None) -> None:
        cfg = config or TcpConfig()
        self.config = cfg
        self.state = TcpState.CLOSED
        self.rto = RtoEstimator(cfg.rto)
        self.outbox: list[Segment] = []
        self._smss = cfg.smss_bytes
        self._header = cfg.header_bytes
        # handshake
        self._syn_sent_at = 0.0
        self._syn_retransmits = 0
        # sender
        self.snd_una = 0
        self.snd_nxt = 0
        self._snd_max = 0  # one past the highest sequence number sent
        self._data_end = 0  # bytes written by the application
        self._fin_seq: int | None = None  # sequence number of our FIN once closing
        self._sent: list[_Sent] = []
        self._head = 0  # first unacknowledged entry of _sent
        self._resend = 0  # next entry of _sent to resend after a timeout
        self.cwnd = cfg.initial_window_segments * self._smss
        self.ssthresh = cfg.receive_window_bytes
        self._dupacks = 0
        self._recovering = False
        self._recover = 0
        self._timeouts = 0  # consecutive
        self._rto_deadline = _NO_DEADLINE
        self.retransmissions = 0
        # receiver
        self.rcv_nxt = 0
        self._holes: list[list[int]] = []  # out-of-order [start, end) runs, sorted
        self._unacked_segments = 0
        self._ack_deadline = _NO_DEADLINE
        self._peer_fin_seq: int | None = None
        self.peer_fin = False  # the peer's FIN and every byte before it arrived

    # --- state -------------------------------------------------------------------------

    @property
    def deadline_s(self) -> float:
        """The next timer expiry, ``math.inf`` when no timer runs."""
        return min(self._rto_deadline, self._ack_deadline)

    @property
    def established(self) -> bool:
        """True once the handshake completed at this end."""
        return self.state is TcpState.ESTABLISHED

    @property
    def all_acked(self) -> bool:
        """True when everything written (and the FIN, if any) is acknowledged."""
        end = self._data_end if self._fin_seq is None else self._fin_seq + 1
        return self.snd_una >= end

    @property
    def closing(self) -> bool:
        """True once ``close`` was called: nothing more may be written."""
        return self._fin_seq is not None

    @property
    def fin_acked(self) -> bool:
        """True when our FIN was sent and acknowledged."""
        return self._fin_seq is not None and self.snd_una > self._fin_seq

    # --- application -------------------------------------------------------------------

    def connect(self, now: float) -> None:
        """Open actively: send a SYN."""
        if self.state is not TcpState.CLOSED:
            raise ValueError(f"connect() in state {self.state.name}")
        self.state = TcpState.SYN_SENT
        self._syn_sent_at = now
        self._emit(SegmentKind.SYN, 0, 0, -1, self.config.syn_bytes, False)
        self._rto_deadline = now + self.rto.rto_s

    def listen(self) -> None:
        """Open passively: wait for a SYN."""
        if self.state is not TcpState.CLOSED:
            raise ValueError(f"listen() in state {self.state.name}")
        self.state = TcpState.LISTEN

    def write(self, now: float, size_bytes: int) -> int:
        """Append ``size_bytes`` to the stream; returns the sequence number after them."""
        if self._fin_seq is not None:
            raise ValueError("write() after close()")
        if self.state is TcpState.FAILED:
            raise ValueError("write() on a failed connection")
        self._data_end += size_bytes
        if self.state is TcpState.ESTABLISHED:
            self._send(now)
        return self._data_end

    def close(self, now: float) -> None:
        """Send a FIN after the data written so far."""
        if self._fin_seq is None:
            self._fin_seq = self._data_end
            if self.state is TcpState.ESTABLISHED:
                self._send(now)

    def abort(self) -> None:
        """Stop at once: no more segments, no timers."""
        self.state = TcpState.FAILED
        self._rto_deadline = self._ack_deadline = _NO_DEADLINE

    # --- input -------------------------------------------------------------------------

    def on_segment(self, now: float, seg: Segment) -> None:
        """Process one arriving segment."""
        state = self.state
        kind = seg.kind
        if state is TcpState.FAILED or state is TcpState.CLOSED:
            return
        if kind is SegmentKind.SYN:
            self._on_syn(now)
            return
        if kind is SegmentKind.SYN_ACK:
            self._on_syn_ack(now)
            return
        if state is TcpState.SYN_RECEIVED:
            self._establish(now, sample=self._syn_retransmits == 0, rtt_from=self._syn_sent_at)
        elif state is not TcpState.ESTABLISHED:
            return
        self._on_ack(now, seg)
        if seg.length:
            self._on_data(now, seg)
        if self.state is TcpState.ESTABLISHED:
            self._send(now)

    def on_timer(self, now: float) -> None:
        """Handle whichever timers have expired by ``now``."""
        if self._ack_deadline <= now:
            self._ack_deadline = _NO_DEADLINE
            self._send_ack()
        if self._rto_deadline <= now:
            self._on_rto(now)

    # --- handshake ---------------------------------------------------------------------

    def _on_syn(self, now: float) -> None:
        if self.state is TcpState.LISTEN:
            self.state = TcpState.SYN_RECEIVED
            self._syn_sent_at = now
            self._emit(SegmentKind.SYN_ACK, 0, 0, 0, self.config.syn_bytes, False)
            self._rto_deadline = now + self.rto.rto_s
        elif self.state is TcpState.SYN_RECEIVED:  # the client resent its SYN
            self._syn_retransmits += 1
            self.retransmissions += 1
            self._emit(SegmentKind.SYN_ACK, 0, 0, 0, self.config.syn_bytes, True)
        else:
            self._send_ack()

    def _on_syn_ack(self, now: float) -> None:
        if self.state is TcpState.SYN_SENT:
            self._establish(now, sample=self._syn_retransmits == 0, rtt_from=self._syn_sent_at)
            self._send_ack()
            self._send(now)
        elif self.state is TcpState.ESTABLISHED:
            self._send_ack()  # our ACK of the handshake was lost

    def _establish(self, now: float, *, sample: bool, rtt_from: float) -> None:
        self.state = TcpState.ESTABLISHED
        self._rto_deadline = _NO_DEADLINE
        if sample:
            self.rto.sample(now - rtt_from)
        else:
            self.rto.fall_back()
        if self._syn_retransmits:
            self.cwnd = self._smss  # RFC 5681 section 3.1, RFC 6928 section 2

    def _handshake_timeout(self, now: float) -> None:
        limit = (
            self.config.syn_retries
            if self.state is TcpState.SYN_SENT
            else self.config.synack_retries
        )
        if self._syn_retransmits >= limit:
            if self.state is TcpState.SYN_SENT:
                self.abort()
            else:  # the server drops the half-open connection and listens again
                self.state = TcpState.LISTEN
                self._syn_retransmits = 0
                self._rto_deadline = _NO_DEADLINE
                self.rto = RtoEstimator(self.config.rto)
            return
        self._syn_retransmits += 1
        self.retransmissions += 1
        self.rto.back_off()
        kind = SegmentKind.SYN if self.state is TcpState.SYN_SENT else SegmentKind.SYN_ACK
        self._emit(kind, 0, 0, -1 if kind is SegmentKind.SYN else 0, self.config.syn_bytes, True)
        self._rto_deadline = now + self.rto.rto_s

    # --- sender ------------------------------------------------------------------------

    def _emit(
        self, kind: SegmentKind, seq: int, length: int, ack: int, wire: int, retx: bool
    ) -> None:
        self.outbox.append(Segment(kind, seq, length, ack, wire, retx))

    def _send(self, now: float) -> None:
        """Send what the window allows: resends after a timeout first, then new data."""
        sent = self._sent
        smss = self._smss
        window = min(self.cwnd, self.config.receive_window_bytes)
        stream_end = self._data_end if self._fin_seq is None else self._fin_seq + 1
        segments = max(1, self.cwnd // smss)
        while self.snd_nxt < stream_end:
            if self.snd_nxt > self.snd_una and self._resend - self._head >= segments:
                break
            if self.snd_nxt < self._snd_max:  # go-back-N after a timeout
                entry = sent[self._resend]
                length = entry.end - entry.start
                if self.snd_nxt - self.snd_una + length > window and self.snd_nxt > self.snd_una:
                    break
                entry.retransmitted = True
                self.retransmissions += 1
                self._resend += 1
                self._transmit(entry.start, length, entry.fin, True)
                self.snd_nxt = entry.end
                continue
            fin = self.snd_nxt == self._data_end
            length = 1 if fin else min(smss, self._data_end - self.snd_nxt)
            if self.snd_nxt - self.snd_una + length > window and self.snd_nxt > self.snd_una:
                break
            if self.config.nagle and not fin and length < smss and self.snd_nxt > self.snd_una:
                break  # a small segment waits while data is unacknowledged (RFC 896)
            entry = _Sent(self.snd_nxt, self.snd_nxt + length, now, fin)
            sent.append(entry)
            self._transmit(entry.start, length, fin, False)
            self.snd_nxt = self._snd_max = entry.end
            self._resend = len(sent)
        if self._rto_deadline == _NO_DEADLINE and self.snd_una < self._snd_max:
            self._rto_deadline = now + self.rto.rto_s  # RFC 6298 rule 5.1

    def _transmit(self, seq: int, length: int, fin: bool, retx: bool) -> None:
        self._ack_deadline = _NO_DEADLINE  # the ACK rides on this segment
        self._unacked_segments = 0
        if fin:
            self._emit(SegmentKind.FIN, seq, 1, self.rcv_nxt, self._header, retx)
        else:
            self._emit(SegmentKind.DATA, seq, length, self.rcv_nxt, self._header + length, retx)

    def _resend_first(self) -> None:
        entry = self._sent[self._head]
        entry.retransmitted = True
        self.retransmissions += 1
        self._transmit(entry.start, entry.end - entry.start, entry.fin, True)

    def _on_ack(self, now: float, seg: Segment) -> None:
        ack = seg.ack
        smss = self._smss
        if ack > self.snd_una:
            sent = self._sent
            head = self._head
            oldest = sent[head].sent_at
            karn_ok = True
            while head < len(sent) and sent[head].end <= ack:
                karn_ok = karn_ok and not sent[head].retransmitted
                head += 1
            self._head = head
            self._resend = max(self._resend, head)
            if head > 64 and head * 2 > len(sent):
                del sent[:head]
                self._resend -= head
                self._head = 0
            if karn_ok:
                self.rto.sample(now - oldest)
            acked = ack - self.snd_una
            self.snd_una = ack
            if self.snd_nxt < ack:
                self.snd_nxt = ack
            self._dupacks = 0
            self._timeouts = 0
            if self._recovering:
                if ack >= self._recover:  # full ACK: recovery ends (RFC 6582 section 3.2)
                    self._recovering = False
                    self.cwnd = self.ssthresh
                else:  # partial ACK: resend the next hole, deflate
                    self._resend_first()
                    self.cwnd = max(self.cwnd - acked + smss, smss)
            elif self.cwnd < self.ssthresh:
                self.cwnd += min(acked, smss)  # RFC 5681 equation 2
            else:
                self.cwnd += max(1, smss * smss // self.cwnd)  # RFC 5681 equation 3
            if self.snd_una >= self._snd_max:
                self._rto_deadline = _NO_DEADLINE  # RFC 6298 rule 5.2
            else:
                self._rto_deadline = now + self.rto.rto_s  # RFC 6298 rule 5.3
        elif ack == self.snd_una and seg.kind is SegmentKind.ACK and self.snd_una < self._snd_max:
            self._dupacks += 1
            threshold = self.config.dupack_threshold
            if self._dupacks == threshold and not self._recovering and ack >= self._recover:
                flight = self._snd_max - self.snd_una
                self.ssthresh = max(flight // 2, 2 * smss)  # RFC 5681 equation 4
                self._resend_first()
                self.cwnd = self.ssthresh + threshold * smss
                self._recovering = True
                self._recover = self._snd_max
            elif self._dupacks > threshold and self._recovering:
                self.cwnd += smss

    def _on_rto(self, now: float) -> None:
        if self.state is TcpState.SYN_SENT or self.state is TcpState.SYN_RECEIVED:
            self._handshake_timeout(now)
            return
        self._rto_deadline = _NO_DEADLINE
        if self.snd_una >= self._snd_max:
            return
        if self._timeouts >= self.config.data_retries:
            self.abort()
            return
        if self._timeouts == 0:
            flight = self._snd_max - self.snd_una
            self.ssthresh = max(flight // 2, 2 * self._smss)  # RFC 5681 equation 4
        self._timeouts += 1
        self.cwnd = self._smss  # the loss window, RFC 5681 section 3.1
        self._recovering = False
        self._dupacks = 0
        self._recover = self._snd_max  # RFC 6582 section 4
        self.snd_nxt = self.snd_una
        self._resend = self._head
        self.rto.back_off()  # RFC 6298 rule 5.5
        self._rto_deadline = now + self.rto.rto_s  # rule 5.6
        self._send(now)  # rule 5.4: the earliest unacknowledged segment first

    # --- receiver ----------------------------------------------------------------------

    def _on_data(self, now: float, seg: Segment) -> None:
        start = seg.seq
        end = start + seg.length
        if seg.kind is SegmentKind.FIN:
            self._peer_fin_seq = start
        if end <= self.rcv_nxt:  # a duplicate
            self._send_ack()
            return
        holes = self._holes
        if start <= self.rcv_nxt:
            self.rcv_nxt = end
            filled = bool(holes)
            while holes and holes[0][0] <= self.rcv_nxt:
                self.rcv_nxt = max(self.rcv_nxt, holes.pop(0)[1])
            if self._peer_fin_seq is not None and self.rcv_nxt > self._peer_fin_seq:
                self.peer_fin = True
            if filled or self.config.delayed_ack_s is None:
                self._send_ack()
                return
            self._unacked_segments += 1
            if seg.length >= self._smss and self._unacked_segments >= 2:
                self._send_ack()
            elif self._ack_deadline == _NO_DEADLINE:
                self._ack_deadline = now + self.config.delayed_ack_s
            return
        self._add_run(start, end)
        self._send_ack()  # out of order: a duplicate ACK at once

    def _add_run(self, start: int, end: int) -> None:
        runs = self._holes
        i = 0
        while i < len(runs) and runs[i][1] < start:
            i += 1
        if i < len(runs) and runs[i][0] <= end:
            runs[i][0] = min(runs[i][0], start)
            runs[i][1] = max(runs[i][1], end)
            while i + 1 < len(runs) and runs[i + 1][0] <= runs[i][1]:
                runs[i][1] = max(runs[i][1], runs.pop(i + 1)[1])
        else:
            runs.insert(i, [start, end])

    def _send_ack(self) -> None:
        self._ack_deadline = _NO_DEADLINE
        self._unacked_segments = 0
        self._emit(SegmentKind.ACK, self.snd_nxt, 0, self.rcv_nxt, self._header, False)
