"""Mutations of a scenario's YAML text, and the hostile files that only a limited process may read.

``mutate(rng, text)`` changes the bytes of a scenario as written: encodings,
control characters, nesting, tags and aliases, indentation, line ends, whole
documents that are no scenario. ``alias_bomb``, ``deep_nesting`` and
``write_big_file`` build inputs that can exhaust a process; those go through
``tests.fuzz.limited`` only, never the test process.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.fuzz import values

__all__ = ["TextChange", "alias_bomb", "deep_nesting", "mutate", "write_big_file"]

_KEY_LINE = re.compile(r"^(\s*(?:- )?)([A-Za-z_][\w-]*):(.*)$")


@dataclass(frozen=True)
class TextChange:
    operator: str
    description: str
    text: bytes


def alias_bomb(levels: int = 9, width: int = 9) -> bytes:
    """Billion laughs: each level lists the previous one ``width`` times (9**9 leaves, ~400 B)."""
    lines = ["name: bomb", f"a: &a [{','.join(['x'] * width)}]"]
    for level in range(1, levels):
        this, previous = chr(ord("a") + level), chr(ord("a") + level - 1)
        lines.append(f"{this}: &{this} [{','.join([f'*{previous}'] * width)}]")
    return ("\n".join(lines) + "\n").encode()


def deep_nesting(depth: int, style: str = "sequence") -> bytes:
    """A scenario whose ``description`` is nested ``depth`` levels deep."""
    if style == "sequence":
        value = "[" * depth + "]" * depth
    elif style == "mapping":
        value = "{a: " * depth + "1" + "}" * depth
    else:  # block sequences: each "- " opens a level
        value = "\n  " + "- " * depth + "x"
    return f"name: deep\ndescription: {value}\n".encode()


def write_big_file(path: Path, size: int) -> None:
    """A valid scenario padded with comment lines to ``size`` bytes."""
    chunk = b"# padding padding padding padding padding padding padding padding\n" * 1024
    with path.open("wb") as out:
        out.write(b"name: big\n")
        written = 10
        while written < size:
            out.write(chunk)
            written += len(chunk)


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _key_lines(text: str) -> list[int]:
    return [i for i, line in enumerate(_lines(text)) if _KEY_LINE.match(line.rstrip("\r\n"))]


def _insert_bytes(rng: random.Random, text: str, what: bytes, name: str) -> TextChange:
    data = text.encode("utf-8")
    at = rng.randrange(len(data) + 1)
    line = data.count(b"\n", 0, at) + 1
    return TextChange(name, f"insert {what!r} at line {line}", data[:at] + what + data[at:])


def _non_utf8(rng: random.Random, text: str) -> TextChange:
    what = rng.choice([b"\xff", b"\xfe\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xe9", b"\x80"])
    return _insert_bytes(rng, text, what, "non_utf8")


def _control(rng: random.Random, text: str) -> TextChange:
    what = rng.choice([b"\x00", b"\x00", b"\x07", b"\x1b", b"\x7f", b"\x0c", b"\xc2\x85"])
    return _insert_bytes(rng, text, what, "control_char")


def _byte_flip(rng: random.Random, text: str) -> TextChange:
    data = bytearray(text.encode("utf-8"))
    at = rng.randrange(len(data))
    data[at] = rng.randrange(256)
    line = data.count(b"\n", 0, at) + 1
    return TextChange("byte_flip", f"byte {at} (line {line}) -> {data[at]:#04x}", bytes(data))


def _deep(rng: random.Random, text: str) -> TextChange:
    style = rng.choice(["sequence", "mapping", "block"])
    depth = rng.choice([100, 1000, 10_000])
    return TextChange("deep_nesting", f"{style} nested {depth} deep", deep_nesting(depth, style))


def _bare(rng: random.Random, text: str) -> TextChange:
    document = rng.choice(values.BARE_DOCUMENTS)
    return TextChange("bare_document", f"the whole file is {document[:40]!r}", document)


def _duplicate_line(rng: random.Random, text: str) -> TextChange:
    lines = _lines(text)
    keyed = _key_lines(text)
    index = rng.choice(keyed)
    lines.insert(index + 1, lines[index])
    key = lines[index].strip()[:40]
    return TextChange("duplicate_key", f"line {index + 1} ({key}) twice", "".join(lines).encode())


def _truncate(rng: random.Random, text: str) -> TextChange:
    data = text.encode("utf-8")
    at = rng.randrange(len(data))
    line = data.count(b"\n", 0, at) + 1
    return TextChange("truncate", f"cut at byte {at} (line {line})", data[:at])


def _tagged(rng: random.Random, text: str) -> TextChange:
    lines = _lines(text)
    index = rng.choice(_key_lines(text))
    match = _KEY_LINE.match(lines[index].rstrip("\r\n"))
    assert match is not None  # _key_lines matched it
    value = rng.choice(values.TAGGED_VALUES)
    lines[index] = f"{match.group(1)}{match.group(2)}: {value}\n"
    description = f"line {index + 1}: {match.group(2)}: {value}"
    return TextChange("tagged_value", description, "".join(lines).encode())


def _layout(rng: random.Random, text: str) -> TextChange:
    choice = rng.randrange(6)
    if choice == 0:
        return TextChange("layout", "CRLF line ends", text.replace("\n", "\r\n").encode())
    if choice == 1:
        return TextChange("layout", "CR line ends", text.replace("\n", "\r").encode())
    if choice == 2:
        return TextChange("layout", "UTF-8 BOM first", b"\xef\xbb\xbf" + text.encode())
    if choice == 3:
        return TextChange("layout", "UTF-16 encoded", text.encode("utf-16"))
    lines = _lines(text)
    indented = [i for i, line in enumerate(lines) if line.startswith("  ")]
    if not indented:
        return TextChange("layout", "no change", text.encode())
    index = rng.choice(indented)
    if choice == 4:
        lines[index] = "\t" + lines[index][2:]
        return TextChange("layout", f"tab indent at line {index + 1}", "".join(lines).encode())
    lines[index] = lines[index][1:]
    return TextChange("layout", f"line {index + 1} one space out", "".join(lines).encode())


def _small_aliases(rng: random.Random, text: str) -> TextChange:
    """Aliases that expand to a few thousand nodes: harmless, but every one is a key path."""
    levels = rng.choice([2, 3, 4])
    bomb = alias_bomb(levels, 8).decode().replace("name: bomb\n", "")
    body = "\n".join(f"  {line}" for line in bomb.splitlines())
    return TextChange(
        "small_aliases",
        f"8**{levels} alias expansion under an unknown key",
        f"{text}\nanchors:\n{body}\n".encode(),
    )


def _boolean_top_keys(rng: random.Random, text: str) -> TextChange:
    key = rng.choice(["on", "off", "yes", "no", "On", "Off", "YES"])
    return TextChange("boolean_key", f"top-level {key}: 1s", f"{text}{key}: 1s\n".encode())


_OPERATORS: tuple[tuple[int, Callable[[random.Random, str], TextChange]], ...] = (
    (3, _non_utf8),
    (3, _control),
    (2, _byte_flip),
    (2, _deep),
    (3, _bare),
    (2, _duplicate_line),
    (2, _truncate),
    (4, _tagged),
    (2, _layout),
    (1, _small_aliases),
    (1, _boolean_top_keys),
)


def mutate(rng: random.Random, text: str) -> TextChange:
    """One text mutation of ``text``, drawn with ``rng``."""
    weights = [weight for weight, _ in _OPERATORS]
    operator = rng.choices([op for _, op in _OPERATORS], weights)[0]
    return operator(rng, text)
