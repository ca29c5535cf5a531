"""Kill the engine with SIGKILL mid-session and check that nothing acknowledged is lost.

The child process trades on a file database and prints every acknowledgement and fill after the
engine has published it (so after the journal write). The parent kills it at a random line, then
restarts the engine on the same file and checks that every acknowledged order and every fill came
back, and that the restored positions equal positions computed here, independently, from the
journal's fill rows.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
from collections import defaultdict
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

CHILD = Path(__file__).with_name("crash_child.py")
ROOT = Path(__file__).resolve().parents[2]
ORDERS = 1000
KILL_POINTS = 20


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_and_kill(db: Path, seed: int, kill_after_lines: int) -> list[str]:
    child = subprocess.Popen(
        [sys.executable, str(CHILD), "trade", str(db), str(seed), str(ORDERS)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
    )
    assert child.stdout is not None
    lines: list[str] = []
    try:
        for line in child.stdout:
            lines.append(line.rstrip("\n"))
            if len(lines) >= kill_after_lines:
                child.send_signal(signal.SIGKILL)
                break
        child.wait(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    if child.returncode != -signal.SIGKILL:
        # It finished before the kill point; it must then have said so and exited cleanly.
        assert child.returncode == 0, child.stderr.read() if child.stderr else ""
        assert lines[-1] == "DONE"
    return lines


def restored(db: Path) -> dict:
    run = subprocess.run(
        [sys.executable, str(CHILD), "verify", str(db)],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def positions_from_journal(db: Path) -> dict[str, dict]:
    """Net, bought, sold and realised P&L per (token, product), computed with exact fractions."""
    connection = sqlite3.connect(db)
    rows = connection.execute(
        "SELECT payload FROM journal WHERE kind = 'order_filled' ORDER BY seq"
    ).fetchall()
    connection.close()
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


KILL_SCHEDULE = [
    (seed, random.Random(seed).randint(20, 1400)) for seed in range(101, 101 + KILL_POINTS)
]


@pytest.mark.slow
@pytest.mark.parametrize(("seed", "kill_after_lines"), KILL_SCHEDULE)
def test_engine_when_killed_mid_session_restores_every_acknowledged_order_and_fill(
    tmp_path: Path, seed: int, kill_after_lines: int
) -> None:
    db = tmp_path / "book.db"
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
        assert abs(Fraction(got["realised"]) - position["realised"]) < Fraction(1, 10**9), key
