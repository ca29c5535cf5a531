"""Keeping Python's cyclic garbage collector out of the trading session's way."""

from __future__ import annotations

import gc


def freeze_startup_objects() -> None:
    """Move everything built at start-up out of the cyclic collector's reach.

    Instruments, models, Qt wrappers and modules live for the whole session; a full collection
    that walks them all measured 70-80 ms with 3,000 instruments, a visible hitch. Frozen, they are
    never scanned again, and full collections cost only what the session allocates.
    """
    gc.collect()
    gc.freeze()
