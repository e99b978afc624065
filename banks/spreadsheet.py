"""CSV cells that a spreadsheet opens as text, never as a formula.

Exports are opened in spreadsheets, and a cell starting with `=`, `+`, `-`,
`@`, a tab or a carriage return runs there as a formula (which can fetch
URLs or run commands). Values from exchanges and uploads reach exports, so
such cells are written with a leading apostrophe, the spreadsheet's own
marker for text, and the importer takes it off again: an export re-imports
unchanged.
"""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> object:
    """`value`, as text a spreadsheet will not evaluate (numbers pass unchanged)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def cell_text(text: str) -> str:
    """The value `safe_cell` escaped, from a cell read back."""
    if text.startswith("'") and text[1:].startswith(FORMULA_STARTS):
        return text[1:]
    return text
