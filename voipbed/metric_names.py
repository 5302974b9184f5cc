"""Names of what a run measures, for modules that must not load the scoring to know them.

``METRIC_COLUMNS`` are the per-flow metrics (columns of ``metrics.parquet``)
that ``summary.json`` aggregates over flows; ``DropReason`` (and its names,
``DROP_REASONS``) the reasons the trace gives for a packet lost in the
network; ``EventKind`` the kinds of the events the engines write; ``ALERT_KINDS``
the alerts a run can raise.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum

__all__ = ["ALERT_KINDS", "DROP_REASONS", "METRIC_COLUMNS", "DropReason", "EventKind"]

ALERT_KINDS = ("one_way_audio", "media_gap", "low_mos", "loss_burst", "echo_risk")
"""The alerts a run can raise (``voipbed.alerts``), as ``alert`` events name them."""

METRIC_COLUMNS = (
    "ppl_percent",
    "loss_percent",
    "late_percent",
    "burst_r",
    "delay_mean_s",
    "delay_p95_s",
    "delay_p99_s",
    "jitter_s",
    "jitter_last_s",
    "ta_s",
    "r_factor",
    "mos",
    "mos_window_min",
    "radio_energy_j",
    "pesq_mos_lqo",  # emulation runs: PESQ (ITU-T P.862 / P.862.2) of the audio received
    "setup_time_s",  # from dialling to the media (emulation, and simulated set-ups)
    "post_dial_delay_s",  # simulated set-ups: from dialling to the first 180 Ringing
    "codec_modes",  # rate-controlled runs: distinct codec modes the flow was coded with
    "mean_sent_bps",  # rate-controlled runs: wire bits per second the flow sent
    "dtmf_sent",  # with dtmf: digits the flow's caller sent (RFC 4733 telephone events)
    "dtmf_detected",  # digits the far end detected at least once
    "dtmf_missed",  # digits it never detected
    "dtmf_duplicated",  # detections beyond the first of a digit
)


class DropReason(IntEnum):
    """Why a packet was lost in the network. A reason's value is its code in both engines'
    stages and its index in the dictionary of the trace's ``drop_reason`` column."""

    QUEUE = 0  # the queue was full
    AQM = 1  # CoDel or PIE dropped it
    HARQ = 2  # every HARQ transmission failed
    CHANNEL = 3  # lost on the medium (the segment's loss model)
    HANDOVER = 4  # lost while the UE's radio was handed over

    @property
    def label(self) -> str:
        """The reason as the trace names it (``"queue"``, ``"aqm"``, ...)."""
        return self.name.lower()


DROP_REASONS = tuple(reason.label for reason in DropReason)
"""The reasons' names in code order: ``DROP_REASONS[code]`` names ``DropReason(code)``."""


class EventKind(StrEnum):
    """What an event of ``events.parquet`` tells (its ``kind``); the value is what the file
    holds, so a kind compares equal to its string."""

    CALL_START = "call_start"  # the call is up (emulation: answered)
    CALL_END = "call_end"
    CALL_DIAL = "call_dial"  # emulation: the caller dialled
    RRC = "rrc"  # the UE's RRC/DRX state changed
    RADIO_ENERGY = "radio_energy"  # the UE's radio energy over its call
    HANDOVER = "handover"
    QUEUE_STATS = "queue_stats"  # a configured queue's configuration and totals
    QUEUE_SAMPLES = "queue_samples"  # a configured queue's backlog and throughput over time
    FEEDBACK = "feedback"  # rate-control feedback one direction carried: reports and bytes
    EMULATION_READY = "emulation_ready"  # emulation: set-up done, the calls' clock starts
    SIP_REQUEST = "sip_request"  # emulation: a request the SIP core routed
    SIP_MESSAGE = "sip_message"  # simulator: a SIP message sent (a row of a ladder diagram)
    DNS_MESSAGE = "dns_message"  # simulator: a DNS query or answer of a call's set-up
    ICE_MESSAGE = "ice_message"  # simulator: a STUN message of a call's ICE (gathering, checks)
    CALL_SETUP = "call_setup"  # simulator: how a call's set-up ended, and its parts
    MEDIA_SECURE = "media_secure"  # DTLS-SRTP: the caller's SRTP keyed by its handshake
    ALERT = "alert"  # what a listener would have noticed: one-way audio, a gap, low MOS, echo
    PHONE = "phone"  # simulator: what an idle phone's registration, keep-alives and calls did
    INCOMING_CALL = "incoming_call"  # simulator: a call to an idle phone, when and how it ended
    SIP_LOAD = "sip_load"  # emulation: what the background SIP load generator did
    DTMF = "dtmf"  # a caller's DTMF digits: sent, and detected, missed, duplicated at the far end
