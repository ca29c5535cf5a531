"""Bar backtests on Kite's historical candles: the candles come through the broker port's
history capability (the official client over real HTTP to the fake Kite on 127.0.0.1), are kept
as a bar recording, and the EMA cross trades them with next-bar fills at each bar's open."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from engine.backtest.history_bars import record_history
from engine.backtest.run import BacktestRequest
from engine.brokers.kite.history import KiteHistory
from engine.brokers.kite.rest import KiteRest
from engine.core.clock import IST
from engine.domain.ids import InstrumentToken
from engine.domain.instruments import Exchange, Instrument, InstrumentType, Segment
from engine.domain.values import Paise
from engine.marketdata.recording import Recording
from engine.runtime.backtests import run_backtest
from tests.kite_desk import fast_rest
from tests.kite_fake import FakeKite

pytestmark = pytest.mark.timeout(60)

NIFTY_FUT = 12_683_010
NOW = datetime(2026, 11, 26, 18, 0, tzinfo=IST)
MONDAY = datetime(2026, 11, 23, tzinfo=IST)
FUTURE = Instrument(
    token=InstrumentToken(NIFTY_FUT),
    exchange=Exchange.NFO,
    segment=Segment.NFO_FUT,
    tradingsymbol="NIFTY26NOVFUT",
    name="NIFTY",
    instrument_type=InstrumentType.FUT,
    underlying="NIFTY",
    tick_size=Paise(10),
    lot_size=65,
    expiry=date(2026, 11, 26),
)


@pytest.fixture
async def rest() -> AsyncIterator[KiteRest]:
    async with FakeKite() as kite:
        kite.rest.history.now = lambda: NOW
        client = KiteRest(
            kite.api_key, access_token=kite.login(), config=fast_rest(kite, timeout_s=5.0)
        )
        yield client
        await client.close()


async def test_backtest_on_kite_history_trades_each_signal_at_the_next_bars_open(
    rest: KiteRest, tmp_path: Path
) -> None:
    kept = await record_history(
        KiteHistory(rest), [FUTURE], MONDAY, MONDAY + timedelta(days=4), tmp_path / "kite"
    )
    days = Recording(tmp_path / "kite").days()
    assert kept == 3 * 375 and [d.day.day for d in days] == [23, 25, 26]  # 24th: a holiday
    bars = {b.start_ns: b for d in days for b in d.bars()}
    result = await _in_thread(
        BacktestRequest(
            "kite-ema",
            str(tmp_path / "kite"),
            strategy="ema_cross",
            params={"token": NIFTY_FUT, "quantity": 65, "fast": 5, "slow": 20},
            mode="bars",
        ),
        tmp_path / "run",
    )
    assert result.fills >= 2, result
    for ts, token, _side, quantity, price in result.trades:
        assert token == NIFTY_FUT and quantity == 65
        assert price == bars[ts].open  # filled at the open of the bar after the signal
    assert result.charges > 0 and result.net_pnl == result.gross_pnl - result.charges


async def _in_thread(request: BacktestRequest, folder: Path):  # type: ignore[no-untyped-def]
    import asyncio

    return await asyncio.to_thread(run_backtest, request, folder)


async def test_backtest_service_records_kite_history_for_the_panel_and_says_why_not(
    tmp_path: Path,
) -> None:
    from engine.api.backtests import BacktestError, BacktestService

    async with FakeKite() as kite:
        kite.rest.history.now = lambda: NOW
        client = KiteRest(
            kite.api_key, access_token=kite.login(), config=fast_rest(kite, timeout_s=5.0)
        )
        service = BacktestService(
            runner=run_backtest,
            runs_dir=tmp_path / "runs",
            recordings_dir=tmp_path / "recordings",
            strategies=lambda: ["ema_cross"],
            history=KiteHistory(client),
            find_instrument=lambda s: FUTURE if s == FUTURE.tradingsymbol else None,
            now=lambda: NOW,
        )
        assert service.records_history
        info = await service.record_history("nifty26novfut", 4)
        assert info.path == tmp_path / "recordings" / "NIFTY26NOVFUT-20261122-20261126"
        assert [d.day for d in info.days] == [23, 25, 26]  # the 24th: a holiday
        assert [r.path for r in service.recordings()] == [info.path]

        with pytest.raises(BacktestError, match="is recorded already"):
            await service.record_history("NIFTY26NOVFUT", 4)
        with pytest.raises(BacktestError, match="the desk lists no instrument 'NIFTYX'"):
            await service.record_history("niftyx", 4)
        with pytest.raises(BacktestError, match="days must be from 1 to 365, not 0"):
            await service.record_history("NIFTY26NOVFUT", 0)
    # Kite gone: told in words, and nothing half-kept.
    with pytest.raises(BacktestError, match="NIFTY26NOVFUT's history: "):
        await service.record_history("NIFTY26NOVFUT", 3)
    await client.close()
    assert [r.path for r in service.recordings()] == [info.path]
    assert not BacktestService(
        runner=run_backtest,
        runs_dir=tmp_path / "runs",
        recordings_dir=tmp_path / "recordings",
        strategies=list,
    ).records_history
