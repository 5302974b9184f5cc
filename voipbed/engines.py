"""The engines a scenario runs in and the stages of a run: names only, cheap to import.

The command line builds its choices from these without loading an engine.
"""

from __future__ import annotations

__all__ = ["ENGINES", "STAGES"]

ENGINES = ("sim", "emulation")
STAGES = ("simulate", "write trace", "score", "report")
