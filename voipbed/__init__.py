"""voipbed: how a mobile-VoIP design choice will sound on a real mobile network."""

from voipbed._version import __version__

__all__ = ["__version__"]
