"""Strategy tag and account limits on the desk: a tag's maximum loss squares off its portfolios
and only those; a tag's trailing floor; the account's square-off time; precedence account → tag
→ portfolio → leg when one price crosses limits at every level; the same portfolio on two
accounts, each trading its own multiple of the lots in its own book (a 3× paper account would be refused by its margin check)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.runtime import Engine
from engine.runtime.account_portfolios import start_on_accounts
from engine.runtime.accounts import Accounts
from engine.strategies.multileg.status import PortfolioStatus
from tests.integration.test_multileg_reentry import fill_all, legs, orders, push, status
from tests.multileg_support import (
    ScriptedBroker,
    build_desk,
    run_until,
    scripted_desk,
    template_spec,
)

LOT = 65
"""NIFTY's lot: a leg of one lot gains or loses ₹65 a rupee."""


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[tuple[Engine, ScriptedBroker]]:
    yield from scripted_desk(tmp_path)


def save_and_start(engine: Engine, name: str, tag: str = "", **sections: Any) -> None:
    leg = {"side": "SELL", "instrument": "CE", **sections.pop("leg", {})}
    execution = {"start": None, **sections.pop("execution", {})}
    data = template_spec(
        engine,
        "short_straddle",
        name,
        legs=[leg],
        defaults={"name": name, "tag": tag},
        execution=execution,
        **sections,
    )
    assert engine.api.save_portfolio(data) is None
    assert engine.api.start_portfolio(name) is None


def test_multileg_tag_max_loss_squares_off_its_portfolios_and_only_those(desk) -> None:
    engine, broker = desk
    assert engine.api.set_tag_limits("weekly", {"max_loss": "1000"}) is None
    save_and_start(engine, "First", "weekly")
    save_and_start(engine, "Second", "weekly")
    save_and_start(engine, "Apart", "monthly")
    fill_all(engine, broker, "100")
    call = int(legs(engine, "First")[0].token)
    push(engine, call, "107.65")  # each loses 7.65 × 65 = 497.25: the tag 994.50
    assert orders(broker, "X") == []
    push(engine, call, "107.70")  # the tag: 1,001
    assert {v.name: v.status for v in engine.api.portfolios()} == {
        "First": PortfolioStatus.UNDER_EXIT,
        "Second": PortfolioStatus.UNDER_EXIT,
        "Apart": PortfolioStatus.STARTED,
    }
    assert len(orders(broker, "X")) == 2


def test_multileg_tag_trailing_floor_squares_off_after_giving_back_the_gap(desk) -> None:
    engine, broker = desk
    limits = {"trail_from": "600", "trail_gap": "300"}
    assert engine.api.set_tag_limits("trail", limits) is None
    assert "it would never trail" in str(
        engine.api.set_tag_limits("trail", {**limits, "max_profit": "500"})
    )
    save_and_start(engine, "Trailed", "trail")
    fill_all(engine, broker, "100")
    call = int(legs(engine, "Trailed")[0].token)
    push(engine, call, "95")  # +325: not yet trailing
    push(engine, call, "100")  # back to 0: still nothing (the floor starts at ₹600 made)
    push(engine, call, "88")  # +780: the best
    push(engine, call, "92.60")  # +481: gave back 299
    assert status(engine, "Trailed") is PortfolioStatus.STARTED
    push(engine, call, "92.65")  # +477.75: gave back 302.25
    view = next(v for v in engine.api.portfolios() if v.name == "Trailed")
    assert view.status is PortfolioStatus.UNDER_EXIT
    assert (
        view.reason
        == "tag trail gave back ₹302.25 from its best of ₹780.00, its trailing gap is ₹300"
    )


def test_multileg_tag_account_square_off_time_comes_before_the_portfolios(desk) -> None:
    engine, broker = desk
    assert engine.api.set_account_limits({"square_off": "09:30:00"}) is None
    save_and_start(engine, "Timed")
    fill_all(engine, broker, "100")
    push(engine, int(legs(engine, "Timed")[0].token), "100", 12 * 60)
    view = next(v for v in engine.api.portfolios() if v.name == "Timed")
    assert view.status is PortfolioStatus.UNDER_EXIT
    assert view.reason == "the account's square-off time 09:30"
    assert engine.api.set_account_limits({"multiplier": 0}) is not None  # refused in words


