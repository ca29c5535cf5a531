"""The Option Chain and Payoff panels' expiry boxes list only expiries still trading: opened
after today's expiry closed (15:40), they open on the next live expiry, not on the chain that
expired and stays listed until the listing is renewed."""

from __future__ import annotations

from datetime import date, datetime

from engine.core.clock import IST, TestClock
from ui.panels.option_chain import OptionChainPanel
from ui.panels.payoff import PayoffPanel

NOVEMBER_EXPIRY = date(2026, 11, 23)
"""NIFTY's monthly expiry on the fixtures' Monday (moved from the Tuesday holiday)."""


def expiries(box) -> list[date]:  # type: ignore[no-untyped-def]
    return [box.itemData(i) for i in range(box.count())]


def test_option_chain_and_payoff_expiry_when_todays_expiry_has_closed_open_on_the_next_live_one(
    qtbot, context, engine
) -> None:
    listed = sorted(e for u, e in engine.api.option_chains() if u == "NIFTY")
    assert listed[0] == NOVEMBER_EXPIRY
    morning = OptionChainPanel(context)
    qtbot.addWidget(morning)
    assert expiries(morning.expiry) == listed  # 10:00: the November chain still trades

    clock = engine.clock
    assert isinstance(clock, TestClock)
    clock.set(datetime(2026, 11, 23, 15, 41, tzinfo=IST))
    chain, payoff = OptionChainPanel(context), PayoffPanel(context)
    qtbot.addWidget(chain)
    qtbot.addWidget(payoff)
    for panel in (chain, payoff):
        assert panel.underlying.currentText() == "NIFTY"
        assert expiries(panel.expiry) == listed[1:]
        assert panel.expiry.currentData() == listed[1]
