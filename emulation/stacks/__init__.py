"""Adapters for the external SIP/RTP stacks: pure builders of their configs and argv, and
pure parsers of their output. Running them is ``voipbed.emulation.process``'s job."""

from __future__ import annotations

from enum import StrEnum


class Transport(StrEnum):
    """SIP transports the stacks are driven over (TLS needs modules and builds we lack)."""

    UDP = "udp"
    TCP = "tcp"
