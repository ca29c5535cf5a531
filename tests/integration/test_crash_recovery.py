"""Kill the engine with SIGKILL mid-session and check that nothing acknowledged is lost.

The child process (forked from a server that imported the engine: ``tests/forked.py``) trades on a
file database and prints every acknowledgement and fill after the engine has published it (so
after the journal write). The parent kills it at a random line, then restarts the engine on the
same file in another such process and checks that every acknowledged order and every fill came
back, and that the restored positions equal positions computed here, independently, from the
journal's fill rows.
"""

from __future__ import annotations

import json
import random
import signal
import time
from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction

import pytest
from sqlalchemy import create_engine, text

from engine.domain.positions import paise_half_up
from tests.forked import ForkedChild

ORDERS = 1000
KILL_POINTS = 20


CHILD_MODULE = "tests.integration.crash_child"


def run_child(
    args: list[str], each_line: Callable[[ForkedChild, list[str]], bool]
) -> tuple[list[str], ForkedChild]:
    """The child's lines; ``each_line`` sees them as they come and says when to stop reading.
    The child has ended when this returns; its ``stderr`` is still readable."""
    child = ForkedChild(CHILD_MODULE, args)
    lines: list[str] = []
    try:
        for line in child.stdout:
            lines.append(line.rstrip("\n"))
            if each_line(child, lines):
                break
        child.wait(timeout=300)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    return lines, child


def run_and_kill(db: str, seed: int, kill_after_lines: int) -> list[str]:
    def kill_at_the_point(child: ForkedChild, lines: list[str]) -> bool:
        if len(lines) < kill_after_lines:
            return False
        child.send_signal(signal.SIGKILL)
        return True

    lines, child = run_child(["trade", db, str(seed), str(ORDERS)], kill_at_the_point)
    with child:
        assert child.returncode == -signal.SIGKILL, (
            f"the session ended after {len(lines)} lines, before its kill point "
            f"({kill_after_lines}): {child.stderr.read()[-3000:]}"
        )
    return lines


def restored(db: str) -> dict:
    with ForkedChild(CHILD_MODULE, ["verify", str(db)]) as child:
        output = child.stdout.read()
        assert child.wait(timeout=120) == 0, child.stderr.read()[-3000:]
    return json.loads(output.strip().splitlines()[-1])


def positions_from_journal(db: str) -> dict[str, dict]:
    """Net, bought, sold and realised P&L per (token, product), computed with exact fractions
    from the journal's fill rows as the database holds them (read with plain SQL)."""
    engine = create_engine(db if "://" in db else f"sqlite:///{db}")
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT payload FROM journal WHERE kind = 'order_filled' ORDER BY seq")
            ).fetchall()
    finally:
        engine.dispose()
    book: dict[str, dict] = defaultdict(
        lambda: {"net": 0, "buy": 0, "sell": 0, "cost": Fraction(0), "realised": Fraction(0)}
    )
    for (payload,) in rows:
        fill = json.loads(payload)
        position = book[f"{fill['token']}/{fill['product']}"]
        quantity, price = fill["quantity"], Fraction(fill["price"], 100)
        signed = quantity if fill["side"] == "BUY" else -quantity
        position["buy" if signed > 0 else "sell"] += quantity
        net = position["net"]
        if net == 0 or (net > 0) == (signed > 0):
            position["cost"] += quantity * price
        else:
            closing = min(quantity, abs(net))
            average = position["cost"] / abs(net)
            position["realised"] += (price - average) * closing * (1 if net > 0 else -1)
            position["cost"] -= average * closing
            if abs(signed) > abs(net):
                position["cost"] = (abs(signed) - abs(net)) * price
        position["net"] = net + signed
        if position["net"] == 0:
            position["cost"] = Fraction(0)
    return book


# A session of ORDERS orders prints 154 to 327 lines by seed, the same on any machine (the child
# trades without the order throttle, which counts wall-clock seconds; the risk gate refuses the
# rest once the account's margin and open-order limits are reached): every kill point falls
# inside it.
KILL_SCHEDULE = [
    (seed, random.Random(seed).randint(20, 100)) for seed in range(101, 101 + KILL_POINTS)
]


@pytest.mark.slow
@pytest.mark.parametrize(("seed", "kill_after_lines"), KILL_SCHEDULE)
def test_engine_when_killed_mid_session_restores_every_acknowledged_order_and_fill(
    book_url: str, seed: int, kill_after_lines: int
) -> None:
    """On a SQLite book file and on a PostgreSQL book, at the same twenty kill points."""
    check_kill_and_recovery(book_url, seed, kill_after_lines)


