"""Key paths as users write them (``path[1].loss``) and as tuples (``("path", 1, "loss")``)."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["KeyPath", "format_key_path", "parse_key_path"]

KeyPath = tuple[str | int, ...]


def format_key_path(key_path: Iterable[str | int]) -> str:
    """``("path", 1, "loss")`` -> ``"path[1].loss"``."""
    text = ""
    for part in key_path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def parse_key_path(text: str) -> KeyPath:
    """``"path[1].loss"`` -> ``("path", 1, "loss")``; raises ValueError when malformed."""
    parts: list[str | int] = []
    for dotted in text.split("."):
        name, _, rest = dotted.partition("[")
        if not name or not name.replace("_", "").isalnum():
            raise ValueError(f"{text!r} is not a key path like path[0].one_way_delay")
        parts.append(name)
        while rest:
            index, close, rest = rest.partition("]")
            if not close or not index.isdigit() or (rest and not rest.startswith("[")):
                raise ValueError(f"{text!r} is not a key path like path[0].one_way_delay")
            parts.append(int(index))
            rest = rest[1:]
    return tuple(parts)
