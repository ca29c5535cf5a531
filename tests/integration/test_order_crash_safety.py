"""What the desk answers about an order is what happens to it, through a full disk and a crash.

- A full disk under the journal: an order answered as refused (HTTP 422, check ``journal``) is
  never sent, so it never executes once the disk frees (a script that believed the refusal and
  placed it again would double it).
- A paper venue with latency, killed with SIGKILL after a cancel and a modify were acknowledged
  but before the venue acted on them: after the restart the cancelled order is cancelled (not
  back at work) and the modified order works at its new terms, each carried out once.

The crash runs in a child forked from a server that has imported the engine (``tests/forked.py``):
this module's ``main`` is the child (``session DB`` trades and waits to be killed, ``verify DB``
restarts the desk on the book and prints what it holds).
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from engine.brokers.paper.config import PaperConfig
from engine.core.clock import TestClock
from engine.domain.ids import OrderId
from engine.domain.instruments import Instrument
from engine.domain.order_replay import replay_orders
from engine.domain.orders import (
    Modification,
    OrderRequest,
    OrderStatus,
    OrderType,
    Product,
    Side,
)
from engine.domain.values import Paise, to_rupees
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.risk.limits import RiskLimits, RiskSettings
from engine.runtime import Engine, EngineConfig
from tests.forked import ForkedChild
from tests.full_disk import FullDisk, small_tmpfs
from tests.live_desk import wait_for
from tests.support import MONDAY_MORNING, NIFTY_CE, Desk, atm_call, make_desk, quote
from tests.unit.test_risk_controls import burst_limits, place_burst
from tests.unit.test_risk_gate import make_risk_desk, req

pytestmark = pytest.mark.timeout(120)
TOKEN = "order-crash-safety-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
LATENCY_MS = 1500
CHILD_MODULE = "tests.integration.test_order_crash_safety"


# -- a full disk under the local API --------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[FullDisk]:
    with small_tmpfs(tmp_path / "disk", size="2m") as disk:
        yield disk


async def call(method: str, url: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, url, data=data, headers=AUTH) as reply,
    ):
        return reply.status, await reply.json()


async def test_order_crash_safety_order_refused_while_the_journal_cannot_write_never_executes(
    small_disk: FullDisk, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DALALDESK_API_TOKEN", TOKEN)
    engine = Engine.build(
        EngineConfig(
            db_url=f"sqlite:///{small_disk.directory / 'book.db'}",
            market=SimulatedMarketConfig(seed=3, strikes_each_side=2, always_open=True),
            always_open=True,
            var_interval_seconds=0,
            api_port=0,
        )
    )
    engine.start()
    try:
        await wait_for(lambda: engine.signal_server is not None, what="local API")
        assert engine.signal_server is not None
        url = engine.signal_server.url + "/api/v1"
        asked: dict[int, tuple[int, dict[str, Any]]] = {}
        """Lots asked (each request its own number, so its order is known by its quantity) ->
        the answer."""

        async def place(lots: int) -> tuple[int, dict[str, Any]]:
            body = {
                "symbol": "NSE:INFY",
                "side": "BUY" if lots % 2 else "SELL",
                "lots": lots,
                "order_type": "MARKET",
                "product": "MIS",
            }
            answer = await call("POST", f"{url}/orders", body)
            asked[lots] = answer
            return answer

        infy = engine.registry.by_symbol("NSE", "INFY")
        assert infy is not None
        await wait_for(lambda: engine.api.tick(infy.token) is not None, what="a quote")
        assert (await place(1))[0] == 201
        small_disk.fill(engine)
        lots = 1
        while lots < 60 and not engine.orders.journal_waiting:
            lots += 1
            await place(lots)
            await asyncio.sleep(0.05)
        assert engine.orders.journal_waiting, "the full disk never refused a journal write"
        for _ in range(3):  # and while it stays full
            lots += 1
            await place(lots)
        refused = {n: body for n, (status, body) in asked.items() if status != 201}
        assert refused, asked
        for status, body in (asked[n] for n in refused):
            assert status == 422 and body["check"] == "journal", body
            assert "journal cannot write" in body["error"], body

        small_disk.free()
        await wait_for(lambda: not engine.orders.journal_waiting, timeout=10, what="retry")
        accepted = [n for n in asked if n not in refused]

        async def book() -> dict[int, dict[str, Any]]:
            status, orders = await call("GET", f"{url}/orders")
            assert status == 200
            return {o["quantity"]: o for o in orders}

        for _ in range(100):  # ticks come and the venue matches again, until all have filled
            by_lots = await book()
            if all(by_lots[n]["filled_quantity"] == n for n in accepted):
                break
            await asyncio.sleep(0.1)
        assert all(by_lots[n]["filled_quantity"] == n for n in accepted), "accepted, executed"
        _, trades = await call("GET", f"{url}/trades")
        for n in refused:
            order = by_lots.get(n)
            if order is None:
                continue  # refused before it became an order
            assert order["status"] in ("DENIED", "REJECTED"), order
            assert order["filled_quantity"] == 0, f"refused, then executed: {order}"
            traded = [t for t in trades if t["order_id"] == order["order_id"]]
            assert not traded, f"refused, then traded: {traded}"
    finally:
        await engine.stop()


# -- a kill while the paper venue's latency holds a cancel and a modify --------------------------


def build(db: str) -> Engine:
    return Engine.build(
        EngineConfig(
            db_url=f"sqlite:///{db}",
            market=SimulatedMarketConfig(seed=5, strikes_each_side=2, always_open=True),
            always_open=True,
            paper=PaperConfig(latency_ms=LATENCY_MS),
            var_interval_seconds=0,
        )
    )


def stock(engine: Engine) -> Instrument:
    instrument = engine.registry.by_symbol("NSE", "RELIANCE")
    assert instrument is not None
    return instrument


async def session(db: str, wait_s: float) -> None:
    """Rest two BUY orders far below the market, cancel one and modify the other, print what
    was asked once both are acknowledged, then wait ``wait_s`` (to be killed)."""
    engine = build(db)
    out = sys.stdout
    instrument = stock(engine)
    for tick in engine.market.step(0.05):
        engine.on_tick(tick)
    touch = engine.api.tick(instrument.token)
    assert touch is not None
    low = to_rupees(touch.bid) - 100  # far below the market
    ids = []
    for k in range(2):
        outcome = engine.api.place_order(
            instrument.token, "BUY", 1 + k, "LIMIT", product="CNC", price=low - k
        )
        assert outcome.ok, outcome.reason
        ids.append(str(outcome.order_id))
    await asyncio.sleep(LATENCY_MS / 1000 + 0.5)
    assert all(engine.api.order(i).status is OrderStatus.OPEN for i in ids)
    cancelled = engine.api.cancel(ids[0])
    moved = engine.api.modify(ids[1], price=low - 20)
    assert cancelled.ok and moved.ok, (cancelled, moved)
    out.write(f"ASKED {ids[0]} {ids[1]} {low - 1} {low - 20}\n")
    out.flush()
    await asyncio.sleep(wait_s)
    out.write("DONE\n")
    out.flush()
    engine.close()


def verify(db: str, offers: list[str]) -> None:
    """Restart on the book; print its orders and what the venue rests, then offer the stock at
    each of ``offers`` (rupees, in turn) and print the fills."""
    engine = build(db)
    instrument = stock(engine)
    orders = {
        str(o.order_id): {"status": o.status.name, "price": str(o.price), "quantity": o.quantity}
        for o in engine.api.orders()
    }
    resting = engine.venue.resting_count if engine.venue is not None else -1
    for offer in offers:
        paise = int(Decimal(offer) * 100)
        engine.on_tick(quote(instrument, bid=paise - 5, ask=paise, ltp=paise))
    fills = [[str(t.order_id), str(t.price)] for t in engine.api.trades()]
    print(json.dumps({"orders": orders, "resting": resting, "fills": fills}))
    engine.close()


def main(argv: list[str]) -> None:
    if argv[0] == "session":
        asyncio.run(session(argv[1], float(argv[2])))
    else:
        verify(argv[1], argv[2:])


def restarted(db: str, *offers: str) -> dict[str, Any]:
    with ForkedChild(CHILD_MODULE, ["verify", db, *offers]) as child:
        output = child.stdout.read()
        assert child.wait(timeout=120) == 0, child.stderr.read()[-3000:]
    return json.loads(output.strip().splitlines()[-1])


def killed_after_asking(db: str, kill_after_s: float) -> list[str]:
    """Run the session; SIGKILL it ``kill_after_s`` after it printed what it asked."""
    child = ForkedChild(CHILD_MODULE, ["session", db, "30"])
    try:
        line = child.stdout.readline()
        assert line.startswith("ASKED"), line + child.stderr.read()[-3000:]
        time.sleep(kill_after_s)
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()
        child.stderr.close()
    return line.split()[1:]


def journal_rows(db: str, order_id: str) -> list[tuple[str, dict[str, Any]]]:
    with sqlite3.connect(db) as connection:
        rows = connection.execute(
            "SELECT kind, payload FROM journal WHERE order_id = ? ORDER BY seq", (order_id,)
        ).fetchall()
    return [(kind, json.loads(payload)) for kind, payload in rows]


@pytest.mark.parametrize(
    "kill_after_s",
    [pytest.param(0.5, id="before-the-venue-acted"), pytest.param(2.5, id="after-it-acted")],
)
def test_order_crash_safety_cancel_and_modify_acknowledged_survive_a_kill_once(
    tmp_path: Path, kill_after_s: float
) -> None:
    db = str(tmp_path / "book.db")
    cancelled_id, modified_id, old_price, new_price = killed_after_asking(db, kill_after_s)

    # Offered at the old price (below the cancelled order's limit too), then at the new one.
    first = restarted(db, old_price, new_price)
    assert first["orders"][cancelled_id]["status"] == "CANCELLED", first
    modified = first["orders"][modified_id]
    assert (modified["status"], Decimal(modified["price"])) == ("OPEN", Decimal(new_price)), first
    assert first["resting"] == 1, "only the modified order is back at work"
    fills = [(order_id, Decimal(price)) for order_id, price in first["fills"]]
    assert fills == [(modified_id, Decimal(new_price))], "at the new price, once"

    again = restarted(db)  # carried out once: a second restart does nothing more
    assert again["orders"][cancelled_id]["status"] == "CANCELLED"
    cancels = [p for k, p in journal_rows(db, cancelled_id) if p.get("status") == "CANCELLED"]
    assert len(cancels) == 1, cancels
    modifications = [p for k, p in journal_rows(db, modified_id) if p.get("message") == "modified"]
    assert len(modifications) == 1, modifications


# -- the same on a desk reopened in this process ----------------------------------------------------


def resting_buy(price: int) -> OrderRequest:
    return OrderRequest(
        NIFTY_CE.token, Side.BUY, 65, OrderType.LIMIT, Product.NRML, price=Paise(price)
    )


async def slow_desk(tmp_path: Path) -> tuple[Desk, list[str]]:
    """A paper desk with latency and two orders resting at 90.00 and 89.00 (market 100)."""
    desk = make_desk(tmp_path / "book.db", config=PaperConfig(latency_ms=50))
    desk.tick(quote(NIFTY_CE, bid=9995, ask=10000))
    ids = [str(desk.oms.submit(resting_buy(price)).order_id) for price in (9000, 8900)]
    await asyncio.sleep(0.15)
    assert all(desk.oms.orders[i].status is OrderStatus.OPEN for i in ids)
    return desk, ids


async def test_order_crash_safety_second_modify_while_one_is_on_its_way_is_refused(
    tmp_path: Path,
) -> None:
    desk, (order_id, _) = await slow_desk(tmp_path)
    try:
        assert desk.oms.modify(order_id, Modification(price=Paise(8800)))
        order = desk.oms.orders[order_id]
        assert (order.status, order.price) == (OrderStatus.MODIFY_PENDING, 9000)
        again = desk.oms.modify(order_id, Modification(price=Paise(8700)))
        assert not again and again.check == "pending" and "on its way" in again.reason
        await asyncio.sleep(0.15)
        assert (order.status, order.price) == (OrderStatus.OPEN, 8800)
        assert desk.oms.modify(order_id, Modification(price=Paise(8700)))
    finally:
        desk.database.close()


async def test_order_crash_safety_cancel_overtaken_by_a_modify_answer_stays_pending_then_cancels(
    tmp_path: Path,
) -> None:
    desk, (order_id, _) = await slow_desk(tmp_path)
    assert desk.oms.modify(order_id, Modification(price=Paise(8800)))
    await asyncio.sleep(0.025)
    assert desk.oms.cancel(order_id)  # reaches the venue some 25 ms after the modify
    assert desk.oms.cancel(order_id).note == "a cancel is already on its way"
    order = desk.oms.orders[order_id]
    for _ in range(40):
        if order.price == 8800:
            break
        await asyncio.sleep(0.002)
    assert (order.status, order.price) == (OrderStatus.CANCEL_PENDING, 8800)
    again = desk.reopen()  # the loop stopped before the venue cancelled it
    try:
        assert again.oms.orders[order_id].status is OrderStatus.CANCELLED
        assert again.venue.resting_count == 1
    finally:
        again.database.close()


async def test_order_crash_safety_modify_overtaken_by_a_trigger_stays_pending_then_is_made(
    tmp_path: Path,
) -> None:
    desk = make_desk(tmp_path / "book.db", config=PaperConfig(latency_ms=50))
    desk.tick(quote(NIFTY_CE, bid=9995, ask=10000))
    stop = OrderRequest(
        NIFTY_CE.token,
        Side.BUY,
        65,
        OrderType.SL,
        Product.NRML,
        price=Paise(10600),
        trigger_price=Paise(10500),
    )
    order_id = str(desk.oms.submit(stop).order_id)
    await asyncio.sleep(0.15)
    order = desk.oms.orders[order_id]
    assert order.status is OrderStatus.TRIGGER_PENDING
    assert desk.oms.modify(order_id, Modification(price=Paise(10700)))
    # The market reaches the trigger before the venue makes the change; the offer at 110.00 is
    # above both limits, so the stop works, unfilled.
    desk.tick(quote(NIFTY_CE, bid=10545, ask=11000, ltp=10550))
    assert (order.status, order.price) == (OrderStatus.MODIFY_PENDING, 10600)
    again = desk.reopen()  # the loop stopped before the venue made the change
    try:
        restored = again.oms.orders[order_id]
        assert (restored.status, restored.price) == (OrderStatus.OPEN, 10700)
        again.tick(quote(NIFTY_CE, bid=10645, ask=10700, ltp=10700))
        assert [(t.order_id, t.price) for t in again.oms.fills] == [(order_id, 10700)]
    finally:
        again.database.close()


async def test_order_crash_safety_modify_whose_request_does_not_read_leaves_the_order_working(
    tmp_path: Path,
) -> None:
    desk, (order_id, _) = await slow_desk(tmp_path)
    assert desk.oms.modify(order_id, Modification(price=Paise(8800)))
    db = str(desk.database.engine.url.database)
    again = None
    desk.database.close()
    with sqlite3.connect(db) as connection:  # a later request of the order, unreadable
        connection.execute(
            "INSERT INTO journal (ts_ns, recorded_ns, kind, order_id, payload) "
            "VALUES (1, 1, 'modify_requested', ?, ?)",
            (order_id, '{"price": "eighty-eight"}'),
        )
    try:
        again = make_desk(db, clock=desk.clock, config=desk.venue.config, restore=True)
        order = again.oms.orders[order_id]
        assert (order.status, order.price) == (OrderStatus.OPEN, 9000)
        assert "does not read" in order.status_message
        assert again.venue.resting_count == 2
    finally:
        if again is not None:
            again.database.close()


@pytest.mark.parametrize("lots", [pytest.param(1, id="one-order"), pytest.param(60, id="sliced")])
def test_order_crash_safety_order_the_journal_cannot_record_is_denied_and_placed_again_later(
    tmp_path: Path, lots: int
) -> None:
    """In this process, with the journal's writer failing as a full disk makes it fail: the
    order (every slice of it) is refused and reaches no venue; once the journal writes, the same
    order placed again is no duplicate, and the refused one never fills."""
    clock = TestClock(MONDAY_MORNING)
    unlimited = RiskLimits(
        slice_above_freeze=True,
        max_order_value=None,
        max_orders_per_second=None,
        max_orders_per_minute=None,
    )
    engine = Engine.build(
        EngineConfig(
            db_url=f"sqlite:///{tmp_path / 'book.db'}",
            market=SimulatedMarketConfig(seed=3, strikes_each_side=2),
            risk=RiskSettings(unlimited),
            var_interval_seconds=0,
        ),
        clock=clock,
    )
    try:
        option = atm_call(engine)
        touch = engine.api.tick(option.token)
        assert touch is not None
        price = to_rupees(touch.bid - 20 * option.tick_size)
        quantity = lots * option.lot_size

        def place() -> Any:
            return engine.api.place_order(option.token, "BUY", quantity, "LIMIT", price=price)

        disk = FullDisk(tmp_path, tmpfs=False)
        disk.fill(engine)
        refused = place()
        assert not refused and refused.check == "journal", refused
        assert refused.reason.startswith("not sent: order entry paused: the journal cannot write")
        assert engine.venue is not None and engine.venue.resting_count == 0
        assert [o.status for o in engine.api.orders()] == [OrderStatus.DENIED]
        disk.free()
        assert engine.orders.retry_journal()
        clock.advance(1)
        placed = place()
        assert placed, placed.reason
        sent = placed.children or (placed.order_id,)
        assert engine.venue.resting_count == len(sent) and (len(sent) > 1) == (lots > 1)
        low = touch.bid - 30 * option.tick_size
        engine.on_tick(quote(option, bid=low - option.tick_size, ask=low, size=quantity))
        filled = {t.order_id for t in engine.api.trades()}
        assert refused.order_id not in filled and filled == set(sent)
    finally:
        engine.close()


@pytest.mark.parametrize("in_process", [True, False], ids=["paper", "live-broker"])
def test_order_crash_safety_cancel_while_the_journal_cannot_write(
    tmp_path: Path, in_process: bool
) -> None:
    """A paper venue dies with the desk, so a cancel its journal cannot record is refused in
    words (nothing fills meanwhile) and taken once it writes; a live broker gets the cancel at
    once, and the trader is told it is not yet recorded."""
    desk = make_risk_desk(tmp_path / "book.db", limits=burst_limits("queue"))
    try:
        desk.market()
        order_id = desk.oms.submit(req())
        assert order_id and desk.oms.orders[order_id.order_id].status is OrderStatus.OPEN
        if not in_process:
            desk.venue.capabilities = replace(desk.venue.capabilities, in_process=False)
        disk = FullDisk(tmp_path, tmpfs=False)
        disk.fill(desk.database)  # type: ignore[arg-type]  # what FullDisk reads: .journal
        assert not desk.oms.submit(req())  # the write that finds the journal full
        cancel = desk.oms.cancel(order_id.order_id)
        order = desk.oms.orders[order_id.order_id]
        if in_process:
            assert not cancel and cancel.check == "journal", cancel
            assert "cancel order" in cancel.reason and "again once the journal writes" in (
                cancel.reason
            )
            assert order.status is OrderStatus.OPEN and desk.venue.resting_count == 1
        else:
            assert cancel and "journal records it once it writes" in cancel.note, cancel
            assert desk.venue.resting_count == 0  # the broker has it
        disk.free()
        assert desk.oms.retry_journal()
        if in_process:
            assert desk.oms.cancel(order_id.order_id)
        assert order.status is OrderStatus.CANCELLED
        again = make_risk_desk(tmp_path / "book.db", clock=desk.clock, restore=True)
        try:
            assert again.oms.orders[order_id.order_id].status is OrderStatus.CANCELLED
        finally:
            again.database.close()
    finally:
        desk.database.close()


def test_order_crash_safety_queued_orders_wait_while_the_journal_cannot_write(
    tmp_path: Path,
) -> None:
    """Orders the throttle queued before the journal stopped writing are not sent while it
    cannot (order entry is paused), and go out, in order, once it writes again."""
    desk = make_risk_desk(tmp_path / "book.db", limits=burst_limits("queue"))
    try:
        desk.market()
        outcomes = place_burst(desk, count=12, within=0.5)  # ten sent, two wait
        waiting = [o.order_id for o in outcomes[10:]]
        assert desk.oms.queued == waiting
        disk = FullDisk(tmp_path, tmpfs=False)
        disk.fill(desk.database)  # type: ignore[arg-type]  # what FullDisk reads: .journal
        assert not desk.oms.submit(req())  # the write that finds the journal full
        assert desk.oms.halted_reason and desk.oms.queued == waiting
        desk.clock.advance(1)
        assert desk.oms.release_queued() == 0 and desk.oms.queued == waiting
        due = desk.oms.next_release_ns()
        assert due is not None and due >= desk.clock.time_ns() + 1_000_000_000
        assert [order_id for _, order_id in desk.venue.submitted][10:] == []
        disk.free()
        assert desk.oms.retry_journal()
        assert desk.oms.release_queued() == 2
        assert [order_id for _, order_id in desk.venue.submitted][10:] == waiting
    finally:
        desk.database.close()


if __name__ == "__main__":
    main(sys.argv[1:])


def test_order_crash_safety_journal_units_written_twice_replay_as_once(tmp_path: Path) -> None:
    """A server that committed a write whose answer was lost, then took the retry too, holds the
    same unit twice: the restart rebuilds each order and fill once."""
    desk = make_desk(tmp_path / "book.db")
    try:
        desk.tick(quote(NIFTY_CE, bid=9995, ask=10000))
        order_id = desk.oms.submit(resting_buy(10000)).order_id
        assert [(t.order_id, t.quantity) for t in desk.oms.fills] == [(order_id, 65)]
        rows = [(e.kind, e.order_id, e.ts_ns, e.payload) for e in desk.database.journal.read()]
    finally:
        desk.database.close()
    replayed = replay_orders(rows + rows)
    assert [(f.order_id, f.quantity) for f in replayed.fills] == [(order_id, 65)]
    order = replayed.orders[OrderId(str(order_id))]
    assert (order.status, order.filled_quantity) == (OrderStatus.COMPLETE, 65)
