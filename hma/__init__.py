"""The application: settings, database, the scan pipeline, HTTP API and CLI."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("hma")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
