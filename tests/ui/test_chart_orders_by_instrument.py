"""A chart's order lines and fill markers are read only for its own instrument: a frame whose order
events are all on other instruments costs a chart nothing (a desk with thousands of orders and a
dozen charts stalled the loop reading every order and fill once per chart per frame), and when
its own instrument's orders change the lines and markers are what the whole book says."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from engine.api import OrderType, Side, Timeframe
from ui.bridge import QUEUED
from ui.charts.panel import LINE_COLORS, ChartPanel, _order_lines
from ui.charts.settings import ChartSettings
from ui.context import PanelContext


async def until(condition: Callable[[], object], seconds: float = 20.0, what: str = "") -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        await asyncio.sleep(0.02)


def nifty_future(engine):  # type: ignore[no-untyped-def]
    return min(
        (
            i
            for i in engine.registry
            if i.underlying == "NIFTY" and i.instrument_type.value == "FUT"
        ),
        key=lambda i: i.expiry,
    )


def nifty_call(engine):  # type: ignore[no-untyped-def]
    calls = sorted(
        (i for i in engine.registry if i.underlying == "NIFTY" and i.instrument_type.value == "CE"),
        key=lambda i: (i.expiry, i.strike),
    )
    return calls[len(calls) // 2]


def open_chart(qtbot, context: PanelContext, key: int, timeframe: str = "1m") -> ChartPanel:  # type: ignore[no-untyped-def]
    panel = ChartPanel(context, ChartSettings(key, str(key), timeframe=timeframe))
    qtbot.addWidget(panel)
    panel.resize(900, 520)
    panel.show()
    return panel


def count_reads(monkeypatch, api) -> Counter[str]:  # type: ignore[no-untyped-def]
    """Count every read of orders, fills and positions the chart could make."""
    calls: Counter[str] = Counter()
    reads = {
        api: ("orders", "trades", "positions"),
        api.orders_service: ("orders", "trades", "open_orders_of", "trades_of"),
        api.positions_service: ("positions",),
        api.charts_service: ("chart_positions",),
    }
    for owner, names in reads.items():
        for name in names:
            real = getattr(owner, name)

            def counted(*args: Any, _real=real, _name=name, **kw: Any) -> Any:  # type: ignore[no-untyped-def]
                calls[_name] += 1
                return _real(*args, **kw)

            monkeypatch.setattr(owner, name, counted)
    return calls


def frames_seen(context: PanelContext) -> list[list[object]]:
    """The order and position events of each frame, as recorded by a slot connected after the
    chart's: once one is recorded, the chart has handled that frame."""
    seen: list[list[object]] = []
    context.bridge.orders_changed.connect(seen.append, QUEUED)
    context.bridge.positions_changed.connect(seen.append, QUEUED)
    return seen


def expected_lines(api, token: int) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """The lines from the whole book: every open order and every position of the instrument."""
    lines: list[dict[str, Any]] = []
    for order in api.orders():
        if order.instrument.token == token and order.status.is_open:
            lines.extend(_order_lines(order))
    for position in api.positions():
        if position.instrument.token == token and position.net_quantity:
            lines.append(
                {
                    "id": f"avg:{position.product.value}",
                    "price": float(position.average_price),
                    "color": LINE_COLORS["avg"],
                    "title": f"avg {position.net_quantity:+,}",
                    "dashed": True,
                }
            )
    return lines


def expected_markers(api, token: int, timeframe: str) -> list[tuple[int, str, str]]:  # type: ignore[no-untyped-def]
    """(bar start, side, text) per side per bar, from every fill of the book."""
    totals: dict[tuple[int, str], list[Decimal]] = {}
    for trade in api.trades():
        if trade.instrument.token != token:
            continue
        moment = Timeframe.of(timeframe).start_of(trade.ts_ns) // 1_000_000_000
        held = totals.setdefault((moment, trade.side.value), [Decimal(0), Decimal(0)])
        held[0] += trade.quantity
        held[1] += trade.quantity * trade.price
    return sorted(
        (moment, side, f"{side[0]} {quantity:,} @ {value / quantity:.2f}")
        for (moment, side), (quantity, value) in totals.items()
    )


def markers_of(panel: ChartPanel) -> list[tuple[int, str, str]]:
    side = {"arrowUp": "BUY", "arrowDown": "SELL"}
    return sorted((m["time"], side[m["shape"]], m["text"]) for m in panel._markers_sent or [])


@pytest.fixture
def trading_context(context: PanelContext) -> PanelContext:
    context.confirm = lambda title, text, action: action()
    return context


