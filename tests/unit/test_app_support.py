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
        f"Authorization: Bearer {SECRET}",
        f'curl -H "Authorization: Bearer {SECRET}" http://127.0.0.1/api',
        f'{{"appKey": "XAPPKEY1", "secretKey": "{SECRET}", "source": "WEBAPI"}}',
        f"{{'token': '{SECRET}', 'expires': '2099-01-01'}}",
        f"/api/v1/positions?token={SECRET}",
        f"passphrase={SECRET}",
        f"appKey={SECRET}",
        f"apiKey: {SECRET}",
        f"X-Api-Key: {SECRET}",
        f'password="two words {SECRET}"',
    ],
)
def test_redact_when_text_carries_a_credential_hides_it(text: str) -> None:
    cleaned = redact(text)
    assert SECRET not in cleaned
    assert "***" in cleaned


def test_redact_when_a_bearer_header_is_hidden_keeps_the_scheme_and_quotes_in_sight() -> None:
    assert redact(f"Authorization: Bearer {SECRET}") == "Authorization: Bearer ***"
    assert redact(f'{{"secretKey": "{SECRET}"}}') == '{"secretKey": "***"}'


def test_redact_when_a_key_only_looks_like_a_credential_keeps_its_value() -> None:
    text = "instrument_token=256265 exchange_token: 1001 token refreshed; the secret key is wrong"
    assert redact(text) == text


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


def test_crash_handler_when_an_error_carries_a_known_secret_value_leaves_it_out(
    tmp_path, caplog
) -> None:
    told: list[str] = []
    plain = "PLAINVALUEq9w8e7"  # a keyring value in no key=value form: only its value is known
    handler = CrashHandler(tmp_path / "crashes", notify=told.append, secrets=lambda: [plain])
    handler.directory.mkdir()
    try:
        raise RuntimeError(f"feed died near {plain}; Authorization: Bearer {SECRET}")
    except RuntimeError as error:
        handler.handle(type(error), error, error.__traceback__)
    [crash] = handler.crashes
    text = crash.read_text(encoding="utf-8")
    assert "RuntimeError: feed died near ***" in text
    for shown in (text, told[0], caplog.text):
        assert plain not in shown and SECRET not in shown


def test_crash_handler_when_the_same_error_repeats_writes_one_file_and_tells_a_count(
    tmp_path, caplog
) -> None:
    told: list[str] = []
    handler = CrashHandler(tmp_path / "crashes", notify=told.append)
    handler.directory.mkdir()
    for row in range(100):  # a broken refresh on a timer: one place, one type
        _raise_at_one_place(handler, KeyError(f"row {row}"))
    assert len(handler.crashes) == 1 and len(list((tmp_path / "crashes").iterdir())) == 1
    assert len(told) == 100 and "This error happened 100 times." in told[-1]
    assert told[-1].startswith("KeyError: 'row 0'")
    assert len([r for r in caplog.records if r.name == "dalaldesk.crash"]) < 10


def test_crash_handler_when_many_different_errors_escape_stops_writing_files_and_says_so_once(
    tmp_path, caplog
) -> None:
    from app.crash import CRASH_FILES_PER_SESSION

    told: list[str] = []
    handler = CrashHandler(tmp_path / "crashes", notify=told.append)
    handler.directory.mkdir()
    for kind in range(CRASH_FILES_PER_SESSION + 15):  # a different type each: no merging
        error_type = type(f"Broken{kind}", (RuntimeError,), {})
        _raise_at_one_place(handler, error_type(f"error {kind}"))
    files = list((tmp_path / "crashes").iterdir())
    assert len(files) == len(handler.crashes) == CRASH_FILES_PER_SESSION
    said = [r for r in caplog.records if "crash files were written this session" in r.message]
    assert len(said) == 1
    assert "crash files were written this session" in told[CRASH_FILES_PER_SESSION - 1]
    assert "The details are in the log." in told[-1]
    assert (
        f"error {CRASH_FILES_PER_SESSION + 14}" in caplog.text
    )  # later errors are in the log all the same


def _raise_at_one_place(handler: CrashHandler, error: BaseException) -> None:
    try:
        raise error
    except BaseException as caught:
        handler.handle(type(caught), caught, caught.__traceback__)


def test_setup_logging_when_the_log_file_cannot_be_written_says_so_once_without_a_traceback(
    tmp_path, monkeypatch, capfd
) -> None:
    from engine.core.logs import log_dir

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    directory = log_dir("fulldisk")
    directory.mkdir(parents=True)
    (directory / "dalaldesk.log").symlink_to("/dev/full")  # every write: No space left on device
    root = logging.getLogger()
    handlers = list(root.handlers)
    try:
        setup_logging("fulldisk", "INFO", console=False)
        for number in range(5):
            logging.getLogger("dalaldesk.test").warning("record %d", number)
        err = capfd.readouterr().err
        assert "Logging error" not in err and "Traceback" not in err
        assert err.count("cannot be written (No space left on device)") == 1
        assert "dalaldesk.log" in err
    finally:
        for handler in root.handlers[:]:
            if handler not in handlers:
                root.removeHandler(handler)
                handler.close()  # quiet too: the full disk is said once


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


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--seed", "-1"], "-1 is below 0"),
        (["--seed", "seven"], "'seven' is not a whole number"),
        (["--profile", "p" * 300], "300 characters long: at most 100"),
    ],
)
def test_command_line_when_a_value_cannot_be_used_says_so_in_words(
    argv: list[str], words: str
) -> None:
    with pytest.raises(StartupProblem, match=words):
        parse_args(argv)


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
