"""Each flow's DTMF figures from the run's ``dtmf`` events (one per flow that sent digits).

Both engines write the events: the simulator from its detector
(``voipbed.sim.dtmf``), the emulation from what the far end's baresip
reported. Flows that sent no digits get NaN.
"""

from __future__ import annotations

import json

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from voipbed.metric_names import EventKind

__all__ = ["DTMF_COUNTS", "dtmf_columns"]

DTMF_COUNTS = ("sent", "detected", "missed", "duplicated")
"""The counts a ``dtmf`` event holds; ``dtmf_<count>`` is the metric."""


def dtmf_columns(
    flows: npt.NDArray[np.integer], events: pa.Table | None
) -> dict[str, npt.NDArray[np.float64]]:
    """``dtmf_sent``, ``dtmf_detected``, ``dtmf_missed`` and ``dtmf_duplicated`` of each flow
    in ``flows``; no columns when no event is a ``dtmf`` one."""
    if events is None:
        return {}
    counts: dict[int, dict[str, int]] = {}
    kinds = events.column("kind").to_pylist()
    for kind, text in zip(kinds, events.column("fields").to_pylist(), strict=True):
        if kind == EventKind.DTMF:
            fields = json.loads(text)
            counts[int(fields["flow"])] = {name: int(fields[name]) for name in DTMF_COUNTS}
    if not counts:
        return {}
    ids = np.asarray(flows).tolist()
    return {
        f"dtmf_{name}": np.array(
            [counts[f][name] if f in counts else np.nan for f in ids], dtype=np.float64
        )
        for name in DTMF_COUNTS
    }
