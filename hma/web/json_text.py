"""JSON bodies whose strings are text.

JSON can spell half of a UTF-16 surrogate pair on its own (`"\\ud800"`), and
Python decodes it to a string no encoder, database driver or hash takes: it
failed with a 500 wherever it landed first (a URL's parser, an insert). Such
a body is refused at the door instead, with a 400 that says why.
"""

from __future__ import annotations

import re
from typing import Any

from flask.json.provider import DefaultJSONProvider

from core.errors import InvalidInput

#: A lone surrogate's escape (`\ud800` to `\udfff`), or its bytes (which Python's
#: JSON decoder passes through): only a body holding one is searched.
_MAY_HOLD_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class TextOnlyJSON(DefaultJSONProvider):
    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        value = super().loads(s, **kwargs)
        raw = s.encode("utf-8", "surrogatepass") if isinstance(s, str) else s
        if _MAY_HOLD_SURROGATE.search(raw) and holds_surrogate(value):
            raise InvalidInput(
                "the JSON holds a lone UTF-16 surrogate (an unpaired \\ud800 to \\udfff),"
                " which is not text",
                code="invalid_text",
            )
        return value


def holds_surrogate(value: Any) -> bool:
    """Whether any string in a decoded JSON document (keys included) holds one."""
    if isinstance(value, str):
        return _SURROGATE.search(value) is not None
    if isinstance(value, dict):
        return any(holds_surrogate(k) or holds_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(holds_surrogate(item) for item in value)
    return False
