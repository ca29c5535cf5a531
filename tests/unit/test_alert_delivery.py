"""Alert delivery by Telegram and e-mail, against a Bot API fake and an SMTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest

from engine.alerts.delivery import (
    DeliveryKeys,
    DeliverySettings,
    EmailSettings,
    Notice,
    Pacing,
    TelegramSettings,
    attach_deliveries,
    send_test,
)
from engine.alerts.delivery.notices import notice_for
from engine.api import IST, EngineMessage
from engine.credentials import CredentialStore
from engine.domain.events import (
    AlertFired,
    BreakerTripped,
    OrderFilled,
    OrderStatusChanged,
    RiskStateChanged,
    TradingState,
)
from engine.domain.ids import InstrumentToken, OrderId, TradeId
from engine.domain.orders import OrderStatus, OrderType, Product, Side
from engine.runtime import Engine
from tests.memory_keyring import MemoryKeyring
from tests.smtp_fake import SmtpFake, tls_pair
from tests.telegram_fake import TelegramFake
from tests.unit.test_alerts import build, reliance, trade

TOKEN = "7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw9"
PASSWORD = "s3cret-app-pass"
CHAT = "123456789"
FAST = Pacing(attempts=3, backoff=0.01, rest=0.05, max_wait=2.0)


@pytest.fixture
def keys() -> DeliveryKeys:
    keys = DeliveryKeys(CredentialStore("delivery", backend=MemoryKeyring()))
    keys.save_bot_token(TOKEN)
    keys.save_smtp_password(PASSWORD)
    return keys


@pytest.fixture
async def telegram() -> AsyncIterator[TelegramFake]:
    async with TelegramFake(TOKEN, chats=(CHAT,)) as fake:
        yield fake


@pytest.fixture(scope="module")
def tls() -> tuple[object, object]:
    return tls_pair()


@pytest.fixture
def smtp(tls: tuple[object, object]) -> Iterator[SmtpFake]:
    fake = SmtpFake("starttls", users={"desk@example.com": PASSWORD}, server_tls=tls[0])  # type: ignore[arg-type]
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = build(tmp_path)
    yield engine
    engine.close()


def telegram_settings(fake: TelegramFake, **changes: object) -> TelegramSettings:
    values: dict[str, object] = {"enabled": True, "chat_id": CHAT, "api_url": fake.url}
    return TelegramSettings.model_validate(values | changes)


def email_settings(fake: SmtpFake, **changes: object) -> EmailSettings:
    values: dict[str, object] = {
        "enabled": True,
        "host": "127.0.0.1",
        "port": fake.port,
        "security": fake.security,
        "username": "desk@example.com",
        "sender": "desk@example.com",
        "recipients": ["trader@example.com"],
    }
    values.update(changes)
    return EmailSettings.model_validate(values)


def told(engine: Engine) -> list[EngineMessage]:
    seen: list[EngineMessage] = []
    engine.bus.subscribe(EngineMessage, seen.append)
    return seen


async def test_delivery_when_an_alert_crosses_sends_one_telegram_and_one_email(
    engine: Engine, keys: DeliveryKeys, telegram: TelegramFake, smtp: SmtpFake, tls: tuple
) -> None:
    settings = DeliverySettings(telegram=telegram_settings(telegram), email=email_settings(smtp))
    delivery = attach_deliveries(engine.api, settings, keys, tls_context=tls[1], pacing=FAST)
    token = reliance(engine)
    trade(engine, token, "1549.00")
    engine.api.add_alert("crosses_above", "1550", token=token, note="add on strength")

    trade(engine, token, "1549.95")
    trade(engine, token, "1550.00")  # the crossing tick
    trade(engine, token, "1551.00")
    await delivery.drain()

    expected = "NSE:RELIANCE crossed above ₹1,550.00 (₹1,550.00) — add on strength"
    assert [m.chat_id for m in telegram.messages] == [CHAT]
    assert telegram.messages[0].text.startswith(f"DalalDesk alert\n{expected}\n")
    assert telegram.messages[0].text.endswith(" IST")
    assert len(smtp.received) == 1
    mail = smtp.received[0]
    assert mail.recipients == ["trader@example.com"]
    assert mail.message["Subject"] == "DalalDesk alert"
    assert mail.text.startswith(expected)
    assert mail.login == "desk@example.com" and mail.tls  # logged in, over STARTTLS
    await delivery.close()


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
async def test_delivery_email_over_ssl_and_plain(
    engine: Engine, keys: DeliveryKeys, tls: tuple
) -> None:
    for fake in (
        SmtpFake("ssl", users={"desk@example.com": PASSWORD}, server_tls=tls[0]),
        SmtpFake("none"),
    ):
        fake.start()
        try:
            username = "" if fake.security == "none" else "desk@example.com"
            ok, text = await send_test(
                email_settings(fake, username=username), keys, tls_context=tls[1]
            )
            assert ok, text
            assert text == "Test message sent to trader@example.com through 127.0.0.1."
            assert fake.received[0].message["Subject"] == "DalalDesk test message"
            assert fake.received[0].tls is (fake.security == "ssl")
        finally:
            fake.stop()


async def test_delivery_when_the_bot_token_is_wrong_says_so_and_never_shows_the_token(
    engine: Engine,
    telegram: TelegramFake,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "7012345678:AAwrongwrongwrongwrongwrongwrong00"
    keys = DeliveryKeys(CredentialStore("wrong", backend=MemoryKeyring()))
    keys.save_bot_token(wrong)
    messages = told(engine)

    ok, text = await send_test(telegram_settings(telegram), keys)
    assert not ok
    assert text == (
        "Not sent: Telegram refused the bot token (Unauthorized): save the token @BotFather gave."
    )

    delivery = attach_deliveries(
        engine.api, DeliverySettings(telegram=telegram_settings(telegram)), keys, pacing=FAST
    )
    for n in range(3):
        engine.bus.publish(AlertFired(engine.clock.time_ns(), f"A{n}", f"alert {n}"))
    await delivery.drain()
    await delivery.close()

    assert len(telegram.requests) == 4  # one each, a refused token is not retried
    warnings = [m.text for m in messages if m.source == "delivery"]
    assert warnings == [
        "Telegram alerts not delivered: Telegram refused the bot token (Unauthorized): save the "
        "token @BotFather gave. Alerts still show in the desk."
    ]
    out = capsys.readouterr()
    shown = caplog.text + out.out + out.err + json.dumps([m.text for m in messages])
    assert "Unauthorized" in caplog.text
    assert wrong not in shown and wrong.split(":")[1] not in shown


async def test_delivery_when_telegram_says_429_waits_retry_after_then_delivers(
    engine: Engine, keys: DeliveryKeys, telegram: TelegramFake
) -> None:
    telegram.throttle(1, retry_after=1)
    delivery = attach_deliveries(
        engine.api, DeliverySettings(telegram=telegram_settings(telegram)), keys, pacing=FAST
    )
    messages = told(engine)
    engine.bus.publish(AlertFired(engine.clock.time_ns(), "A1", "NIFTY 50 crossed above 26,100"))
    await delivery.drain()
    await delivery.close()

    assert len(telegram.requests) == 2
    assert telegram.requests[1] - telegram.requests[0] >= 0.95  # waited as asked, not the backoff
    assert [m.text.split("\n")[1] for m in telegram.messages] == ["NIFTY 50 crossed above 26,100"]
    assert [m for m in messages if m.source == "delivery"] == []  # a retry is no failure


async def test_delivery_when_telegram_fails_with_5xx_retries_with_backoff(
    engine: Engine, keys: DeliveryKeys, telegram: TelegramFake
) -> None:
    telegram.fail(2)
    delivery = attach_deliveries(
        engine.api, DeliverySettings(telegram=telegram_settings(telegram)), keys, pacing=FAST
    )
    engine.bus.publish(AlertFired(engine.clock.time_ns(), "A1", "BANKNIFTY moved +1.00%"))
    await delivery.drain()
    await delivery.close()
    assert len(telegram.requests) == 3
    assert len(telegram.messages) == 1


async def test_delivery_when_the_server_is_down_tells_the_trader_and_never_blocks_the_loop(
    engine: Engine, keys: DeliveryKeys, caplog: pytest.LogCaptureFixture
) -> None:
    fake = TelegramFake(TOKEN, chats=(CHAT,))
    await fake.start()
    settings = DeliverySettings(telegram=telegram_settings(fake))
    await fake.close()  # nothing listens at its address now
    messages = told(engine)
    pacing = Pacing(attempts=2, backoff=0.01, rest=0.05, outbox=5)
    delivery = attach_deliveries(engine.api, settings, keys, pacing=pacing)

    started = time.perf_counter()
    for n in range(20):
        engine.bus.publish(AlertFired(engine.clock.time_ns(), f"A{n}", f"alert {n}"))
    assert time.perf_counter() - started < 0.05  # publishing never waits on the network

    lags: list[float] = []
    for _ in range(20):  # the loop keeps turning while the channel retries
        before = time.perf_counter()
        await asyncio.sleep(0.01)
        lags.append(time.perf_counter() - before - 0.01)
    assert max(lags) < 0.2

    (outbox,) = delivery.outboxes
    assert outbox.pending == 5 and outbox.dropped >= 15  # the newest kept, the oldest counted
    warnings = [m.text for m in messages if m.source == "delivery"]
    assert len(warnings) == 1
    assert warnings[0].startswith(
        f"Telegram alerts not delivered: Telegram could not be reached at {fake.url}"
    )
    assert warnings[0].endswith("Alerts still show in the desk; later ones will be tried again.")
    assert "Traceback" not in caplog.text and TOKEN not in caplog.text

    # back up on the same address: what was kept goes out, and the trader hears it is back
    async with TelegramFake(TOKEN, chats=(CHAT,)) as again:
        again.port = int(fake.url.rsplit(":", 1)[1])
        await again.close()
        await again.start()
        await delivery.drain()
        assert [m.text.split("\n")[1] for m in again.messages] == [
            f"alert {n}" for n in range(15, 20)
        ]
    await delivery.close()
    back = [m.text for m in messages if m.source == "delivery"][1:]
    assert len(back) == 1 and back[0].startswith("Telegram alerts are delivered again;")
    assert "older message(s) were dropped while it was down" in back[0]


async def test_send_test_texts_for_telegram(keys: DeliveryKeys, telegram: TelegramFake) -> None:
    ok, text = await send_test(telegram_settings(telegram), keys)
    assert (ok, text) == (True, f"Test message sent to Telegram chat {CHAT}.")
    assert telegram.messages[0].text.startswith("DalalDesk test message\n")

    ok, text = await send_test(telegram_settings(telegram, chat_id="987654321"), keys)
    assert not ok
    assert text.startswith(
        "Not sent: Telegram refused the message for chat 987654321: Bad Request: chat not found"
    )

    no_token = DeliveryKeys(CredentialStore("none", backend=MemoryKeyring()))
    ok, text = await send_test(telegram_settings(telegram), no_token)
    assert (ok, text) == (
        False,
        "Telegram alerts are on but no bot token is saved: save it in Settings.",
    )


async def test_send_test_texts_for_email(keys: DeliveryKeys, smtp: SmtpFake, tls: tuple) -> None:
    ok, text = await send_test(email_settings(smtp), keys, tls_context=tls[1])
    assert (ok, text) == (True, "Test message sent to trader@example.com through 127.0.0.1.")

    keys.save_smtp_password("not-the-password")
    ok, text = await send_test(email_settings(smtp), keys, tls_context=tls[1])
    assert not ok
    assert text.startswith(
        "Not sent: the mail server 127.0.0.1 refused the login for desk@example.com (535)"
    )
    assert "not-the-password" not in text

    ok, text = await send_test(email_settings(smtp), keys)  # the system does not trust the cert
    assert not ok and text.startswith("Not sent: the mail server 127.0.0.1:")


def test_delivery_settings_hold_no_secret_and_say_what_is_wrong(keys: DeliveryKeys) -> None:
    settings = DeliverySettings(
        telegram=TelegramSettings(enabled=True, chat_id=CHAT),
        email=EmailSettings(
            enabled=True,
            host="smtp.gmail.com",
            username="desk@example.com",
            sender="desk@example.com",
            recipients=["trader@example.com"],
        ),
    )
    dumped = settings.model_dump_json() + json.dumps(DeliverySettings.model_json_schema())
    assert TOKEN not in dumped and PASSWORD not in dumped
    assert TOKEN not in repr(keys) and PASSWORD not in repr(keys)
    assert keys.saved() == {"bot_token": True, "smtp_password": True}
    assert keys.forget_bot_token() and keys.saved()["bot_token"] is False
    assert DeliverySettings.model_validate_json(settings.model_dump_json()) == settings
    for model in (TelegramSettings, EmailSettings):
        for name, info in model.model_fields.items():
            assert info.title and info.description, name

    problems = {
        "enter the chat id the bot should write to, or turn Telegram off": lambda: TelegramSettings(
            enabled=True
        ),
        "'trader at example' does not look like an e-mail address": lambda: EmailSettings(
            recipients=["trader at example"]
        ),
        "Input should be less than or equal to 65535": lambda: EmailSettings(port=70000),
        "enter the SMTP server, the From address, or turn e-mail off": lambda: EmailSettings(
            enabled=True, recipients=["trader@example.com"]
        ),
        "a chat id is a number": lambda: TelegramSettings(chat_id="my chat"),
    }
    for words, make in problems.items():
        with pytest.raises(ValueError, match=words.replace("(", r"\(")):
            make()
    with pytest.raises(ValueError, match="a bot token looks like"):
        keys.save_bot_token("not a token")


def test_delivery_notices_for_rejections_stop_losses_and_risk() -> None:
    order = SimpleNamespace(
        instrument=SimpleNamespace(tradingsymbol="NIFTY26DEC26000CE"),
        side=Side.SELL,
        quantity=75,
        order_type=OrderType.SL,
        price=Decimal("118.00"),
        trigger_price=Decimal("120.00"),
    )
    ts = int(datetime(2026, 11, 30, 10, 3, 20, tzinfo=IST).timestamp()) * 1_000_000_000

    def of(order_id: object) -> object:
        return order

    rejected = OrderStatusChanged(OrderId("O1"), ts, OrderStatus.REJECTED, "Insufficient margin")
    assert notice_for(rejected, of) == (
        Notice.REJECTIONS,
        "DalalDesk: order rejected",
        "Rejected SELL 75 NIFTY26DEC26000CE SL at 118.00: Insufficient margin\n10:03:20 IST",
    )
    filled = OrderFilled(
        OrderId("O1"), ts, TradeId("T1"), InstrumentToken(1), Side.SELL, Product.MIS, 75, 11790
    )
    assert notice_for(filled, of) == (
        Notice.STOP_LOSS,
        "DalalDesk: stop-loss hit",
        "Stop-loss hit: SELL 75 NIFTY26DEC26000CE filled at 117.90 (trigger 120.00)\n10:03:20 IST",
    )
    tripped = BreakerTripped(
        ts, "daily_loss", "day loss ₹25,000 reached", TradingState.HALTED, True
    )
    assert notice_for(tripped, of) == (
        Notice.RISK,
        "DalalDesk: risk breaker tripped",
        "Breaker daily loss tripped: day loss ₹25,000 reached. Trading halted and squared off.\n"
        "10:03:20 IST",
    )
    killed = RiskStateChanged(ts, TradingState.HALTED, TradingState.ACTIVE, "pulled", "kill-switch")
    assert notice_for(killed, of) is not None
    by_breaker = RiskStateChanged(
        ts, TradingState.HALTED, TradingState.ACTIVE, "x", "breaker:daily_loss"
    )
    assert notice_for(by_breaker, of) is None  # the BreakerTripped said it
    limit = OrderFilled(
        OrderId("O2"), ts, TradeId("T2"), InstrumentToken(1), Side.BUY, Product.MIS, 75, 100
    )
    order.order_type = OrderType.LIMIT
    assert notice_for(limit, of) is None  # an ordinary fill is no news away from the desk


async def test_delivery_sends_only_the_chosen_events_and_one_message_per_stop_loss(
    engine: Engine, keys: DeliveryKeys, telegram: TelegramFake
) -> None:
    settings = DeliverySettings(telegram=telegram_settings(telegram, events=["stop_loss"]))
    delivery = attach_deliveries(engine.api, settings, keys, pacing=FAST)
    stop = SimpleNamespace(
        instrument=SimpleNamespace(tradingsymbol="RELIANCE"),
        order_type=OrderType.SL_M,
        trigger_price=Decimal("1500.00"),
    )
    delivery._api = SimpleNamespace(order=lambda order_id: stop)  # type: ignore[assignment]
    now = engine.clock.time_ns()
    engine.bus.publish(AlertFired(now, "A1", "not chosen"))
    for n in range(2):  # two partial fills of one stop-loss
        engine.bus.publish(
            OrderFilled(
                OrderId("O9"),
                now,
                TradeId(f"T{n}"),
                InstrumentToken(1),
                Side.SELL,
                Product.MIS,
                5,
                149990,
            )
        )
    await delivery.drain()
    await delivery.close()
    assert [m.text.split("\n")[0] for m in telegram.messages] == ["DalalDesk: stop-loss hit"]


async def test_delivery_with_nothing_enabled_attaches_nothing(
    engine: Engine, keys: DeliveryKeys
) -> None:
    delivery = attach_deliveries(engine.api, None, keys)
    assert delivery.outboxes == []
    await delivery.close()


async def test_delivery_in_headless_mode_sends_a_fired_alert(
    tmp_path: Path, keys: DeliveryKeys, telegram: TelegramFake
) -> None:
    from engine.headless import run_session
    from engine.marketdata.simulated import SimulatedMarketConfig
    from engine.runtime import EngineConfig

    probe = build(tmp_path / "probe")
    token = reliance(probe)
    probe.close()
    rule = {"alert_id": "A1", "condition": "moves_pct", "value": "0.01", "token": token}
    rule |= {"title": "RELIANCE", "reference": "1.00"}  # any first price is a move from ₹1
    (tmp_path / "alerts.json").write_text(json.dumps({"alerts": [rule]}))
    config = EngineConfig(
        db_url=f"sqlite:///{tmp_path / 'book.db'}",
        market=SimulatedMarketConfig(seed=2, strikes_each_side=2),
        always_open=True,
        alerts_file=tmp_path / "alerts.json",
        var_interval_seconds=0,
    )
    settings = DeliverySettings(telegram=telegram_settings(telegram))
    await run_session(config, 1.5, demo=False, deliveries=settings, keys=keys)

    assert len(telegram.messages) == 1
    assert telegram.messages[0].text.startswith("DalalDesk alert\nNSE:RELIANCE moved +")
