"""A strategy's saved state as the journal holds it: checked here, so a strategy's snapshot
can never halt the journal."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from engine.store.codec import encode_payload

if TYPE_CHECKING:
    from engine.strategies.strategy import Strategy

log = logging.getLogger(__name__)


def journalable(state: object) -> dict[str, Any]:
    """``state`` if the journal can hold it; ``ValueError`` naming why not (refused here, so a
    strategy's snapshot can never halt the journal)."""
    if not isinstance(state, dict):
        raise ValueError(f"snapshot() must return a dict, not {type(state).__name__}")
    try:
        encode_payload({"state": state})
    except (TypeError, ValueError) as exc:
        raise ValueError(f"its snapshot cannot be journaled ({exc})") from None
    return state


def snapshot_or_empty(strategy: Strategy) -> dict[str, Any]:
    try:
        return journalable(strategy.snapshot())
    except Exception:
        log.exception("the snapshot of a failed strategy could not be taken either")
        return {}
