"""Square off from the Positions panel as a trader meets it: a position above the freeze
quantity closes whole (its slices are not each other's duplicates), a stock option closes (as a
protected LIMIT: MARKET is refused on stock options), a working exit is cancelled first (in
REDUCING too) so nothing turns the position over, and the panel says what was sent, cancelled
and refused."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from engine.api import TradingState
from engine.domain.instruments import InstrumentType
from engine.domain.ticks import Tick
from engine.runtime import Engine
from tests.ui.conftest import MONDAY_10AM, book_engine, buy, run_market
from tests.unit.test_risk_gate import RELIANCE_CE
from ui.panels.positions import PositionsPanel


def confirmed(context, asked: list[str]) -> None:  # type: ignore[no-untyped-def]
    def confirm(title: str, text: str, action: Callable[[], None]) -> None:
        asked.append(text)
        action()

    context.confirm = confirm


def open_orders(engine: Engine) -> list[tuple[str, int]]:
    return [(o.side.value, o.quantity) for o in engine.api.orders() if o.status.is_open]


def held(engine: Engine) -> dict[str, int]:
    return {p.instrument.tradingsymbol: p.net_quantity for p in engine.api.positions()}


def test_square_off_above_the_freeze_quantity_closes_the_whole_position(
    qtbot, context, engine: Engine, market: Callable[[float], None]
) -> None:
    market(2)
    calls = [i for i in engine.registry if i.instrument_type is InstrumentType.CE]
    calls = [i for i in calls if i.underlying == "NIFTY" and i.max_order_quantity() == 1755]
    priced = [(engine.api.tick(i.token), i) for i in calls]
    option = min((t.ltp, i) for t, i in priced if t is not None and t.ltp > 1000)[1]  # ₹10 up
    for quantity in (1755, 1755, 390):  # 3,900: above the freeze quantity of 1,800
        assert engine.api.place_order(option.token, "BUY", quantity, "MARKET", product="NRML")
        market(3)
    asked: list[str] = []
    confirmed(context, asked)
    panel = PositionsPanel(context)
    qtbot.addWidget(panel)
    panel.view.selectRow(next(i for i, r in enumerate(panel.model.rows) if r.net_quantity))

    panel.square_off_selected()
    market(1)

    assert held(engine)[option.tradingsymbol] == 0, "every slice sent, none a 'duplicate'"
    tags = sorted(o.tag for o in engine.api.orders() if o.side.value == "SELL")
    assert tags == ["square-off 1/3", "square-off 2/3", "square-off 3/3"]
    assert panel.feedback.text() == "Square-off: 3 order(s) sent"


def test_square_off_of_a_stock_option_goes_as_a_protected_limit(
    engine: Engine, market: Callable[[float], None]
) -> None:
    market(1)
    option = RELIANCE_CE  # a stock option: exchanges refuse MARKET orders on it
    engine.registry.add(option)

    def quote() -> None:
        now = engine.clock.time_ns()
        engine.on_tick(Tick(option.token, 3000, 2995, 3005, 5000, 5000, 1000, 10, now, close=3000))

    quote()
    placed = engine.api.place_order(
        option.token, "BUY", 500, "LIMIT", price=Decimal("30.10"), product="NRML"
    )
    assert placed, placed.reason
    refused = engine.api.place_order(option.token, "SELL", 500, "MARKET", product="NRML")
    assert not refused and "MARKET orders are not accepted on stock options" in refused.reason

    outcomes = engine.api.square_off(option.token, "NRML")
    for _ in range(8):
        engine.clock.advance(0.25)  # type: ignore[attr-defined]
        quote()

    assert [o.ok for o in outcomes] == [True], outcomes
    assert "market protection: sent as LIMIT" in outcomes[0].note
    assert held(engine)[option.tradingsymbol] == 0


@pytest.mark.parametrize("state", [TradingState.ACTIVE, TradingState.REDUCING])
def test_square_off_cancels_a_working_exit_first_so_nothing_turns_the_position_over(
    qtbot, context, engine: Engine, market: Callable[[float], None], state: TradingState
) -> None:
    market(2)
    future = next(i for i in engine.registry if i.instrument_type is InstrumentType.FUT)
    assert engine.api.place_order(future.token, "BUY", 130, "MARKET", product="NRML")
    market(3)
    target = Decimal(engine.api.tick(future.token).ltp) / 100 + 12  # far above: it rests
    assert engine.api.place_order(future.token, "SELL", 65, "LIMIT", price=target, product="NRML")
    market(3)
    if state is not TradingState.ACTIVE:
        assert engine.api.set_trading_state(state.value, "a loss limit near")
    asked: list[str] = []
    confirmed(context, asked)
    panel = PositionsPanel(context)
    qtbot.addWidget(panel)

    panel.square_off_all()
    market(60)

    assert asked[0].endswith(
        "1 working order(s) that close them are cancelled first, so none can turn a position "
        "over once it is flat."
    )
    assert held(engine)[future.tradingsymbol] == 0
    assert open_orders(engine) == [], "the target that would have sold 65 short is gone"
    assert panel.feedback.text() == (
        "Square-off: 1 order(s) sent; 1 working order(s) cancelled first"
    )


def test_square_off_refused_is_said_on_the_panel(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from ui.bridge import EngineBridge
    from ui.context import PanelContext
    from ui.theme import ThemeHolder

    book = tmp_path / "book.db"
    monday = book_engine(book, MONDAY_10AM)
    run_market(monday, 1)
    buy(monday, "RELIANCE", 5)
    monday.close()
    # Opened again after the close: the exchange takes no orders now.
    engine = book_engine(book, MONDAY_10AM.replace(hour=16))
    bridge = EngineBridge(engine.api, frame_ms=20)
    context = PanelContext(api=engine.api, bridge=bridge, theme=ThemeHolder("dark"))
    try:
        confirmed(context, [])
        panel = PositionsPanel(context)
        qtbot.addWidget(panel)

        panel.square_off_all()

        assert panel.feedback.text() == (
            "Square-off: 0 order(s) sent; refused — market is closed for NSE at 16:00:00 IST"
        )
        assert held(engine) == {"RELIANCE": 5}
    finally:
        bridge.stop()
        engine.close()


def test_square_off_is_not_held_to_the_order_size_limits_a_typed_order_is(
    engine: Engine, market: Callable[[float], None]
) -> None:
    market(2)
    future = next(i for i in engine.registry if i.instrument_type is InstrumentType.FUT)
    for _ in range(3):  # 195, in three orders of 65
        assert engine.api.place_order(future.token, "BUY", 65, "MARKET", product="NRML")
        market(3)
    limits = engine.api.risk_limits()
    lowered = replace(limits, defaults=replace(limits.defaults, max_order_quantity=100))
    engine.api.set_risk_limits(lowered, "one order at most 100")
    typed = engine.api.place_order(future.token, "SELL", 195, "MARKET", product="NRML")
    assert not typed and typed.check == "max_order_quantity"

    outcomes = engine.api.square_off(future.token, "NRML")
    market(2)

    assert [o.ok for o in outcomes] == [True], outcomes
    assert held(engine)[future.tradingsymbol] == 0
