"""voipbed: how a mobile-VoIP design choice will sound on a real mobile network."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("voipbed")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
