"""Where numba keeps the machine code it compiles: a cache folder of the user's.

By default numba writes its cache beside each source file. For an installed
package that is `site-packages/<package>/__pycache__`, and what it leaves
there outlives the package: after `pip install .` and then `pip install -e .`
in the same environment, the stray `site-packages/matchers/` folder shadowed
the editable install and nothing imported. Importing this module points
numba elsewhere; it must come before numba's first import, so
`hashers/__init__.py`, the lowest package that compiles kernels (and which
`matchers` imports first), imports it first of all.
"""

from __future__ import annotations

import os
from pathlib import Path

VARIABLE = "NUMBA_CACHE_DIR"


def user_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/hma/numba`, or `~/.cache/hma/numba`."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hma" / "numba"


# Unless the operator named a folder of their own.
os.environ.setdefault(VARIABLE, str(user_cache_dir()))
