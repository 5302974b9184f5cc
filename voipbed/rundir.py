"""Run folders: ``runs/<scenario>-<UTC timestamp>-<short hash>/``.

The short hash is of the resolved scenario, so two folders with the same
hash ran the same scenario (seed included).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

from voipbed.scenario import Scenario

__all__ = ["create_run_dir", "scenario_hash"]


def scenario_hash(scenario: Scenario) -> str:
    """Eight hex digits identifying the resolved scenario."""
    text = json.dumps(scenario.to_yaml_dict(), sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]


def create_run_dir(out_dir: Path, scenario: Scenario, now: datetime | None = None) -> Path:
    """Create and return a new, empty run folder under ``out_dir``; never reuses one."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    base = f"{scenario.name}-{stamp}-{scenario_hash(scenario)}"
    out_dir.mkdir(parents=True, exist_ok=True)
    for attempt in range(1000):
        candidate = out_dir / (base if attempt == 0 else f"{base}.{attempt}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return candidate
    raise FileExistsError(f"too many runs named {base} in {out_dir}")
