"""Tables, plots and the self-contained HTML report of a run.

``render_report`` returns the report as one HTML string and ``write_report``
writes it to ``<run_dir>/report.html``. ``plots``, ``timeline`` and ``queues``
hold the figure functions (each returns a ``chart.Chart``, which ``svg`` draws
as inline SVG) and ``tables`` the formatted headline and tables, for callers
that want them on their own. They take the run's tables as
``voipbed.columns.Columns``.
"""

from .html import render_report, write_report

__all__ = ["render_report", "write_report"]
