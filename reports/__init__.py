"""Tables, plots and the self-contained HTML report of a run.

``render_report`` returns the report as one HTML string and ``write_report``
writes it to ``<run_dir>/report.html``. ``plots`` holds the figure functions
(matplotlib ``Figure`` objects, no pyplot state) and ``tables`` the formatted
headline and tables, for callers that want them on their own.
"""

from .html import render_report, write_report

__all__ = ["render_report", "write_report"]
