"""Start-up support: secrets redacted from logs, the crash handler, the command line."""

from __future__ import annotations

import logging
import sys

import pytest

from app.crash import CrashHandler
from app.main import engine_config, parse_args
from app.startup import StartupProblem
from engine.core.logs import RedactingFilter, redact, setup_logging

SECRET = "s3cr3tVALUE42"


@pytest.mark.parametrize(
    "text",
    [
        f"POST /session/token api_key=abc&request_token={SECRET}&checksum=x",
        f'{{"access_token": "{SECRET}", "user": "AB1234"}}',
        f"Authorization: token kiteapikey:{SECRET}",
        f"password={SECRET}",
        f"totp_seed: {SECRET}",
        f"api_secret={SECRET} while logging in",
    ],
)
def test_redact_when_text_carries_a_credential_hides_it(text: str) -> None:
    cleaned = redact(text)
    assert SECRET not in cleaned
    assert "***" in cleaned


def test_redacting_filter_when_a_record_and_its_traceback_carry_secrets_hides_them() -> None:
    try:
        raise ValueError(f"login failed for access_token={SECRET}")
    except ValueError:
        record = logging.getLogger("t").makeRecord(
            "t", logging.ERROR, __file__, 1, "sending %s", (f"password={SECRET}",), sys.exc_info()
        )
    RedactingFilter().filter(record)
    assert SECRET not in record.getMessage()
    assert SECRET not in (record.exc_text or "")


def test_setup_logging_when_called_writes_the_log_file_without_secrets(
    tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    root = logging.getLogger()
    handlers = list(root.handlers)
    try:
        path = setup_logging("acct1", "INFO", console=False)
        logging.getLogger("dalaldesk.test").info("token refreshed access_token=%s", SECRET)
        for handler in root.handlers:
            handler.flush()
        text = path.read_text(encoding="utf-8")
        assert "token refreshed access_token=***" in text
        assert SECRET not in text
        assert path.parent.name == "acct1"
    finally:
        for handler in root.handlers[:]:
            if handler not in handlers:
                root.removeHandler(handler)
                handler.close()


def test_crash_handler_when_an_exception_escapes_writes_a_crash_log_and_tells_the_trader(
    tmp_path,
) -> None:
    told: list[str] = []
    handler = CrashHandler(tmp_path / "crashes", notify=told.append)
    handler.install()
    _escape(handler)
    [crash] = handler.crashes
    text = crash.read_text(encoding="utf-8")
    assert "RuntimeError: feed died" in text and SECRET not in text
    assert told and "Details were saved to" in told[0] and SECRET not in told[0]
    assert sys.excepthook is not handler.handle


def test_crash_handler_when_the_crash_log_cannot_be_written_still_tells_the_trader(
    tmp_path, caplog
) -> None:
    told: list[str] = []
    handler = CrashHandler(tmp_path / "crashes", notify=told.append)
    handler.install()
    handler.directory = tmp_path / "removed" / "crashes"  # the folder went (or the disk is full)
    _escape(handler)
    assert handler.crashes == []
    assert told and told[0].startswith("RuntimeError: feed died") and SECRET not in told[0]
    assert "The details could not be saved to" in told[0] and "No such file" in told[0]
    [record] = [r for r in caplog.records if r.name == "dalaldesk.crash"]
    assert "Traceback" in record.getMessage() and SECRET not in record.getMessage()


def _escape(handler: CrashHandler) -> None:
    """An exception with a secret in it escapes to the installed handler, which is then
    uninstalled."""
    try:
        try:
            raise RuntimeError(f"feed died with api_secret={SECRET}")
        except RuntimeError as error:
            sys.excepthook(type(error), error, error.__traceback__)
    finally:
        handler.uninstall()


def test_command_line_when_given_profile_db_and_reset_layout_reads_them() -> None:
    args = parse_args(
        ["--db", "sqlite:////tmp/x.db", "--profile", "desk2", "--reset-layout", "--always-open"]
    )
    assert (args.profile, args.reset_layout) == ("desk2", True)
    config = engine_config(args)
    assert config.db_url == "sqlite:////tmp/x.db" and config.always_open


def test_command_line_when_nothing_said_keeps_the_simulated_market_open_unless_nse_hours() -> None:
    assert engine_config(parse_args([])).always_open
    config = engine_config(parse_args(["--nse-hours"]))
    assert not config.always_open and not config.market.always_open


def test_command_line_when_a_broker_not_built_yet_is_asked_says_so() -> None:
    with pytest.raises(StartupProblem, match="invalid choice: 'fyers'"):
        parse_args(["--broker", "fyers"])


def test_log_files_stop_at_their_cap(tmp_path, monkeypatch) -> None:
    import engine.core.logs as logs

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    monkeypatch.setattr(logs, "LOG_FILE_BYTES", 20_000)
    monkeypatch.setattr(logs, "LOG_FILES_KEPT", 3)
    root = logging.getLogger()
    handlers = list(root.handlers)
    try:
        path = setup_logging("capped", "INFO", console=False)
        line = "x" * 200
        for number in range(2_000):  # about 450 KB of records: far past the cap
            logging.getLogger("dalaldesk.test").info("record %d %s", number, line)
        for handler in root.handlers:
            handler.flush()
        files = sorted(path.parent.glob("dalaldesk.log*"))
        assert [f.name for f in files] == [
            "dalaldesk.log",
            "dalaldesk.log.1",
            "dalaldesk.log.2",
            "dalaldesk.log.3",
        ]
        assert all(f.stat().st_size <= 20_000 for f in files)
        assert "record 1999" in path.read_text(encoding="utf-8"), "the newest is kept"
    finally:
        for handler in root.handlers[:]:
            if handler not in handlers:
                root.removeHandler(handler)
                handler.close()
