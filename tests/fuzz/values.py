"""What the scenario mutator puts into a scenario: hostile values, variants, overrides, traces.

Plain data, no logic: ``tests.fuzz.mutants`` and ``tests.fuzz.text_mutants``
draw from these catalogues with a seeded ``random.Random``.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = [
    "BAD_OVERRIDES",
    "BAD_TRACE_FILES",
    "BAD_TRACE_NAMES",
    "BAD_UNITS",
    "BARE_DOCUMENTS",
    "EXTREME_NUMBERS",
    "EXTREME_UNITS",
    "TAGGED_VALUES",
    "VARIANTS",
    "WRONG_TYPES",
    "Variant",
]

# 10**400 is an integer literal no float holds; 2**63 and 2**64 are just past int64 and uint64.
EXTREME_NUMBERS: tuple[Any, ...] = (
    0,
    -1,
    1e300,
    -1e300,
    10**400,
    1e-300,
    math.nan,
    math.inf,
    -math.inf,
    2**63,
    2**64,
    -(2**63) - 1,
    10_000,  # within most bounds, but large for a count or a rate per minute
    190_000,
)

EXTREME_UNITS: tuple[str, ...] = (
    "1e300s",
    "0ns",
    "1ns",
    "1e-12s",
    "1000Gbps",
    "1e400Mbps",
    "100%",
    "0%",
    "101%",
    "-5ms",
    "0s",
    "1e-300s",
    "1e300Gbps",
    "1e-300bps",
    "1e300GiB",
    "0B",
    "1B",
    "1e30h",
    "1e400s",
    "-0ms",
    "1" + "0" * 400 + "ms",
    "1bps",  # the slowest link: a minute of calls drains for weeks
    "1us",
)

BAD_UNITS: tuple[str, ...] = (
    "10 parsecs",
    "5 ms ms",
    "ms",
    "five ms",
    "1e5e5s",
    "5 Ms",
    "5mS",
    "0x10ms",
    "1_000ms",
    "nan ms",
    "inf s",
    "",
    " ",
    "%",
    "5ms5",
    "∞ms",
)

WRONG_TYPES: tuple[Any, ...] = (
    [],
    [1, 2],
    [[[]]],
    {},
    {"a": 1},
    {"kind": None},
    True,
    False,
    None,
    "text",
    0.5,
)

# Values written into the YAML text as they stand (tags, anchors, aliases, merge keys).
TAGGED_VALUES: tuple[str, ...] = (
    "!!python/object/apply:os.system [echo fuzz]",
    "!!binary aGVsbG8=",
    "!!float 1",
    "!!float x",
    "!!int x",
    "!!int 0x_",
    "!!timestamp 2001-12-14",
    "2001-12-14",
    "!!set {a, b}",
    "!!omap [a: 1]",
    "!!pairs [a: 1]",
    "!!str",
    "!!null x",
    "!!bool maybe",
    "!foo bar",
    "*undefined",
    "&anchor 20ms",
    "{<<: {a: 1}}",
    "[*undefined]",
    '"\\x00"',
    '"\\uD800"',
    "0o17",
    "0b101",
    "1_000",
    "12:30:00",
    ".NaN",
    "-.Inf",
)

# Whole documents that are no scenario at all.
BARE_DOCUMENTS: tuple[bytes, ...] = (
    b"",
    b"# only a comment\n# and another\n",
    b"   \n\n\t\n",
    b"---\n",
    b"...\n",
    b"--- \n...\n",
    b"- a\n- b\n",
    b"42\n",
    b"name: a\n---\nname: b\n",
    b"\xef\xbb\xbf",
    b"~\n",
    b"null\n",
    b"[]\n",
    b"{}\n",
    b"'just a string'\n",
    b"name: ok\n\x00\n",
    b"\xff\xfe\x00n\x00a\x00m\x00e\x00",
    b"name: [unclosed\n",
    b"name: 'unclosed\n",
    b"name: a\n  b: c\n",
    b":\n",
    b"? [a, b]\n: c\n",
    b"%YAML 1.1\n---\nname: a\n",
    b"%YAML 9.9\n---\nname: a\n",
    b"%TAG ! tag:example.com,2000:\n---\nname: !x a\n",
)


class Variant:
    """Values that switch on an optional part of a scenario, set key path by key path.

    ``segment`` is true when the key paths are relative to one ``path`` entry.
    """

    def __init__(self, name: str, settings: dict[str, Any], *, segment: bool = False) -> None:
        self.name = name
        self.settings = settings
        self.segment = segment


_RRC = {
    "promotion_delay": "260ms",
    "drx_inactivity": "100ms",
    "short_drx_cycle": "20ms",
    "short_drx_timer": "20ms",
    "long_drx_cycle": "40ms",
    "on_duration": "1ms",
    "rrc_inactivity": "11.6s",
    "paging_cycle": "1.28s",
    "paging_on_duration": "1ms",
    "uplink_sr_delay": "5ms",
}

VARIANTS: tuple[Variant, ...] = (
    Variant(
        "adaptive jitter buffer",
        {
            "jitter_buffer": {
                "kind": "adaptive",
                "alpha": 0.998,
                "beta": 4.0,
                "max_spurt": "2s",
                "initial_variation": "10ms",
            }
        },
    ),
    Variant(
        "neteq jitter buffer",
        {"jitter_buffer": {"kind": "neteq", "quantile": "95%", "forget_factor": 0.9993}},
    ),
    Variant(
        "pie queue",
        {
            "capacity": "10Mbps",
            "queue": {
                "packets": 100,
                "aqm": {
                    "kind": "pie",
                    "target": "15ms",
                    "update": "15ms",
                    "alpha": 0.125,
                    "beta": 1.25,
                    "max_burst": "150ms",
                    "ecn": True,
                },
            },
        },
        segment=True,
    ),
    Variant(
        "codel queue",
        {
            "capacity": "10Mbps",
            "queue": {
                "bytes": "64KiB",
                "aqm": {"kind": "codel", "target": "5ms", "interval": "100ms"},
            },
        },
        segment=True,
    ),
    Variant(
        "weighted scheduling",
        {
            "capacity": "10Mbps",
            "queue": {"packets": 50, "scheduling": "weighted", "weights": [4.0, 2.0, 1.0]},
        },
        segment=True,
    ),
    Variant(
        "cbr cross traffic",
        {
            "capacity": "10Mbps",
            "cross_traffic": [{"kind": "cbr", "rate": "1Mbps", "count": 1, "packet_size": "1500B"}],
        },
        segment=True,
    ),
    Variant(
        "onoff cross traffic",
        {
            "capacity": "10Mbps",
            "cross_traffic": [
                {"kind": "onoff", "rate": "2Mbps", "on": "1s", "off": "1s", "direction": "uplink"}
            ],
        },
        segment=True,
    ),
    Variant(
        "bulk cross traffic",
        {
            "capacity": "10Mbps",
            "cross_traffic": [
                {"kind": "bulk", "count": 2, "rtt": "60ms", "start": "1s", "stop": "5s"}
            ],
        },
        segment=True,
    ),
    Variant(
        "gilbert-elliott p/r loss",
        {
            "loss": {
                "model": "gilbert_elliott",
                "p": "1%",
                "r": "30%",
                "good_loss": "0%",
                "bad_loss": "100%",
            }
        },
        segment=True,
    ),
    Variant(
        "gilbert-elliott rate/burst loss",
        {"loss": {"model": "gilbert_elliott", "rate": "2%", "burst": 3}},
        segment=True,
    ),
    Variant("harq", {"harq": {"bler": "10%", "max_transmissions": 5, "rtt": "8ms"}}, segment=True),
    Variant(
        "reordering jitter",
        {"jitter": {"distribution": "half_normal", "scale": "5ms", "reorder": True}},
        segment=True,
    ),
    Variant(
        "framing",
        {"header_compression": "rohc", "link_layer": "lte", "bleach_dscp": True},
        segment=True,
    ),
    Variant("rrc", {"radio": {"rrc": dict(_RRC, initial_state="idle")}}),
    Variant(
        "handover schedule",
        {
            "radio": {
                "handovers": {
                    "schedule": [
                        {"time": "2s", "kind": "x2"},
                        {"time": "4s", "kind": "lte_to_wifi"},
                    ],
                    "recovery": {"mode": "ice_restart", "ice_restart": "1s"},
                }
            }
        },
    ),
    Variant(
        "poisson handovers",
        {
            "radio": {
                "handovers": {
                    "rate_per_min": 4,
                    "kinds": ["x2", "lte_to_wifi", "wifi_to_lte"],
                    "x2": {"interruption": "50ms", "forwarding": True, "forwarding_delay": "10ms"},
                }
            }
        },
    ),
    Variant("keep-alive", {"radio": {"keepalive_interval": "30s"}}),
    Variant(
        "sip load",
        {
            "signalling": {
                "transport": "tls",
                "load": {"calls": 10, "calls_per_second": 1.0, "hold": "1s"},
            }
        },
    ),
    Variant(
        "e-model settings",
        {
            "emodel": {
                "advantage": 5,
                "talker_echo_delay": "20ms",
                "listener_echo_round_trip": "40ms",
                "telr": 65,
            }
        },
    ),
    Variant(
        "wideband calls",
        {
            "calls": {
                "count": 2,
                "codec": "AMR-WB-12.65",
                "ptime": "20ms",
                "amr_payload_format": "octet_aligned",
                "plc": "codec",
                "ip_version": 6,
                "srtp_tag_bits": 80,
                "rtcp_share": "5%",
                "hold_time": "5s",
                "ecn": True,
            }
        },
    ),
    Variant("device", {"device": {"send_latency": "15ms", "receive_latency": "15ms"}}),
    Variant("codec sweep", {"sweep": {"calls.codec": ["PCMU", "G722"]}}),
    Variant("loss sweep", {"sweep": {"path[0].loss": ["1%", "2%"], "calls.count": [1, 2]}}),
    Variant("buffer sweep", {"sweep": {"jitter_buffer": [{"kind": "neteq"}, {"kind": "fixed"}]}}),
)

# Overrides that are wrong however the scenario looks.
BAD_OVERRIDES: tuple[str, ...] = (
    "calls.count=1e400",
    "calls.count=1" + "0" * 400,
    "path[9].loss=2%",
    "nonsense",
    "=",
    "=5",
    "calls..count=1",
    ".calls=1",
    "calls.=1",
    "path[0]=",
    "path[-1].loss=1%",
    "path[0.5].loss=1%",
    "path[00000000000000000000000009].loss=1%",
    "path[99999999999999999999].loss=1%",
    "path[0].loss=",
    "path[0].loss=.nan",
    "path[0].loss=[",
    "path[0].loss={",
    "path[0].loss=!!python/object/apply:os.system [echo fuzz]",
    "path[0].loss=*x",
    "duration=1e300s",
    "duration=1e400s",
    "duration=.inf",
    "calls=[]",
    "calls=null",
    "path=[]",
    "path=null",
    "path=5",
    "name=",
    "name=a b",
    "seed=-1",
    "seed=" + "9" * 5000,
    "sweep.x=1",
    "sweep={}",
    "radio.handovers.schedule[0].time=1s",
    "jitter_buffer.kind=neteq",
    "jitter_buffer={kind: neteq, quantile: 0%}",
    "calls.codec=PCMU\x00",
    "calls.cödec=PCMU",
    "cälls.count=1",
    "calls.count=" + "[" * 5000,
    "description=" + "x" * 100_000,
    "x" * 10_000 + "=1",
    "path[0].name=radio",
    "path[0]." + "a." * 2000 + "b=1",
)

# Trace file contents (one delivery opportunity per line, in ms, in a good file).
BAD_TRACE_FILES: tuple[bytes, ...] = (
    b"",
    b"\n",
    b"   \n",
    b"abc\n",
    b"1\n2\n" + str(2**70).encode() + b"\n",
    str(2**63).encode() + b"\n",
    str(10**400).encode() + b"\n",
    b"-5\n",
    b"1.5\n",
    b"nan\n",
    b"inf\n",
    b"9" * 30 + b"\n",
    b"\xff\xfe\n",
    b"0\n0\n0\n",
    b"5\n3\n1\n",
    b"# comment\n1\n",
    b"1 2\n",
    b"1\x002\n",
    b"1e3\n",
    b"+1\n",
    b"0x10\n",
    b"1\r\n2\r\n",
    b"1\n" * 100_000,  # 100,000 opportunities a millisecond: 1.2 Tbit/s
    b"1000000\n",  # one opportunity every 1000 s: 12 bit/s
)

# Trace names a scenario may give (relative ones are read beside the scenario).
BAD_TRACE_NAMES: tuple[str, ...] = (
    "~nosuchuser-voipbed-fuzz/x.up",
    "~/nonexistent-voipbed-fuzz.up",
    "x" * 5000,
    "a/" * 3000 + "x",
    "/dev/zero",
    "/dev/null",
    "/",
    ".",
    "..",
    "",
    " ",
    "a\x00b",
    "/proc/self/mem",
    "/proc/self/status",
    "/etc/hostname",
    "no-such-trace.up",
)
