"""Independent, reproducible random streams, one per named component.

``component_rng(seed, "path/radio/uplink/loss")`` is a ``numpy.random.Generator``
seeded from ``SeedSequence(seed, spawn_key=(crc32(name),))``: the same
mechanism as ``SeedSequence(seed).spawn()``, but keyed by the component's
name, so adding a component never changes the streams of the others.
"""

from __future__ import annotations

import zlib

import numpy as np

__all__ = ["component_rng"]


def component_rng(seed: int, name: str) -> np.random.Generator:
    """The random stream of component ``name`` in a run with ``seed``."""
    key = zlib.crc32(name.encode("utf-8"))
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(key,))))
