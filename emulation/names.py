"""Names of everything an emulation run creates, all derived from the run id.

A run id is the run folder's name (``default-20261201T130000Z-1a2b3c4d``). It is too long
for Linux interface names (15 characters at most), so every node, interface and process
carries a short *tag* instead: ``vb`` and six hex digits of the run id's SHA-256. Node names
are the tag, a role letter and a one-character index (``vb1a2b3cU0``: UE 0; ``vb1a2b3cL1``:
the link node of path segment 1), ten characters, which leaves room for an interface suffix
(``-e0`` ... ``-e999``). Cleanup finds a dead run's leftovers by this tag and nothing broader.
"""

from __future__ import annotations

import hashlib
import re
from enum import StrEnum

__all__ = [
    "INDEX_DIGITS",
    "MAX_INDEX",
    "MAX_INTERFACE_NAME",
    "TAG_PATTERN",
    "Role",
    "bridge_device_name",
    "interface_name",
    "node_name",
    "run_tag",
    "shell_marker",
]

MAX_INTERFACE_NAME = 15
"""Linux's limit on an interface name (IFNAMSIZ - 1)."""

INDEX_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
"""A node's index is one character of this alphabet (base 36)."""

MAX_INDEX = len(INDEX_DIGITS) - 1

TAG_PATTERN = re.compile(r"vb[0-9a-f]{6}")
"""What every tag looks like (``run_tag`` output)."""

_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class Role(StrEnum):
    """What a namespace node is for; the value is the letter in its name."""

    UE = "U"  # a handset
    LINK = "L"  # the link node of one path segment (forwards between two interfaces)
    BRIDGE = "B"  # a Linux bridge joining several hosts
    SIP_CORE = "S"  # the SIP registrar and proxy (Kamailio)
    FAR_END = "F"  # the far-end peer of every call
    NAT = "N"  # a NAT between the UEs and the core (nftables masquerade)


def run_tag(run_id: str) -> str:
    """The short tag of a run: ``vb`` and the first six hex digits of SHA-256(run id)."""
    if not _RUN_ID.fullmatch(run_id):
        raise ValueError(f"run id {run_id!r} must be a run folder's name ([A-Za-z0-9_.-])")
    return "vb" + hashlib.sha256(run_id.encode("utf-8")).hexdigest()[:6]


def _check_tag(tag: str) -> None:
    if not TAG_PATTERN.fullmatch(tag):
        raise ValueError(f"{tag!r} is not a run tag (vb and six hex digits)")


def node_name(tag: str, role: Role, index: int) -> str:
    """A node's name: tag, role letter, index in base 36 (``vb1a2b3cL0``); 10 characters."""
    _check_tag(tag)
    if not 0 <= index <= MAX_INDEX:
        raise ValueError(f"node index {index} is outside 0..{MAX_INDEX}")
    return f"{tag}{role.value}{INDEX_DIGITS[index]}"


def interface_name(node: str, k: int) -> str:
    """Interface ``k`` of ``node``: ``<node>-e<k>`` (fits 15 characters for k < 1000)."""
    name = f"{node}-e{k}"
    if k < 0 or len(name) > MAX_INTERFACE_NAME:
        raise ValueError(f"interface {k} of {node!r} has no valid name ({name!r})")
    return name


def bridge_device_name(node: str) -> str:
    """The Linux bridge device inside a bridge node or a pass-through link node."""
    name = f"{node}-br"
    if len(name) > MAX_INTERFACE_NAME:
        raise ValueError(f"bridge device name {name!r} is too long")
    return name


def shell_marker(node: str) -> str:
    """The argument that names a node's Mininet shell (``bash ... -is mininet:<node>``)."""
    return f"mininet:{node}"
