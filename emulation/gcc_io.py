"""What the GCC sender and receiver processes share: their UDP socket, logs and stop signal.

- :func:`udp_socket`: one non-blocking UDP socket, bound, with the DSCP and
  ECN field its packets carry (IP_TOS / IPV6_TCLASS) and, for a receiver, the
  field of each arriving packet handed over as ancillary data (IP_RECVTOS /
  IPV6_RECVTCLASS, ip(7), ipv6(7));
- :func:`received_ecn`: the ECN field (RFC 3168 section 5) of one datagram
  from that ancillary data;
- :class:`CsvLog`: a per-packet or per-report log, one CSV row per line with a
  header, written as it goes and closed on exit;
- :class:`StopSignal`: SIGTERM and SIGINT ask the loop to finish.

The IP and UDP headers a datagram carries on the wire (:func:`ip_udp_bytes`)
make a packet's size as the links (and GCC) count it.
"""

from __future__ import annotations

import signal
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import IO, Self

__all__ = [
    "CsvLog",
    "StopSignal",
    "ancillary_space",
    "format_value",
    "ip_udp_bytes",
    "parse_address",
    "received_ecn",
    "udp_socket",
]

IPV4_UDP_BYTES = 20 + 8  # RFC 791 header without options, RFC 768 header
IPV6_UDP_BYTES = 40 + 8  # RFC 8200 fixed header, RFC 768 header
_RCVBUF_BYTES = 1 << 20


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[IPV6]:PORT`` as (host, port); ValueError saying what is wrong."""
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise ValueError(f"{text!r} is not HOST:PORT")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        number = int(port)
    except ValueError:
        raise ValueError(f"{text!r}: port {port!r} is not a number") from None
    if not 0 <= number <= 65535:
        raise ValueError(f"{text!r}: port {number} is outside 0..65535")
    return host, number


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def ip_udp_bytes(host: str) -> int:
    """Bytes of IP and UDP header around each datagram to or from ``host``."""
    return IPV6_UDP_BYTES if _family(host) == socket.AF_INET6 else IPV4_UDP_BYTES


def udp_socket(bind: tuple[str, int], *, tos: int = 0, read_ecn: bool = False) -> socket.socket:
    """A non-blocking UDP socket bound to ``bind`` whose packets carry traffic class
    ``tos`` (DSCP << 2 | ECN) and, with ``read_ecn``, that reports each arriving
    packet's traffic class (``received_ecn``)."""
    family = _family(bind[0])
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RCVBUF_BYTES)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, tos)
            if read_ecn:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVTCLASS, 1)
        else:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, tos)
            if read_ecn:
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_RECVTOS, 1)
        sock.bind(bind)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def ancillary_space() -> int:
    """Room for the traffic-class ancillary item ``udp_socket(read_ecn=True)`` asks for."""
    return socket.CMSG_SPACE(4)


def received_ecn(ancillary: Sequence[tuple[int, int, bytes]]) -> int:
    """The ECN field of a datagram from its ancillary data (0 when absent)."""
    for level, kind, data in ancillary:
        if level == socket.IPPROTO_IP and kind == socket.IP_TOS and data:
            return data[0] & 0x3
        if level == socket.IPPROTO_IPV6 and kind == socket.IPV6_TCLASS and len(data) >= 4:
            return int.from_bytes(data[:4], "little") & 0x3
    return 0


class CsvLog:
    """A CSV file written row by row: ``columns`` as its header, then one line per row."""

    def __init__(self, path: Path | None, columns: Sequence[str]) -> None:
        self.path = path
        self.columns = tuple(columns)
        self.rows = 0
        self._file: IO[str] | None = None
        if path is not None:
            self._file = path.open("w", encoding="ascii", buffering=1 << 16)
            self._file.write(",".join(self.columns) + "\n")

    def write(self, *values: object) -> None:
        """One row, ``values`` in column order (cells as ``format_value`` writes them)."""
        if len(values) != len(self.columns):
            raise ValueError(f"{len(values)} values for {len(self.columns)} columns")
        self.rows += 1
        if self._file is not None:
            self._file.write(",".join(format_value(v) for v in values) + "\n")

    def close(self) -> None:
        """Flush and close the file (idempotent)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def format_value(value: object) -> str:
    """A CSV cell: floats to the microsecond without trailing zeros, NaN as an empty cell,
    everything else as ``str``."""
    if isinstance(value, float):
        if value != value:
            return ""
        text = f"{value:.6f}".rstrip("0")
        return text[:-1] if text.endswith(".") else text
    return str(value)


class StopSignal:
    """Set once SIGTERM or SIGINT arrives while ``installed``; the loops check ``is_set``."""

    def __init__(self) -> None:
        self.signum: int | None = None

    @property
    def is_set(self) -> bool:
        """Whether a stop signal arrived."""
        return self.signum is not None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.signum = signum

    @contextmanager
    def installed(self) -> Iterator[Self]:
        """Handle SIGTERM and SIGINT by setting the flag, the previous handlers restored
        on exit."""
        previous = {
            signum: signal.signal(signum, self._handle)
            for signum in (signal.SIGTERM, signal.SIGINT)
        }
        try:
            yield self
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
