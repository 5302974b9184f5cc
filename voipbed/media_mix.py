"""How many of an emulation run's streams carried real audio, and how many were light.

An emulation run's first calls are made by baresip, playing and recording speech that
PESQ scores; the others, in a run of more calls than baresip pairs, are light calls whose
RTP carries G.711 speech that nothing records. The PESQ table marks each flow
(``real_audio``, joined into the metrics); :func:`media_mix` counts them for the
summary's ``media``. Pure.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from voipbed.columns import Columns

__all__ = ["media_mix"]


def media_mix(metrics: Columns) -> dict[str, Any] | None:
    """Flows and calls with real audio (``real_audio``) and light ones, and how many of
    the real-audio flows PESQ scored; None when the metrics do not say (a simulated run,
    or rate-controlled calls)."""
    if "real_audio" not in metrics or "call" not in metrics:
        return None
    flags = np.asarray(metrics["real_audio"], dtype=np.float64) == 1.0  # NaN: not said
    calls = np.asarray(metrics["call"])
    scored = 0
    if "pesq_mos_lqo" in metrics:
        pesq = np.asarray(metrics["pesq_mos_lqo"], dtype=np.float64)
        scored = int(np.count_nonzero(flags & np.isfinite(pesq)))
    return {
        "real_audio_flows": int(np.count_nonzero(flags)),
        "light_flows": int(np.count_nonzero(~flags)),
        "real_audio_calls": int(np.unique(calls[flags]).size),
        "light_calls": int(np.unique(calls[~flags]).size),
        "pesq_scored_flows": scored,
    }
