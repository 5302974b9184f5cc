"""The browser the report tests open pages in."""

from __future__ import annotations

import pytest

from tests.browser.chromium import BROWSERS, find_chromium


@pytest.fixture(scope="session")
def browser() -> str:
    """Chromium's path; the tests skip, saying why, where there is none."""
    found = find_chromium()
    if found is None:
        looked = ", ".join(BROWSERS)
        pytest.skip(f"no Chromium on PATH (looked for {looked}); `make sysdeps` as root adds it")
    return found
