"""One place that compiles the packet kernels with numba, keeping their type hints for mypy.

Kernels are compiled on first use and cached next to their module
(``__pycache__``), so later runs start without compiling.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba

__all__ = ["inline_kernel", "kernel"]

F = TypeVar("F", bound=Callable[..., Any])


def kernel(func: F) -> F:
    """Compile ``func`` in nopython mode (cached, GIL released)."""
    return cast(F, numba.njit(cache=True, nogil=True)(func))


def inline_kernel(func: F) -> F:
    """A small helper kernel that numba inlines into its callers (no call overhead)."""
    return cast(F, numba.njit(cache=True, nogil=True, inline="always")(func))
