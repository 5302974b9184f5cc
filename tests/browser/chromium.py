"""Open a report in headless Chromium: what it logged, what it drew, and a screenshot.

The report is copied with two small scripts added: one first in ``<head>``
that records script errors, resources that failed to load and
``console.error`` calls, and one at the end of ``<body>`` that, once the page
has loaded, writes those problems and the drawn size of every figure's SVG
and every image into a ``<pre id="voipbed-check">`` that ``--dump-dom``
returns. Chromium runs with a throw-away profile, no sandbox (CI is root) and
its background networking off, on a ``file://`` URL only.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["BROWSERS", "PageCheck", "check_page", "find_chromium"]

BROWSERS = ("chromium", "chromium-browser", "google-chrome")

_WATCH = """<script>
window.__voipbedProblems = [];
window.addEventListener("error", function (e) {
  var t = e.target;
  window.__voipbedProblems.push(t && t !== window && t.tagName
    ? "failed to load " + t.tagName + " " + (t.src || t.href || "")
    : "script error: " + e.message);
}, true);
var __voipbedConsoleError = console.error;
console.error = function () {
  window.__voipbedProblems.push("console.error: " + Array.prototype.join.call(arguments, " "));
  __voipbedConsoleError.apply(console, arguments);
};
</script>"""

_REPORT = """<script>
window.addEventListener("load", function () {
  function size(element) {
    var box = element.getBoundingClientRect();
    return [box.width, box.height];
  }
  var result = {
    problems: window.__voipbedProblems,
    figures: document.querySelectorAll("figure").length,
    svgs: Array.prototype.map.call(document.querySelectorAll("figure svg"), size),
    images: Array.prototype.map.call(document.images, function (i) {
      return [i.naturalWidth, i.naturalHeight];
    })
  };
  var out = document.createElement("pre");
  out.id = "voipbed-check";
  out.textContent = JSON.stringify(result);
  document.body.appendChild(out);
});
</script>"""

_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--hide-scrollbars",
)


def find_chromium() -> str | None:
    """The first Chromium-like browser on PATH, or None."""
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass(frozen=True)
class PageCheck:
    """What the page reported after loading."""

    problems: list[str]
    figures: int
    svg_sizes: list[tuple[float, float]]
    image_sizes: list[tuple[int, int]]


def check_page(browser: str, report: Path, work: Path, screenshot: Path) -> PageCheck:
    """Load a copy of ``report`` (in ``work``) in ``browser``; write ``screenshot`` (PNG)."""
    html = report.read_text(encoding="utf-8")
    watched = html.replace("<head>", "<head>\n" + _WATCH, 1).replace(
        "</body>", _REPORT + "\n</body>", 1
    )
    page = work / f"checked-{report.parent.name}.html"
    page.write_text(watched, encoding="utf-8")
    profile = work / "chromium-profile"
    common = [browser, *_FLAGS, f"--user-data-dir={profile}"]
    dumped = subprocess.run(
        [*common, "--virtual-time-budget=10000", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )
    subprocess.run(
        [*common, f"--screenshot={screenshot}", "--window-size=1280,3000", report.as_uri()],
        capture_output=True,
        timeout=180,
        check=True,
    )
    start = dumped.stdout.find('<pre id="voipbed-check">')
    if start < 0:
        raise AssertionError(f"the page never finished loading: {dumped.stderr[-2000:]}")
    end = dumped.stdout.index("</pre>", start)
    body = dumped.stdout[start + len('<pre id="voipbed-check">') : end]
    data: dict[str, Any] = json.loads(_unescape(body))
    return PageCheck(
        [str(p) for p in data["problems"]],
        int(data["figures"]),
        [(float(w), float(h)) for w, h in data["svgs"]],
        [(int(w), int(h)) for w, h in data["images"]],
    )


def _unescape(text: str) -> str:
    """The text of a ``<pre>`` as ``--dump-dom`` serializes it."""
    return (
        text.replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    )
