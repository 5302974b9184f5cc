"""Adapters for the external SIP/RTP stacks: pure builders of their configs and argv, and
pure parsers of their output. Running them is ``voipbed.emulation.process``'s job."""

from __future__ import annotations

from enum import StrEnum


class Transport(StrEnum):
    """SIP transports the stacks are driven over (SIPp here is built without TLS: not it)."""

    UDP = "udp"
    TCP = "tcp"
    TLS = "tls"  # TLS over TCP (RFC 3261 26.2.1); Kamailio needs its tls module
