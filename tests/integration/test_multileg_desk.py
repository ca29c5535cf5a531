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


def test_multileg_account_and_tag_limits_survive_restarts_and_are_never_read_as_portfolios(
    tmp_path,
) -> None:
    engine = build_desk(tmp_path)
    try:
        assert engine.api.set_account_limits({"max_loss": "5000", "multiplier": 2}) is None
        assert engine.api.set_tag_limits("weekly", {"max_loss": "1000"}) is None
        assert engine.api.save_portfolio(template_spec(engine, "iron_condor", "Condor")) is None
    finally:
        engine.close()
    folder = tmp_path / "portfolios"
    for _ in range(2):  # a desk opened twice: the second once read what the first set aside
        again = build_desk(tmp_path)
        try:
            account = again.api.account_limits()
            assert account is not None and account.max_loss == 5000 and account.multiplier == 2
            assert str(again.api.tag_limits()["weekly"].max_loss) == "1000"
            assert again.api.portfolio_problems() == []
            assert [v.name for v in again.api.portfolios()] == ["Condor"]
        finally:
            again.close()
    assert not list(folder.glob("*.bad"))

    # An earlier version set both files aside at its start: they are read again, not lost.
    for name in ("account.json", "tags.json"):
        (folder / name).rename(folder / f"{name}.bad")
    (folder / "torn.json.bad").write_text('{"defaults": ')  # set aside for a reason of its own
    restored = build_desk(tmp_path)
    try:
        account = restored.api.account_limits()
        assert account is not None and account.max_loss == 5000
        assert "weekly" in restored.api.tag_limits()
        assert (folder / "account.json").exists() and (folder / "tags.json").exists()
        assert (folder / "torn.json.bad").exists()
        # Nor can a portfolio take either file's name.
        for name in ("account", "Tags"):
            assert restored.api.save_portfolio(template_spec(restored, "iron_condor", name)) == (
                f"{name!r} names the file that keeps the {name.lower()} limits: choose another"
            )
    finally:
        restored.close()


def test_multileg_names_that_would_share_a_file_or_strategy_id_are_refused(tmp_path) -> None:
    engine = build_desk(tmp_path)
    try:
        run_market(engine, 1)
        short = template_spec(engine, "short_straddle", "Nifty straddle")
        assert engine.api.save_portfolio(short) is None
        for other in ("Nifty_straddle", "nifty straddle", "NIFTY_STRADDLE"):
            refused = engine.api.save_portfolio(template_spec(engine, "long_straddle", other))
            assert refused == (
                f"{other!r} would share its file and strategy id with the portfolio "
                "'Nifty straddle': choose a name that differs by more than spaces, '_' or capitals"
            )
        exported = tmp_path / "long.json"
        assert engine.api.save_portfolio(template_spec(engine, "long_straddle", "Long")) is None
        assert engine.api.export_portfolio("Long", exported) is None
        assert engine.api.import_portfolio(exported, "Nifty_straddle").startswith(
            "'Nifty_straddle' would share its file"
        )
        assert [v.name for v in engine.api.portfolios()] == ["Long", "Nifty straddle"]
        # Starting the short straddle sells, as it says: no other portfolio took its id.
        assert engine.api.start_portfolio("Nifty straddle") is None
        run_until(engine, lambda: engine.api.orders(), limit=600)
        sides = {o.side.value for o in engine.api.orders() if o.strategy == "ml.Nifty_straddle"}
        assert sides == {"SELL"}
    finally:
        engine.close()
    # A file written by hand under a clashing name is named and not loaded.
    folder = tmp_path / "portfolios"
    data = json.loads((folder / "Long.json").read_text())
    data["defaults"]["name"] = "nifty_straddle"
    (folder / "zz.json").write_text(json.dumps(data))
    again = build_desk(tmp_path)
    try:
        assert [v.name for v in again.api.portfolios()] == ["Long", "Nifty straddle"]
        [problem] = again.api.portfolio_problems()
        assert problem.startswith("zz.json: not loaded: 'nifty_straddle' would share its file")
    finally:
        again.close()


