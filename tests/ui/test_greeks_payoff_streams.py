"""The Greeks and Payoff panels on a live feed, which streams only what the desk asks for: each
panel asks for the quotes it computes from (the chain of each option held, the underlying) while
it is on screen, and lets go of them when hidden, one reference each, so what another panel or a
position still needs keeps streaming.

The desk is paper orders on the fake Kite's prices (real ticker wire format on 127.0.0.1): the
fake sends a subscribed instrument's snapshot at once and nothing for the others.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from tests.contract.option_desks import PaperOnKiteDesk
from tests.live_desk import wait_for

pytestmark = pytest.mark.timeout(60)

TICK = Decimal("0.05")


def premium(strike: Decimal, right: str, spot: Decimal) -> int:
    """Paise: intrinsic value plus a time value that falls away from the money, on the tick."""
    intrinsic = max(spot - strike, Decimal(0)) if right == "CE" else max(strike - spot, Decimal(0))
    time_value = max(Decimal(5), Decimal(120) - abs(strike - spot) / 4)
    return int(((intrinsic + time_value) / TICK).quantize(Decimal(1), ROUND_HALF_UP) * TICK * 100)


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[PaperOnKiteDesk]:
    made = PaperOnKiteDesk(tmp_path)
    await made.open()
    try:
        yield made
    finally:
        await made.close()


async def test_greeks_and_payoff_panels_on_kite_stream_the_chain_while_shown_only(
    qapp, desk: PaperOnKiteDesk
) -> None:
    from ui.bridge import EngineBridge
    from ui.context import PanelContext
    from ui.panels.greeks import GreeksPanel
    from ui.panels.payoff import PayoffPanel
    from ui.theme import ThemeHolder

    api, kite = desk.api, desk.kite
    chain = desk.chain()
    spot = chain.strikes[len(chain.strikes) // 2]
    prices = {chain.spot_token: int(spot * 100)}
    prices.update(
        {token: premium(strike, right, spot) for (strike, right), token in chain.tokens.items()}
    )
    await desk.set_prices(prices)  # the market has them all; the feed sends only what is asked
    held = chain.token(chain.strikes[len(chain.strikes) // 2 + 2], "CE")
    api.watch([held])  # the ticket shows it before the order
    await wait_for(lambda: api.tick(held) is not None, what="the held option's quote")
    assert api.place_order(held, "SELL", chain.lot_size, "MARKET").ok
    await wait_for(lambda: any(p.net_quantity for p in api.positions()), what="the position")
    api.unwatch([held])  # the ticket closed: the position keeps it streaming
    chain_tokens = set(chain.tokens.values()) | {chain.spot_token}
    assert not (chain_tokens - {held}) & set(kite.ticker.subscribed())

    bridge = EngineBridge(api)
    context = PanelContext(api=api, bridge=bridge, theme=ThemeHolder("dark"))
    greeks, payoff = GreeksPanel(context), PayoffPanel(context)
    try:
        greeks.show()
        await wait_for(
            lambda: chain_tokens <= set(kite.ticker.subscribed()), what="the chain streamed"
        )
        await wait_for(
            lambda: all(api.tick(token) is not None for token in chain_tokens), what="quotes"
        )
        greeks.refresh()
        [line] = greeks.report.positions  # type: ignore[union-attr]
        assert math.isfinite(line.iv) and line.iv_source == "smile"
        assert math.isfinite(line.delta) and math.isfinite(line.theta)
        assert math.isfinite(greeks.report.total.delta_rupees)  # type: ignore[union-attr]

        payoff.underlying.setCurrentText("NIFTY")
        payoff.show()
        payoff.refresh()
        assert payoff.strategy is not None, payoff.error
        greeks.hide()  # the payoff still prices the same legs: nothing stops streaming
        assert greeks.streams.held == frozenset()
        await asyncio.sleep(0.3)  # an unsubscribe would have reached the fake by now
        assert chain_tokens <= set(kite.ticker.subscribed())

        payoff.hide()  # nobody shows the chain any more: it stops, the position's option stays
        await wait_for(
            lambda: not (chain_tokens - {held}) & set(kite.ticker.subscribed()),
            what="the chain let go",
        )
        assert held in kite.ticker.subscribed()

        greeks.show()  # shown again: asked for again
        await wait_for(lambda: chain_tokens <= set(kite.ticker.subscribed()), what="streamed again")
    finally:
        bridge.stop()
        greeks.deleteLater()
        payoff.deleteLater()