@pytest.mark.parametrize("level", ["account", "tag", "portfolio", "leg"])
def test_multileg_tag_precedence_account_then_tag_then_portfolio_then_leg(desk, level) -> None:
    """Every level's limit is crossed by the same tick (a loss of 11 × 65 = ₹715); the highest
    level set says why the portfolio closed."""
    engine, broker = desk
    levels = ["account", "tag", "portfolio", "leg"]
    below = levels[levels.index(level) :]
    if "account" in below:
        assert engine.api.set_account_limits({"max_loss": "600", "max_profit": "5000"}) is None
    if "tag" in below:
        assert engine.api.set_tag_limits("weekly", {"max_loss": "650"}) is None
    sections: dict[str, Any] = {"leg": {"stop": {"measure": "premium", "value": "110"}}}
    if "portfolio" in below:
        sections["stop_loss"] = {"combined": {"value": "700"}}
    save_and_start(engine, "Layered", "weekly", **sections)
    fill_all(engine, broker, "100")
    push(engine, int(legs(engine, "Layered")[0].token), "111")
    view = next(v for v in engine.api.portfolios() if v.name == "Layered")
    reason, leg = view.reason, legs(engine, "Layered")[0]
    if level == "account":
        assert reason == "the account lost ₹715.00, its maximum loss is ₹600"
    elif level == "tag":
        assert reason == "tag weekly lost ₹715.00, its maximum loss is ₹650"
    elif level == "portfolio":
        assert view.status is PortfolioStatus.UNDER_EXIT
        assert not reason.startswith(("the account", "tag")) and "715" in reason, reason
    else:
        assert view.status is PortfolioStatus.STARTED  # the leg alone exits
        assert "stop hit at 111.00" in leg.remark
    assert orders(broker, "X") == [(1, "BUY", str(leg.token))]
    if level in ("account", "tag"):
        assert engine.api.start_portfolio("Layered") is not None  # not again today


def test_multileg_tag_same_portfolio_on_two_accounts_trades_each_accounts_multiple(
    tmp_path: Path,
) -> None:
    main, paper = (build_desk(tmp_path / name) for name in ("main", "paper"))
    try:
        accounts = Accounts({"main": main, "paper": paper})
        assert paper.api.set_account_limits({"multiplier": 2}) is None
        data = template_spec(main, "short_straddle", "Both", execution={"start": None})
        assert start_on_accounts(accounts, data) == {"main": None, "paper": None}
        assert start_on_accounts(accounts, data, ["nowhere"])["nowhere"].startswith(
            "no account 'nowhere'"
        )

        for engine in (main, paper):
            run_until(engine, lambda e=engine: status(e, "Both") is PortfolioStatus.STARTED)
        quantities = {
            name: [leg.quantity for leg in engine.api.portfolio_legs("Both")]
            for name, engine in accounts
        }
        assert quantities == {"main": [LOT, LOT], "paper": [2 * LOT, 2 * LOT]}
        for _name, engine in accounts:  # each account's orders in its own book only
            assert len([o for o in engine.api.orders() if o.strategy == "ml.Both"]) == 2
    finally:
        main.close()
        paper.close()


def test_multileg_tag_account_multiplier_beyond_the_portfolio_cap_is_refused_in_words(
    desk,
) -> None:
    engine, _broker = desk
    assert engine.api.set_account_limits({"multiplier": 50}) is None
    data = template_spec(engine, "short_straddle", "Big", defaults={"name": "Big", "multiplier": 3})
    assert engine.api.save_portfolio(data) is None
    assert engine.api.start_portfolio("Big") == (
        "Big at 3× on an account of 50× trades more than 100× its lots: lower one of the "
        "multipliers"
    )


def test_multileg_tag_account_square_off_by_the_desk_clock_when_its_legs_stop_ticking(
    desk,
) -> None:
    engine, broker = desk
    assert engine.api.set_account_limits({"square_off": "09:30:00"}) is None
    save_and_start(engine, "Frozen")
    fill_all(engine, broker, "100")
    assert engine.multileg.clock() == []  # not yet its time
    engine.clock.advance(12 * 60)  # past 09:30 with no tick at all on its instruments
    assert status(engine, "Frozen") is PortfolioStatus.STARTED  # its own clock never came
    assert engine.multileg.clock() == ["Frozen"]  # the heartbeat's desk-wide timer
    view = next(v for v in engine.api.portfolios() if v.name == "Frozen")
    assert view.status is PortfolioStatus.UNDER_EXIT
    assert view.reason == "the account's square-off time 09:30"
    assert len(orders(broker, "X")) == 1  # its one leg's exit, sent without a tick
    assert engine.multileg.clock() == []  # once: already exiting
