"""What the light calls send for each codec, and why they refuse the others.

A light call sends what the run's baresip calls send (``stacks.baresip.baresip_codec``):
the same voipbed codec in the same payload format (baresip's AMR and AMR-WB are
octet-aligned, RFC 4867 4.4, one byte a packet more than the simulator's
bandwidth-efficient AMR codecs), so every call of an emulation carries packets of one
size, the size ``models.codecs`` gives for that format. :func:`light_media` names it with
what the SDP says of it:

- the RTP payload type: a static one as ``models.codecs`` gives it (0, 8 and 9 of RFC
  3551 Table 4 for PCMU, PCMA and G722); for AMR and AMR-WB the first dynamic type, 96
  (RFC 3551 3), bound by the SDP's ``a=rtpmap``: the number baresip gives the one codec
  of its calls (captured from the emulation's baresip AMR-WB calls: ``m=audio ... RTP/AVP
  96 101``, ``a=rtpmap:96 AMR-WB/16000``, ``a=fmtp:96 octet-align=1``), so every call of a
  run carries one payload type;
- the ``a=rtpmap`` encoding name, baresip's (its ``sdp_name``), and the codec's RTP clock
  (G.722: 8000 Hz, RFC 3551 4.5.2; AMR 8000, AMR-WB 16000, RFC 4867 4.1);
- ``a=fmtp`` ``octet-align=1`` for the octet-aligned AMR formats (RFC 4867 8.1).

G.711 payloads are the speech companded (``g711_payload``), the others synthesized
(``frame_payload``). A codec baresip cannot send is refused with baresip's own reason
(the engine refuses it for the baresip calls in the same words); Opus, which baresip
sends, is refused for light calls: they synthesize no Opus packets. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass

from voipbed.emulation.stacks.baresip import UnsupportedCodecError, baresip_codec
from voipbed.models.codecs import Codec, PayloadFormat
from voipbed.sdp_codecs import FIRST_DYNAMIC

__all__ = ["LIGHT_CODECS", "LightMedia", "light_codec_problem", "light_media"]

LIGHT_CODECS = ("PCMU", "PCMA", "G722", "AMR-12.2", "AMR-WB-23.85")
"""The codecs the light agents send: baresip's fixed-rate codecs but Opus."""

OCTET_ALIGN_FMTP = "octet-align=1"  # RFC 4867 8.1


@dataclass(frozen=True)
class LightMedia:
    """One codec as the light agents send it, and as their SDP names it."""

    sent: Codec  # in the payload format sent: ``sent.payload_bytes`` is the packet's payload
    payload_type: int
    encoding: str  # the a=rtpmap encoding name, e.g. "AMR-WB"
    clock_hz: int  # the RTP clock, of the timestamps and the a=rtpmap
    fmtp: str  # the a=fmtp parameters; "" for none


def light_codec_problem(name: str) -> str | None:
    """Why the light agents cannot send codec ``name``; None when they can."""
    try:
        baresip_codec(name)
    except UnsupportedCodecError as error:
        return str(error)
    if name in LIGHT_CODECS:
        return None
    return (
        f"light calls (beyond the baresip calls) send {', '.join(LIGHT_CODECS)} only, not "
        f"{name}: they synthesize no Opus packets"
    )


def light_media(name: str) -> LightMedia:
    """How the light agents send codec ``name``; ValueError saying why when they cannot."""
    problem = light_codec_problem(name)
    if problem is not None:
        raise ValueError(problem)
    media = baresip_codec(name)
    sent = media.sent
    octet_aligned = sent.payload_format is PayloadFormat.AMR_OCTET_ALIGNED
    return LightMedia(
        sent=sent,
        payload_type=min(sent.rtp_payload_type, FIRST_DYNAMIC),  # a static type, else 96
        encoding=media.sdp_name.split("/")[0],
        clock_hz=sent.rtp_clock_hz,
        fmtp=OCTET_ALIGN_FMTP if octet_aligned else "",
    )
