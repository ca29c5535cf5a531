"""`dalaldesk --broker kite` and `--feed kite`: the command line and the headless start."""

from __future__ import annotations

import pytest

from app.main import engine_config, kite_headless, parse_args


def test_engine_config_when_broker_is_kite_trades_on_kites_feed() -> None:
    config = engine_config(parse_args(["--broker", "kite"]))

    assert config.broker == "kite" and config.market_feed == "kite"


def test_engine_config_when_paper_on_kite_feed_paper_trades_live_prices() -> None:
    config = engine_config(parse_args(["--broker", "paper", "--feed", "kite"]))

    assert config.broker == "paper" and config.market_feed == "kite"


def test_engine_config_when_kite_broker_asks_for_the_simulated_feed_is_refused() -> None:
    with pytest.raises(SystemExit, match="Kite's own prices"):
        engine_config(parse_args(["--broker", "kite", "--feed", "simulated"]))


async def test_kite_headless_when_no_keyring_or_session_says_why_and_exits_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = engine_config(parse_args(["--broker", "kite"]))

    assert await kite_headless(config, "pytest-nokeys", 0.1) == 2
    assert capsys.readouterr().err.startswith("dalaldesk: ")
