"""Emulation tests need root and Debian's tools; without them they skip and say which is missing.

CI runs as root with ``make sysdeps`` done, so there they run for real.
"""

from __future__ import annotations

import os
import shutil

import pytest


def require(*tools: str) -> None:
    """Skip the calling test unless this is root and every tool in ``tools`` is on PATH."""
    if os.geteuid() != 0:
        pytest.skip("emulation needs root (network namespaces); run as root, as CI does")
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (make sysdeps installs them as root)")
