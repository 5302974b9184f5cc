"""What is wrong with a scenario: issues naming where (file:line or `--set`) and which key."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["ScenarioError", "ScenarioIssue"]


@dataclass(frozen=True)
class ScenarioIssue:
    """One problem in a scenario: where, which key, what."""

    origin: str  # "file.yaml:14", "--set KEY=VALUE" or "--seed N"
    key_path: str  # "path[1].loss"; "" for the whole document
    message: str

    def __str__(self) -> str:
        where = f"{_cut(self.origin)}: {_cut(self.key_path)}" if self.key_path else self.origin
        return f"{_cut(where)}: {_cut(self.message, 300)}"


def _cut(text: str, limit: int = 120) -> str:
    """``text``, cut in the middle to ``limit`` characters: a 100 kB key stays one line."""
    if len(text) <= limit:
        return text
    half = (limit - 5) // 2
    return f"{text[:half]} ... {text[-half:]}"


class ScenarioError(Exception):
    """A scenario that cannot be used; carries every issue found."""

    def __init__(self, issues: Sequence[ScenarioIssue]) -> None:
        self.issues = tuple(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))
