"""The desk's multileg portfolios as files and as strategies: saved and read back, a damaged file
set aside and named, exported and imported, a live portfolio refused on a desk without a broker
session, a running portfolio not stopped while it holds legs, and one with open legs watched
again after the desk is closed and opened."""

from __future__ import annotations

import asyncio
import json

import pytest

from engine.api import LegTextError
from engine.strategies.multileg.status import PortfolioStatus
from tests.multileg_support import build_desk, run_market, run_until, template_spec


def _view(engine, name):
    return next(v for v in engine.api.portfolios() if v.name == name)


def test_multileg_portfolios_when_saved_are_read_back_and_bad_files_set_aside(tmp_path) -> None:
    engine = build_desk(tmp_path)
    try:
        data = template_spec(engine, "iron_condor", "Weekly condor")
        assert engine.api.save_portfolio(data) is None
        bad = dict(data, legs=[])
        assert engine.api.save_portfolio(bad).startswith("legs: List should have at least 1 item")
        assert engine.api.export_portfolio("Weekly condor", tmp_path / "condor.json") is None
    finally:
        engine.close()
    folder = tmp_path / "portfolios"
    (folder / "broken.json").write_text('{"defaults": {"name": "Broken"}, "legs": [{"side": "X"}]}')
    (folder / "torn.json").write_text('{"defaults": ')
    again = build_desk(tmp_path)
    try:
        assert [v.name for v in again.api.portfolios()] == ["Weekly condor"]
        assert again.api.portfolio("Weekly condor") == again.api.check_portfolio(data)
        problems = again.api.portfolio_problems()
        assert any(p.startswith("broken.json: legs.0.side") for p in problems), problems
        assert any(p.startswith("torn.json:") for p in problems), problems
        assert (folder / "broken.json.bad").exists() and (folder / "torn.json.bad").exists()
        exported = json.loads((tmp_path / "condor.json").read_text())
        assert exported["portfolio"]["defaults"]["name"] == "Weekly condor"
        assert again.api.import_portfolio(tmp_path / "condor.json") == (
            "a portfolio named 'Weekly condor' exists already"
        )
        assert again.api.import_portfolio(tmp_path / "condor.json", "Monthly condor") is None
        assert [v.name for v in again.api.portfolios()] == ["Monthly condor", "Weekly condor"]
        assert again.api.save_portfolio_template("Weekly condor", "my_condor") is None
        mine = [t for t in again.api.portfolio_templates() if t.own]
        assert [t.key for t in mine] == ["my_condor"] and mine[0].title == "Weekly condor"
        assert again.api.delete_portfolio("Monthly condor") is None
        assert not (folder / "Monthly_condor.json").exists()
    finally:
        again.close()


def test_multileg_portfolio_legs_when_copied_as_text_paste_into_a_new_portfolio(tmp_path) -> None:
    engine = build_desk(tmp_path)
    try:
        assert engine.api.save_portfolio(template_spec(engine, "iron_condor", "Condor")) is None
        text = engine.api.portfolio_legs_text("Condor")
        assert text is not None and text.startswith(
            "Strike:ATM+2|Txn:SELL|Ins:CE|Expiry:CW|Lots:1||"
        )
        assert engine.api.portfolio_legs_text("No such") is None
        legs = engine.api.legs_from_text(text.replace("Lots:1", "Lots:2"))
        pasted = {"defaults": {"name": "Double condor"}, "legs": [leg.model_dump() for leg in legs]}
        assert engine.api.save_portfolio(pasted) is None
        assert [leg.lots for leg in engine.api.portfolio("Double condor").legs] == [2, 2, 2, 2]
        with pytest.raises(LegTextError) as refused:
            engine.api.legs_from_text("Strike:ATM|Txn:SELL|Ins:CE|Expiry:CW|Lots:two")
        assert (
            str(refused.value) == "leg 1, at column 43: Lots must be a whole number ≥ 1, got 'two'"
        )
    finally:
        engine.close()


def test_multileg_live_portfolio_on_a_paper_desk_is_refused_in_words(tmp_path) -> None:
    engine = build_desk(tmp_path)
    try:
        data = template_spec(engine, "short_straddle", "Live one", defaults={"mode": "live"})
        assert engine.api.save_portfolio(data) is None
        problem = engine.api.start_portfolio("Live one")
        assert problem == (
            "Live one trades live and the desk is on the paper market; live trading needs a "
            "broker login"
        )
        assert not _view(engine, "Live one").running and not engine.api.orders()
        off = template_spec(engine, "short_straddle", "Off", defaults={"enabled": False})
        assert engine.api.save_portfolio(off) is None
        assert engine.api.start_portfolio("Off") == "Off is disabled"
        assert _view(engine, "Off").status is PortfolioStatus.DISABLED
    finally:
        engine.close()


def test_multileg_portfolio_holding_legs_is_not_stopped_and_resumes_after_the_desk_closes(
    tmp_path,
) -> None:
    engine = build_desk(tmp_path)
    try:
        run_market(engine, 1)
        assert engine.api.save_portfolio(template_spec(engine, "short_straddle", "Held")) is None
        assert (
            engine.api.save_portfolio(
                template_spec(engine, "long_straddle", "Waiting", execution={"start": "14:00:00"})
            )
            is None
        )
        assert engine.api.start_portfolio("Held") is None
        assert engine.api.start_portfolio("Waiting") is None
        run_until(
            engine, lambda: _view(engine, "Held").status is PortfolioStatus.STARTED, limit=600
        )
        refusal = engine.api.stop_portfolio("Held")
        assert refusal is not None and refusal.startswith("Held is Started: square it off")
        assert _view(engine, "Waiting").status is PortfolioStatus.PENDING
        premium = _view(engine, "Held").premium
        at = engine.clock.now()
    finally:
        asyncio.run(engine.stop())  # the desk closed cleanly
    again = build_desk(tmp_path, at=at)
    try:
        again.strategies.resume()  # what the desk's start does, without its feed tasks
        held = _view(again, "Held")
        assert held.running and held.status is PortfolioStatus.STARTED  # watched again
        assert held.premium == premium  # the same fills, recovered from the book
        assert [leg.state for leg in again.api.portfolio_legs("Held")] == ["entered", "entered"]
        waiting = _view(again, "Waiting")
        assert not waiting.running and waiting.status is PortfolioStatus.STOPPED
        assert again.api.square_off_portfolio("Held") is None
        run_until(again, lambda: not _view(again, "Held").running, limit=600)
        assert _view(again, "Held").status is PortfolioStatus.COMPLETED
        assert len([o for o in again.api.orders() if o.strategy == "ml.Held"]) == 4
    finally:
        again.close()
