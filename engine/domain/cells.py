"""Text bound for a spreadsheet (a CSV or Excel export) that a spreadsheet must not run.

Some exported text is chosen by whoever sent it: a signal's id or strategy, an order's tag, a
portfolio's name. Text that begins with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return)
is read as a formula when the file is opened, and a formula can fetch a URL or run a command.
Such text is written with a leading apostrophe, which a spreadsheet shows as plain text; a
number (``-12.50``) is left as it is.
"""

from __future__ import annotations

import re

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[-+]?\d+(\.\d+)?([eE][-+]?\d+)?")


def cell_text(text: str) -> str:
    """``text`` as a spreadsheet shows it without running it."""
    if text.startswith(_FORMULA_STARTS) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text