def test_chart_when_a_frames_order_events_are_on_another_instrument_reads_no_orders_or_fills(
    qtbot, qloop, engine, market, trading_context, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    future, call = nifty_future(engine), nifty_call(engine)
    api = engine.api

    async def scenario() -> None:
        market(1)
        own = api.place_order(future.token, Side.BUY, future.lot_size, OrderType.MARKET)
        assert own, own.reason
        market(1)
        panel = open_chart(qtbot, trading_context, int(future.token))
        await until(lambda: getattr(panel, "page_report", None) is not None, what="the page")
        await until(lambda: panel._markers_sent, what="the chart's own fill")
        seen = frames_seen(trading_context)
        calls = count_reads(monkeypatch, api)
        # Another instrument: an order that works, then is cancelled, and one that fills.
        quote = api.quote(call.token)
        far = (quote.bid * 17).to_integral_value() / 20  # 85 % of the bid, on the grid
        working = api.place_order(call.token, Side.BUY, call.lot_size, OrderType.LIMIT, price=far)
        assert working, working.reason
        assert api.cancel(working.order_id)
        fills = len(engine.orders.fills)
        filled = api.place_order(call.token, Side.BUY, call.lot_size, OrderType.MARKET)
        assert filled, filled.reason
        market(1)
        await until(lambda: len(engine.orders.fills) > fills, what="the other fill")
        await until(
            lambda: (
                any(
                    getattr(e, "order_id", None) == filled.order_id for frame in seen for e in frame
                )
                and any(type(e).__name__ == "PositionChanged" for frame in seen for e in frame)
            ),
            what="the frames of the other instrument's orders",
        )
        await asyncio.sleep(0.1)
        assert seen  # the chart was handed these frames ...
        assert calls == Counter(), calls  # ... and read no order, fill or position for them
        panel.close()

    qloop(scenario())


def test_chart_when_its_own_orders_change_the_lines_and_markers_are_the_books(
    qtbot, qloop, engine, market, trading_context
) -> None:  # type: ignore[no-untyped-def]
    future, call = nifty_future(engine), nifty_call(engine)
    api = engine.api
    token = int(future.token)

    async def shows_the_book(panel: ChartPanel, what: str) -> None:
        await until(
            lambda: (
                panel._lines_sent == expected_lines(api, token)
                and markers_of(panel) == expected_markers(api, token, panel.settings.timeframe)
            ),
            what=what,
        )

    async def scenario() -> None:
        market(1)
        # A fill before the chart opens, and fills of another instrument among its own.
        first = api.place_order(future.token, Side.BUY, future.lot_size, OrderType.MARKET)
        assert first, first.reason
        other = api.place_order(call.token, Side.BUY, call.lot_size, OrderType.MARKET)
        assert other, other.reason
        market(1)
        panel = open_chart(qtbot, trading_context, token)
        await until(lambda: getattr(panel, "page_report", None) is not None, what="the page")
        await shows_the_book(panel, "the first fill and its average line")
        assert len(panel._markers_sent or []) == 1
        quote = api.quote(future.token)
        low = (quote.bid - Decimal(40)).quantize(Decimal("0.05"))
        stop = (quote.bid - Decimal(60)).quantize(Decimal("0.05"))
        buy = api.place_order(
            future.token, Side.BUY, future.lot_size, OrderType.LIMIT, price=low, product="MIS"
        )
        sell = api.place_order(
            future.token,
            Side.SELL,
            future.lot_size,
            OrderType.SL,
            price=stop - Decimal(1),
            trigger_price=stop,  # a stop below the market: it waits
        )
        assert buy and sell, (buy.reason, sell.reason)
        await shows_the_book(panel, "two working orders' lines")
        ids = {line["id"] for line in panel._lines_sent or []}
        assert {f"order:{buy.order_id}:price", f"order:{sell.order_id}:trigger"} <= ids
        assert api.modify(buy.order_id, price=low - Decimal(5))
        await shows_the_book(panel, "the modified price")
        assert api.cancel(buy.order_id)
        await shows_the_book(panel, "the cancelled order's line gone")
        assert f"order:{buy.order_id}:price" not in {line["id"] for line in panel._lines_sent or []}
        for _ in range(2):  # more fills: the other instrument's between the chart's own
            done = api.place_order(call.token, Side.SELL, call.lot_size, OrderType.MARKET)
            assert done, done.reason
            done = api.place_order(future.token, Side.SELL, future.lot_size, OrderType.MARKET)
            assert done, done.reason
            market(61)
        await shows_the_book(panel, "the new fills' markers")
        assert any(m[1] == "SELL" for m in markers_of(panel))
        panel.timeframe_box.setCurrentText("15m")  # the markers fall in other bars now
        await shows_the_book(panel, "the markers at 15m")
        await asyncio.sleep(0.3)
        page = json.loads(
            await _js(panel, "JSON.stringify(window.dalal.lines())"),
        )
        assert page == {line["id"]: line["price"] for line in expected_lines(api, token)}
        panel.close()

    qloop(scenario())


async def _js(panel: ChartPanel, code: str) -> Any:
    done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    panel.view.page().runJavaScript(code, 0, lambda result: done.set_result(result))
    return await asyncio.wait_for(done, 10)
