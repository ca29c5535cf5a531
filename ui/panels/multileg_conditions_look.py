"""How the portfolio editor's Range breakout and Extra conditions pages name their fields, and
where a field the trader turns on starts (``multileg_editor.LOOK`` merges these)."""

from __future__ import annotations

CONDITION_LABELS = {
    "RangeBreakout.enabled": "Enter on a range breakout",
    "RangeBreakout.range_start": "Range from",
    "RangeBreakout.range_end": "Range to",
    "RangeBreakout.entry_end": "No breakout entry after",
    "RangeBreakout.on": "Range of",
    "RangeBreakout.entry_at": "Entry at",
    "RangeBreakout.buffer": "Buffer",
    "RangeBreakout.buffer_percent": "Buffer in %",
    "RangeBreakout.opposite_sl": "Other side is the SL",
    "RangeBreakout.cancel_other_side": "Cancel the other side",
    "RangeBreakout.no_breakout": "Legs needing no breakout",
    "RangeBreakout.check": "Breakout seen on",
    "ExtraConditions.combined_wait": "Combined wait and trade",
    "ExtraConditions.leg_wait": "Leg wait and trade",
    "ExtraConditions.underlying_entry": "Enter at underlying level",
    "ExtraConditions.underlying_exit": "Exit at underlying level",
    "ExtraConditions.dte_at_least": "Days to expiry ≥",
    "ExtraConditions.dte_at_most": "Days to expiry ≤",
    "ExtraConditions.rolling_straddle": "Rolling straddle breakout",
    "ExtraConditions.indicator": "Indicator condition",
    "CombinedWaitTrade.move": "Move",
    "CombinedWaitTrade.percent": "Move in %",
    "LegWaitTrade.legs": "Legs that wait",
    "LegWaitTrade.percent": "Move in %",
    "LegWaitTrade.force_after_seconds": "Force after (s)",
    "LegWaitTrade.force_at_move": "Force at a move against of",
    "UnderlyingLevel.at_or_above": "At or above",
    "UnderlyingLevel.at_or_below": "At or below",
    "UnderlyingLevel.check": "Checked on",
    "IndicatorCondition.level": "RSI level",
    "IndicatorCondition.multiplier": "SuperTrend ×",
    "RollingStraddle.move_pct": "Move %",
}
"""Titles where a field's name alone does not say it."""

CONDITION_STARTS = {
    "RangeBreakout.entry_end": "10:30:00",
    "ExtraConditions.dte_at_least": 0,
    "ExtraConditions.dte_at_most": 2,
    "CombinedWaitTrade.move": "10",
    "LegWaitTrade.legs": ["Leg 1"],
    "LegWaitTrade.move": "10",
    "LegWaitTrade.force_after_seconds": 30,
    "LegWaitTrade.force_at_move": "5",
    "UnderlyingLevel.at_or_above": "26000",
    "UnderlyingLevel.at_or_below": "25500",
    "RollingStraddle.move_pct": "10",
}
"""Where a field without a value starts when the trader turns it on."""
