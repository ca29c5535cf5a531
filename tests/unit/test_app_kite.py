"""`dalaldesk --broker kite` and `--feed kite`: the command line and the headless start."""

from __future__ import annotations

from pathlib import Path

import platformdirs
import pytest
from sqlalchemy.engine import make_url

from app.main import engine_config, live_headless, parse_args
from app.startup import StartupProblem
from engine.store import default_database_path


def test_engine_config_when_broker_is_kite_trades_on_kites_feed() -> None:
    config = engine_config(parse_args(["--broker", "kite"]))

    assert config.broker == "kite" and config.market_feed == "kite"


def test_engine_config_when_paper_on_kite_feed_paper_trades_live_prices() -> None:
    config = engine_config(parse_args(["--broker", "paper", "--feed", "kite"]))

    assert config.broker == "paper" and config.market_feed == "kite"


def test_engine_config_when_no_db_given_keeps_each_profile_and_broker_in_its_own_book(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    data = Path(platformdirs.user_data_dir("dalaldesk"))

    def database(*argv: str) -> Path:
        url = make_url(engine_config(parse_args(list(argv))).db_url or "")
        return Path(url.database or "")

    assert database() == data / "dalaldesk.db"  # where earlier versions kept the paper book
    assert database("--broker", "kite") == data / "default" / "kite.db"
    assert database("--feed", "kite") == data / "default" / "paper-kite.db"
    assert database("--profile", "client2") == data / "client2" / "paper.db"
    assert database("--profile", "client2", "--broker", "kite") == data / "client2" / "kite.db"
    assert database("--db", "sqlite:////tmp/book.db") == Path("/tmp/book.db")
    with pytest.raises(StartupProblem, match="cannot name a directory"):
        parse_args(["--profile", "../elsewhere"])
    with pytest.raises(ValueError, match="cannot name a directory"):
        default_database_path("default", "../kite")


def test_engine_config_when_kite_broker_asks_for_the_simulated_feed_is_refused() -> None:
    with pytest.raises(StartupProblem, match="Kite's own prices"):
        engine_config(parse_args(["--broker", "kite", "--feed", "simulated"]))


async def test_kite_headless_when_no_keyring_or_session_says_why_and_exits_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = engine_config(parse_args(["--broker", "kite"]))

    assert await live_headless([config], "pytest-nokeys", 0.1) == 2
    assert capsys.readouterr().err.startswith("dalaldesk: ")


def test_account_configs_with_also_gives_each_account_its_own_book_and_schedule() -> None:
    from app.main import account_configs

    main, beside = account_configs(parse_args(["--broker", "kite", "--also", "xts"]))
    assert (main.broker, main.market_feed, beside.broker, beside.market_feed) == (
        "kite",
        "kite",
        "xts",
        "xts",
    )
    assert main.db_url != beside.db_url and str(beside.db_url).endswith("xts.db")
    assert beside.schedule_folder == schedule_of("--broker", "xts") != main.schedule_folder
    assert beside.portfolios_dir is None and beside.alerts_file is None, "strategies: main only"
    assert [c.broker for c in account_configs(parse_args(["--also", "kite"]))] == [
        "paper",
        "kite",
    ]
    # Paper on Kite's prices beside a Kite account: Kite takes more than one ticker session.
    assert len(account_configs(parse_args(["--feed", "kite", "--also", "kite"]))) == 2


def test_account_configs_when_recording_record_each_account_in_its_own_folder() -> None:
    from app.main import account_configs

    main, beside = account_configs(parse_args(["--record", "--also", "kite"]))

    assert main.recordings_dir is not None and beside.recordings_dir is not None
    assert beside.recordings_dir == main.recordings_dir / "kite"


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--broker", "kite", "--also", "kite"], "already the desk's main account"),
        (["--db", "sqlite:////tmp/book.db", "--also", "xts"], "--db names one book"),
        (["--feed", "xts", "--also", "xts"], "allows one market-data session per app key"),
    ],
)
def test_account_configs_refuse_what_cannot_be_one_desk(argv: list[str], words: str) -> None:
    from app.main import account_configs

    with pytest.raises(StartupProblem, match=words):
        account_configs(parse_args(argv))


def schedule_of(*argv: str) -> Path | None:
    return engine_config(parse_args(list(argv))).schedule_folder
