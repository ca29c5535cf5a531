"""The desk's multileg portfolio files with a UTF-8 byte-order mark (Notepad's "UTF-8") are read,
by Import and from the portfolios folder at start; and a running portfolio is shown with the
mode and underlying it runs on, not those saved while it runs."""

from __future__ import annotations

import json

from tests.multileg_support import build_desk, run_market

BOM = b"\xef\xbb\xbf"
STRADDLE = {
    "defaults": {"name": "Straddle"},
    "legs": [
        {"side": "SELL", "instrument": "CE", "stop": {"measure": "percent", "value": "30"}},
        {"side": "SELL", "instrument": "PE", "stop": {"measure": "percent", "value": "30"}},
    ],
}


def test_multileg_desk_when_a_portfolio_file_has_a_byte_order_mark_reads_it(tmp_path) -> None:
    exported = tmp_path / "notepad.json"
    exported.write_bytes(BOM + json.dumps({"portfolio": STRADDLE}).encode())
    folder = tmp_path / "portfolios"
    folder.mkdir()
    kept = dict(STRADDLE, defaults={"name": "Kept"})
    (folder / "Kept.json").write_bytes(BOM + json.dumps(kept).encode())
    engine = build_desk(tmp_path)
    try:
        assert engine.api.portfolio_problems() == []
        assert engine.api.portfolio("Kept") == engine.api.check_portfolio(kept)
        assert not (folder / "Kept.json.bad").exists()
        assert engine.api.import_portfolio(exported) is None
        assert engine.api.portfolio("Straddle") == engine.api.check_portfolio(STRADDLE)
    finally:
        engine.close()


def test_multileg_view_when_settings_are_saved_while_it_runs_shows_those_it_runs_on(
    tmp_path,
) -> None:
    engine = build_desk(tmp_path)
    try:
        api = engine.api
        assert api.save_portfolio(STRADDLE) is None
        assert api.start_portfolio("Straddle") is None
        run_market(engine, 5)
        changed = dict(STRADDLE, defaults={"name": "Straddle", "underlying": "BANKNIFTY"})
        changed["defaults"]["mode"] = "live"
        assert api.save_portfolio(changed) is None
        [view] = api.portfolios()
        assert view.running
        assert (view.mode, view.underlying) == ("paper", "NIFTY")  # what it runs on
        assert api.stop_portfolio("Straddle") is None
        [view] = api.portfolios()
        assert not view.running
        assert (view.mode, view.underlying) == ("live", "BANKNIFTY")  # what it starts with next
    finally:
        engine.close()