def test_multileg_hostile_files_are_named_in_words_and_the_desk_still_opens(tmp_path) -> None:
    folder = tmp_path / "portfolios"
    folder.mkdir()
    (folder / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (folder / "again.json").write_text('{"defaults": ')
    (folder / "again.json.bad").write_text("set aside by an earlier start")
    (folder / "tags.json").write_text('["not", "a", "map"]')
    (folder / "templates").mkdir()
    (folder / "templates" / "empty.json").write_text("{}")
    engine = build_desk(tmp_path)
    try:
        problems = engine.api.portfolio_problems()
        assert "deep.json: nested too deeply to read (kept as deep.json.bad)" in problems
        # Set aside a second time: the first copy is kept as it was.
        assert (folder / "again.json.bad").read_text() == "set aside by an earlier start"
        [second] = folder.glob("again.json.*[0-9].bad")
        assert any(
            p.startswith("again.json: ") and f"(kept as {second.name})" in p for p in problems
        )
        assert (
            'tags.json: tag limits are {"tag": {"max_loss": ...}, ...} '
            "(kept as tags.json.bad; no tag limits apply)" in problems
        )
        # A template file of the wrong shape is named once, however often the templates are read.
        for _ in range(3):
            assert "short_straddle" in [t.key for t in engine.api.portfolio_templates()]
        said = [p for p in engine.api.portfolio_problems() if p.startswith("template ")]
        assert said == [
            'template empty.json: a template is {"description": ..., "portfolio": {...}}'
        ]

        hostile = {
            "deep.json": "[" * 100_000 + "]" * 100_000,
            "digits.json": '{"defaults": {"name": "X"}, "legs": [{"lots": ' + "9" * 5000 + "}]}",
            "defaults.json": '{"defaults": "Renamed", "legs": []}',
            "huge.json": json.dumps(
                template_spec(engine, "iron_condor", "Huge", target={"lock_at": "1e999999"})
            ),
        }
        said = {}
        for name, text in hostile.items():
            (tmp_path / name).write_text(text)
            said[name] = engine.api.import_portfolio(tmp_path / name, "Renamed")
        assert said["deep.json"] == "deep.json cannot be read: nested too deeply to read"
        assert said["digits.json"].startswith("digits.json cannot be read: Exceeds the limit")
        assert said["defaults.json"].startswith("defaults: Input should be a valid dictionary")
        assert said["huge.json"] == "target.lock_at: must be at most 10,000,000,000"
        assert [v.name for v in engine.api.portfolios()] == []

        # A file that cannot be removed keeps its portfolio, and says so.
        assert engine.api.save_portfolio(template_spec(engine, "iron_condor", "Kept")) is None
        (folder / "Kept.json").unlink()
        (folder / "Kept.json").mkdir()
        (folder / "Kept.json" / "x").write_text("")
        assert engine.api.delete_portfolio("Kept").startswith("Kept could not be deleted: ")
        assert [v.name for v in engine.api.portfolios()] == ["Kept"]
    finally:
        engine.close()


def test_multileg_portfolio_that_failed_holding_legs_is_squared_off_not_entered_twice(
    tmp_path, monkeypatch
) -> None:
    from engine.strategies.multileg.portfolio import PortfolioStrategy

    engine = build_desk(tmp_path)
    try:
        run_market(engine, 1)
        assert engine.api.save_portfolio(template_spec(engine, "short_straddle", "Held")) is None
        assert engine.api.start_portfolio("Held") is None
        run_until(
            engine, lambda: _view(engine, "Held").status is PortfolioStatus.STARTED, limit=600
        )
        held = {
            p.instrument.token: p.net_quantity for p in engine.api.positions() if p.net_quantity
        }
        assert len(held) == 2

        def broken(self, tick):  # type: ignore[no-untyped-def]
            raise ArithmeticError("a fault of its own")

        with monkeypatch.context() as patch:
            patch.setattr(PortfolioStrategy, "on_tick", broken)
            run_until(engine, lambda: not _view(engine, "Held").running, limit=60)
        view = _view(engine, "Held")
        assert view.status is PortfolioStatus.FAILED and "a fault of its own" in view.reason

        refused = engine.api.start_portfolio("Held")
        assert refused is not None and refused.startswith(
            "Held stopped on a fault holding 2 open legs (ArithmeticError in "
        )
        assert refused.endswith("square it off first, and a fresh start enters no second set")
        assert engine.api.square_off_portfolio("Held") is None
        run_until(engine, lambda: not _view(engine, "Held").running, limit=600)
        assert _view(engine, "Held").status is PortfolioStatus.COMPLETED
        assert not [p for p in engine.api.positions() if p.net_quantity]
        assert len([o for o in engine.api.orders() if o.strategy == "ml.Held"]) == 4
        assert engine.api.start_portfolio("Held") is None  # flat: it may start afresh
    finally:
        engine.close()


def test_multileg_portfolios_on_a_read_only_folder_load_and_refuse_changes_in_words(
    tmp_path,
) -> None:
    import subprocess

    from tests.full_disk import small_tmpfs

    with small_tmpfs(tmp_path / "portfolios", size="1m") as disk:
        if not disk.tmpfs:
            pytest.skip("needs a tmpfs to make read only (mounting is not permitted here)")
        engine = build_desk(tmp_path)
        try:
            data = template_spec(engine, "iron_condor", "Kept")
            assert engine.api.save_portfolio(data) is None
        finally:
            engine.close()
        (disk.directory / "torn.json").write_text('{"defaults": ')
        remount = ["mount", "-o", "remount,ro", str(disk.directory)]
        assert subprocess.run(remount, capture_output=True).returncode == 0
        again = build_desk(tmp_path)
        try:
            assert [v.name for v in again.api.portfolios()] == ["Kept"]
            [problem] = again.api.portfolio_problems()
            assert problem.startswith("torn.json: ")
            assert problem.endswith(
                "(left where it is: it could not be set aside (Read-only file system))"
            )
            assert again.api.delete_portfolio("Kept") == (
                "Kept could not be deleted: Read-only file system"
            )
            assert [v.name for v in again.api.portfolios()] == ["Kept"]
            refused = again.api.save_portfolio(template_spec(again, "iron_condor", "New"))
            assert refused is not None and "Read-only file system" in refused
        finally:
            again.close()
