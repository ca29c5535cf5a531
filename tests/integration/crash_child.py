"""Child process of the crash-recovery test.

`trade DB SEED N`: runs the engine on the simulated market and places N random orders (with some
modifies and cancels, no order throttle), printing one line per acknowledgement and per fill as
soon as the engine has published it. The parent kills this process with SIGKILL at a random line.

`desk DB SEED N`: as `trade`, as one of several desks on one shared (PostgreSQL) book: it prints
`SLOT n` (its id slot) first, and after the N orders `READY`, then keeps the book open until a line
arrives on stdin.

`verify DB`: builds the engine on the same database (it restores from the journal) and prints the
restored orders, fills and positions as JSON.

The tests fork it from a server that has imported the engine (``tests/forked.py``) and call
``main``; it also runs as a script.
"""

from __future__ import annotations

import json
import random
import sys
import time

from engine.domain.events import OrderFilled, OrderStatusChanged
from engine.domain.instruments import InstrumentType
from engine.domain.orders import OrderType, Product, Side, Validity
from engine.domain.values import to_rupees
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.risk.limits import RiskLimits, RiskSettings
from engine.runtime import Engine, EngineConfig


def build(db: str, seed: int, *, throttled: bool = True) -> Engine:
    """The engine on ``db``: a database URL (PostgreSQL), or a SQLite file's path.
    ``throttled`` False: no limit on orders a second or a minute."""
    unlimited = RiskLimits(max_orders_per_second=None, max_orders_per_minute=None)
    return Engine.build(
        EngineConfig(
            db_url=db if "://" in db else f"sqlite:///{db}",
            market=SimulatedMarketConfig(seed=seed, always_open=True, strikes_each_side=10),
            always_open=True,
            risk=RiskSettings() if throttled else RiskSettings(unlimited),
        )
    )


def trade(
    db: str,
    seed: int,
    count: int,
    *,
    patient: bool = False,
    hold: bool = False,
    steady: bool = False,
) -> None:
    """``patient``: trade slowly and retry held journal writes each step, as the desk's heartbeat
    does, so a database that goes away and comes back is ridden out (printing ``HELD`` for each
    order refused meanwhile). ``hold``: one desk of several on the book (``desk`` above).
    ``steady``: the same session on any machine. The order throttle counts wall-clock seconds,
    so with it a faster machine queues more of the orders and acknowledges fewer, and a kill
    point chosen by line could fall after the session's end (the throttle has tests of its own).
    """
    engine = build(db, seed, throttled=not steady)
    out = sys.stdout
    if hold:
        assert engine.desk_lease is not None, "not a shared book"
        out.write(f"SLOT {engine.desk_lease.slot}\n")
        out.flush()

    def on_status(event: OrderStatusChanged) -> None:
        out.write(f"ACK {event.order_id} {event.status.name}\n")
        out.flush()

    def on_fill(event: OrderFilled) -> None:
        out.write(f"FILL {event.trade_id} {event.order_id} {event.quantity} {event.price}\n")
        out.flush()

    engine.api.subscribe(OrderStatusChanged, on_status)
    engine.api.subscribe(OrderFilled, on_fill)
    rng = random.Random(seed)
    tradable = [i for i in engine.registry if i.tradable]
    for _ in range(count):
        if patient:
            time.sleep(0.003)
            if engine.orders.journal_waiting:
                engine.orders.retry_journal()
        for tick in engine.market.step(0.05):
            engine.on_tick(tick)
        action = rng.random()
        open_orders = [o for o in engine.api.orders() if o.status.is_open]
        if action < 0.1 and open_orders:
            engine.api.cancel(rng.choice(open_orders).order_id)
            continue
        if action < 0.15 and open_orders:
            order = rng.choice(open_orders)
            if order.price is not None:
                engine.api.modify(
                    order.order_id, price=order.price + to_rupees(order.instrument.tick_size)
                )
            continue
        instrument = rng.choice(tradable)
        quote = engine.api.tick(instrument.token)
        if quote is None or quote.bid <= 0 or quote.ask <= 0:
            continue
        side = rng.choice((Side.BUY, Side.SELL))
        lots = rng.randint(1, 3)
        if instrument.instrument_type is InstrumentType.EQ:
            product = rng.choice((Product.CNC, Product.MIS))
        else:
            product = rng.choice((Product.NRML, Product.MIS))
        kind = rng.random()
        if kind < 0.35:
            outcome = engine.api.place_order(
                instrument.token,
                side,
                lots * instrument.lot_size,
                OrderType.MARKET,
                product=product,
                source="api",
                tag="crash-test",
            )
        else:
            # At or a few ticks away from the touch: some fill at once, some rest.
            away = rng.randint(-2, 3) * instrument.tick_size
            touch = quote.bid if side is Side.BUY else quote.ask
            price = max(instrument.tick_size, touch - away if side is Side.BUY else touch + away)
            validity = Validity.IOC if kind > 0.9 else Validity.DAY
            outcome = engine.api.place_order(
                instrument.token,
                side,
                lots * instrument.lot_size,
                OrderType.LIMIT,
                product=product,
                validity=validity,
                price=to_rupees(price),
                source="api",
                tag="crash-test",
            )
        if not outcome.ok and outcome.check == "journal":
            out.write(f"HELD {outcome.reason}\n")
            out.flush()
    if hold:
        out.write("READY\n")
        out.flush()
        sys.stdin.readline()
    out.write("DONE\n")
    out.flush()
    engine.close()


def verify(db: str) -> None:
    engine = build(db, 1)
    orders = {
        o.order_id: {"status": o.status.name, "filled": o.filled_quantity, "quantity": o.quantity}
        for o in engine.api.orders()
    }
    fills = {
        f.order_id + "/" + f.trade_id: {"quantity": f.quantity, "price": str(f.price)}
        for f in engine.api.trades()
    }
    positions = {
        f"{p.instrument.token}/{p.product.value}": {
            "net": p.net_quantity,
            "buy": p.buy_quantity,
            "sell": p.sell_quantity,
            "realised": str(p.realised),
            "charges": str(p.charges),
        }
        for p in engine.api.positions()
    }
    resting = engine.venue.resting_count
    held_elsewhere = sorted(engine.orders.other_desks)
    refused = [engine.api.cancel(order_id).reason for order_id in held_elsewhere[:1]]
    print(
        json.dumps(
            {
                "orders": orders,
                "fills": fills,
                "positions": positions,
                "resting": resting,
                "held_elsewhere": held_elsewhere,
                "cancel_refused": refused,
            }
        )
    )
    engine.close()


def main(argv: list[str]) -> None:
    if argv[0] in ("trade", "trade-patient", "desk"):
        trade(
            argv[1],
            int(argv[2]),
            int(argv[3]),
            patient=argv[0] == "trade-patient",
            hold=argv[0] == "desk",
            steady=argv[0] == "trade",
        )
    else:
        verify(argv[1])


if __name__ == "__main__":
    main(sys.argv[1:])
