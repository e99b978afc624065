"""The composition root: settings and their assembly into the layers, the database
engine and migrations, the server and its jobs, the HTTP API, the consoles and the CLI."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("hma")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
