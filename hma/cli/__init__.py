"""The `hma` command line, one module per command group (`base` holds what they share).

Commands that take `--json` print JSON and nothing else on stdout (one object
per input, as JSON lines); progress and logs go to stderr.
"""

from hma.cli import banks, content, exchanges, operations, people, reporters, service
from hma.cli.base import main

__all__ = ["banks", "content", "exchanges", "main", "operations", "people", "reporters", "service"]