def check_kill_and_recovery(db: str, seed: int, kill_after_lines: int) -> None:
    lines = run_and_kill(db, seed, kill_after_lines)
    acked = {line.split()[1] for line in lines if line.startswith("ACK ")}
    fills = {}
    for line in lines:
        if line.startswith("FILL "):
            _, trade_id, order_id, quantity, price = line.split()
            fills[f"{order_id}/{trade_id}"] = (int(quantity), int(price))
    assert acked, "the child acknowledged nothing before the kill"

    state = restored(db)

    missing_orders = acked - set(state["orders"])
    assert not missing_orders, f"acknowledged orders lost: {sorted(missing_orders)[:5]}"
    missing_fills = set(fills) - set(state["fills"])
    assert not missing_fills, f"fills lost: {sorted(missing_fills)[:5]}"
    for key, (quantity, price) in fills.items():
        assert state["fills"][key]["quantity"] == quantity
        assert Decimal(state["fills"][key]["price"]) * 100 == price
    for order in state["orders"].values():
        assert order["filled"] <= order["quantity"]
        if order["status"] == "COMPLETE":
            assert order["filled"] == order["quantity"]
    # Open orders come back to the paper venue, which keeps working them.
    assert state["resting"] == sum(
        1
        for o in state["orders"].values()
        if o["status"] in ("OPEN", "TRIGGER_PENDING", "PENDING_SUBMIT")
    )

    expected = positions_from_journal(db)
    assert set(state["positions"]) == set(expected)
    for key, position in expected.items():
        got = state["positions"][key]
        assert (got["net"], got["buy"], got["sell"]) == (
            position["net"],
            position["buy"],
            position["sell"],
        ), key
        # The desk shows realised P&L to the paisa, half up, from its exact fraction: the journal's
        # exact figure, rounded the same way, must be what the restored desk shows.
        assert Decimal(got["realised"]) * 100 == paise_half_up(position["realised"] * 100), key


@pytest.fixture
def own_postgres_server(postgres_server):  # type: ignore[no-untyped-def]
    """A cluster of its own for a test that kills it: the session's server, which every other
    PostgreSQL test shares, is never taken down (its recovery after a kill can outlast the
    start-up wait on a busy machine)."""
    from tests.pg import PostgresServer

    server = PostgresServer(postgres_server.binaries)
    server.start()
    yield server
    server.close()


@pytest.mark.slow
def test_engine_on_postgresql_when_the_server_is_killed_mid_session_loses_nothing_acknowledged(
    own_postgres_server,  # type: ignore[no-untyped-def]
) -> None:
    """The database server dies (SIGKILL) while the desk trades, and comes back 2 s later: orders
    meanwhile are held and said to be (never acknowledged unjournaled), the desk rides on once
    the server is back, and every acknowledged order and fill is in the book."""
    db = own_postgres_server.fresh_url()

    def kill_the_server_once(_child: ForkedChild, lines: list[str]) -> bool:
        if len(lines) == 150:
            own_postgres_server.kill()
            time.sleep(2.0)
            own_postgres_server.start()
        return False

    lines, child = run_child(["trade-patient", db, "7", "2500"], kill_the_server_once)
    with child:
        assert child.returncode == 0, child.stderr.read()[-3000:]
    assert lines[-1] == "DONE"
    held = [line for line in lines if line.startswith("HELD ")]
    assert held, "no order was held while the database was down"
    assert "order entry paused: the journal cannot write" in held[0]
    assert "trading resumes by itself once it writes" in held[0]
    assert "the book's database server cannot be reached" in held[0]
    assert "\n" not in held[0] and "sqlalche.me" not in held[0]
    after = lines[lines.index(held[-1]) :]
    assert any(line.startswith("ACK ") for line in after), "the desk did not trade again"

    acked = {line.split()[1] for line in lines if line.startswith("ACK ")}
    fills = {
        f"{order_id}/{trade_id}"
        for _, trade_id, order_id, *_ in (
            line.split() for line in lines if line.startswith("FILL ")
        )
    }
    state = restored(db)
    assert not acked - set(state["orders"]), "acknowledged orders lost"
    assert not fills - set(state["fills"]), "fills lost"
    expected = positions_from_journal(db)
    assert {k: (v["net"], v["buy"], v["sell"]) for k, v in expected.items()} == {
        k: (v["net"], v["buy"], v["sell"]) for k, v in state["positions"].items()
    }
