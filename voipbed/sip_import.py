"""SIP messages found in captures, as the trace's events: one per message, and each call's
set-up.

:func:`sip_events` reads every whole UDP datagram of the captures
(``frame_fields``) whose payload is a SIP message (RFC 3261 7: a request line
``METHOD URI SIP/2.0`` or a status line ``SIP/2.0 CODE``), groups them into
dialogs by Call-ID, and gives:

- a ``sip_message`` event per message, as the simulator writes them (direction:
  uplink from the caller, the INVITE's sender; label: method or status code;
  CSeq method and number; Via branch; retransmission: the sender sent the same
  label on the same branch before; bytes: the IP packet), with its arrival: with
  two captures, the same message seen in the other one, else where it was seen;
- per dialog with an INVITE, a ``call_dial`` event at the first INVITE and a
  ``call_setup`` event with its outcome (answered on a 2xx, rejected on another
  final response, else no answer), set-up time (first INVITE to the 2xx
  reaching the caller) and post-dial delay (to the first 180 or 183).

A dialog takes the call number of the RTP streams its SDP names (``c=`` address
and ``m=audio`` port, RFC 4566), so its ladder stands beside its media; a
dialog whose media were not found is numbered after the media's calls. Each
message keeps its SDP's audio media (``sdp.parse_sdp``), which tell the codec
of the streams sent to them (``sdp_codecs``).

Only datagrams whose payload starts with an upper-case letter, as every request
line and status line does, are read in Python; RTP's first octet (version 2) is
never one. A message that does not read as RFC 3261 writes it is left out.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from voipbed.frame_fields import UDP, UdpFields, address_text
from voipbed.metric_names import EventKind
from voipbed.pcap_file import Capture
from voipbed.sdp import AudioMedia, parse_sdp

__all__ = ["SipSeen", "find_sip", "sip_events"]

Event = tuple[float, str, int, dict[str, Any]]
_REQUEST = re.compile(rb"^([A-Z]+) (sips?:|tel:)\S* SIP/2\.0\r?\n")
_STATUS = re.compile(rb"^SIP/2\.0 (\d{3}) ")
_COMPACT = {"i": "call-id", "v": "via", "c": "content-type", "l": "content-length"}
_CSEQ = re.compile(r"([0-9]{1,10})\s+(\S{1,64})$")
_FIRST, _LAST = ord("A"), ord("Z")  # a request's method or "SIP/2.0" starts a message


@dataclass
class SipSeen:
    """One SIP message as a capture saw it."""

    capture: int
    time_s: float
    src: tuple[str, int]
    dst: tuple[str, int]
    label: str  # the method of a request, the status code of a response
    method: str  # CSeq's method
    cseq: int
    call_id: str
    branch: str
    size_bytes: int
    sdp: list[AudioMedia] = field(default_factory=list)  # its body's audio media

    @property
    def request(self) -> bool:
        return not self.label.isdigit()

    @property
    def media(self) -> list[tuple[str, int]]:
        """The audio endpoints (address, port) its SDP names."""
        return [(m.address, m.port) for m in self.sdp if m.address]


def find_sip(captures: Sequence[tuple[Capture, UdpFields]], origin_ns: int) -> list[SipSeen]:
    """Every SIP message in ``captures``, in time order; times from ``origin_ns``."""
    seen = []
    for index, (capture, fields) in enumerate(captures):
        data = capture.data
        starts = fields.payload_start
        sizes = fields.payload_bytes
        udp = np.flatnonzero((fields.status == UDP) & (sizes >= 12))
        first = np.frombuffer(data, dtype=np.uint8)[starts[udp]]
        for k in udp[(first >= _FIRST) & (first <= _LAST)].tolist():
            payload = data[int(starts[k]) : int(starts[k]) + int(sizes[k])]
            if not (payload[:8] == b"SIP/2.0 " or _REQUEST.match(payload)):
                continue
            message = _parse(payload)
            if message is None:
                continue
            label, method, cseq, call_id, branch, sdp = message
            version = int(fields.ip_version[k])
            seen.append(
                SipSeen(
                    index,
                    (int(capture.time_ns[k]) - origin_ns) / 1e9,
                    (address_text(fields.src[k], version), int(fields.sport[k])),
                    (address_text(fields.dst[k], version), int(fields.dport[k])),
                    label,
                    method,
                    cseq,
                    call_id,
                    branch,
                    int(fields.ip_bytes[k]),
                    sdp,
                )
            )
    return sorted(seen, key=lambda m: (m.time_s, m.capture))


def _parse(payload: bytes) -> tuple[str, str, int, str, str, list[AudioMedia]] | None:
    """Label, CSeq method and number, Call-ID, top Via branch and SDP audio media of a
    SIP message; None when it lacks Call-ID or CSeq."""
    head, _, body = payload.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = _STATUS.match(payload)
    label = status.group(1).decode() if status else lines[0].split(" ", 1)[0]
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon:
            continue
        key = name.strip().lower()
        key = _COMPACT.get(key, key)
        headers.setdefault(key, value.strip())
    call_id = headers.get("call-id")
    cseq = _CSEQ.match(headers.get("cseq", ""))
    if not call_id or cseq is None:
        return None
    branch = re.search(r"branch=([^;,\s]+)", headers.get("via", ""))
    return (
        label,
        cseq.group(2),
        int(cseq.group(1)),
        call_id,
        branch.group(1) if branch else "",
        parse_sdp(body.decode("latin-1")) if b"m=audio" in body else [],
    )


def sip_events(
    messages: Sequence[SipSeen], media_calls: Mapping[tuple[str, int], int], calls: int
) -> list[Event]:
    """The ``sip_message``, ``call_dial`` and ``call_setup`` events of ``messages``;
    ``media_calls`` gives the call number of each RTP endpoint, ``calls`` how many."""
    dialogs: dict[str, list[SipSeen]] = defaultdict(list)
    for message in messages:
        dialogs[message.call_id].append(message)
    events: list[Event] = []
    next_call = calls
    two_ends = len({m.capture for m in messages}) > 1
    for mine in dialogs.values():
        invites = [m for m in mine if m.label == "INVITE"]
        if not invites:
            continue
        call = next((media_calls[e] for m in mine for e in m.media if e in media_calls), None)
        if call is None:
            call, next_call = next_call, next_call + 1
        caller = invites[0].src
        events += _dialog_events(mine, call, caller, two_ends)
    return events


def _dialog_events(
    mine: list[SipSeen], call: int, caller: tuple[str, int], two_ends: bool
) -> list[Event]:
    """One dialog's events (see the module docstring)."""
    sent = [m for m in mine if not two_ends or _at_sender(m, mine)]
    events: list[Event] = []
    said: set[tuple[str, str, str]] = set()
    for message in sent:
        key = (message.branch, message.label, message.src[0])
        retransmission = key in said
        said.add(key)
        fields = {
            "direction": "uplink" if message.src == caller else "downlink",
            "label": message.label,
            "method": message.method,
            "cseq": message.cseq,
            "branch": message.branch,
            "retransmission": retransmission,
            "bytes": message.size_bytes,
            "arrival_s": _arrival(message, mine) if two_ends else message.time_s,
            "call_id": message.call_id,
        }
        events.append((message.time_s, EventKind.SIP_MESSAGE, call, fields))
    dial_s = next(m.time_s for m in sent if m.label == "INVITE")
    events.append((dial_s, EventKind.CALL_DIAL, call, {}))
    events.append(_setup_event(sent, mine, call, dial_s, two_ends))
    return events


