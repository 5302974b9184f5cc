"""G.711 facts and RTP/UDP/IPv4 overhead."""

from __future__ import annotations

import pytest

from voipbed.models.codecs import CODECS, codec
from voipbed.models.overhead import wire_bytes


@pytest.mark.parametrize("name,payload_type", [("PCMU", 0), ("PCMA", 8)])
def test_g711_facts(name: str, payload_type: int) -> None:
    """G.711 at 20 ms: 160 payload bytes, 160 RTP ticks, Ie 0, Bpl 4.3 / 25.1 (G.113 App. I)."""
    g711 = codec(name)
    assert g711.rtp_payload_type == payload_type
    assert g711.payload_bytes(0.020) == 160
    assert g711.rtp_ticks(0.020) == 160
    assert g711.ie == 0.0
    assert g711.bpl(concealment=False) == 4.3
    assert g711.bpl(concealment=True) == 25.1


def test_g711_packet_is_200_bytes_on_the_wire() -> None:
    """160 bytes of G.711 + RTP 12 + UDP 8 + IPv4 20 = 200 bytes: 80 kbit/s at 50 packets/s."""
    assert wire_bytes(codec("PCMU").payload_bytes(0.020)) == 200


def test_unknown_codec_names_the_known_ones() -> None:
    """Asking for a codec that does not exist says which do."""
    with pytest.raises(ValueError, match="PCMA, PCMU"):
        codec("G.729")
    assert set(CODECS) == {"PCMA", "PCMU"}


def test_negative_payload_rejected() -> None:
    """A negative payload size is an error."""
    with pytest.raises(ValueError):
        wire_bytes(-1)
