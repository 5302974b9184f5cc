"""Names of what a run measures, for modules that must not load the scoring to know them.

``METRIC_COLUMNS`` are the per-flow metrics (columns of ``metrics.parquet``)
that ``summary.json`` aggregates over flows; ``DROP_REASONS`` the reasons the
trace gives for a packet lost in the network.
"""

from __future__ import annotations

__all__ = ["DROP_REASONS", "METRIC_COLUMNS"]

METRIC_COLUMNS = (
    "ppl_percent",
    "loss_percent",
    "late_percent",
    "burst_r",
    "delay_mean_s",
    "delay_p95_s",
    "delay_p99_s",
    "jitter_s",
    "jitter_last_s",
    "ta_s",
    "r_factor",
    "mos",
    "mos_window_min",
    "radio_energy_j",
    "pesq_mos_lqo",  # emulation runs: PESQ (ITU-T P.862 / P.862.2) of the audio received
    "setup_time_s",  # emulation runs: from dialling to the answer
)

DROP_REASONS = ("queue", "aqm", "harq", "channel", "handover")
"""Why a packet was lost (the trace's ``drop_reason``); a reason's code in both engines'
stages is its index here."""