def _at_sender(message: SipSeen, mine: list[SipSeen]) -> bool:
    """Whether ``message`` is its sender's copy: the first sighting of that message."""
    same = [m for m in mine if _same(m, message)]
    return min(same, key=lambda m: m.time_s) is message


def _same(a: SipSeen, b: SipSeen) -> bool:
    return (a.branch, a.label, a.cseq, a.src, a.dst) == (b.branch, b.label, b.cseq, b.src, b.dst)


def _arrival(message: SipSeen, mine: list[SipSeen]) -> float | None:
    """When the other capture saw ``message`` (None: it never did)."""
    later = [m for m in mine if m.capture != message.capture and _same(m, message)]
    later = [m for m in later if m.time_s >= message.time_s]
    return min((m.time_s for m in later), default=None)


def _setup_event(
    sent: list[SipSeen], mine: list[SipSeen], call: int, dial_s: float, two_ends: bool
) -> Event:
    """The dialog's ``call_setup`` event: outcome, set-up time and post-dial delay."""
    responses = [m for m in sent if m.method == "INVITE" and not m.request]

    def reached(message: SipSeen) -> float:
        arrival = _arrival(message, mine) if two_ends else message.time_s
        return message.time_s if arrival is None else arrival

    finals = [m for m in responses if int(m.label) >= 200]
    ringing = [reached(m) for m in responses if m.label in ("180", "183")]
    fields: dict[str, Any] = {
        "outcome": "no_answer",
        "final_status": None,
        "setup_s": None,
        "post_dial_delay_s": min(ringing) - dial_s if ringing else None,
        "sip_s": None,
        "retransmissions": {},
        "transport": "udp",
    }
    counts: dict[str, int] = defaultdict(int)
    said: set[tuple[str, str, str]] = set()
    for message in sent:
        key = (message.branch, message.label, message.src[0])
        if key in said:
            counts[message.label] += 1
        said.add(key)
    fields["retransmissions"] = dict(counts)
    end_s = max(m.time_s for m in mine)
    if finals:
        final = finals[0]
        status = int(final.label)
        fields["final_status"] = status
        if status < 300:
            answered = reached(final)
            fields |= {"outcome": "answered", "setup_s": answered - dial_s}
            fields["sip_s"] = fields["setup_s"]
            end_s = answered
        else:
            fields["outcome"] = "rejected"
    return (end_s, EventKind.CALL_SETUP, call, fields)
