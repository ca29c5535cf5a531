"""The recorder: ticks kept as Parquet per day, written off the loop in batches; a desk killed
mid-session leaves every flushed part readable; replayed ticks are the recorded ones, depth and
all; bars and the instruments' contract facts come back too."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from engine.calendar import MarketCalendar
from engine.calendar.fail_closed import FailClosedCalendar
from engine.core.clock import TestClock
from engine.marketdata.recorder import Recorder
from engine.marketdata.recording import Recording, ticks_of
from engine.marketdata.simulated import SimulatedMarket, SimulatedMarketConfig
from tests.full_disk import small_tmpfs
from tests.multileg_support import MONDAY_0918

MARKET = SimulatedMarketConfig(seed=9, strikes_each_side=6, ticks_per_second=80.0)


def _market() -> tuple[SimulatedMarket, TestClock]:
    clock = TestClock(MONDAY_0918)
    return SimulatedMarket(MARKET, clock.now, FailClosedCalendar(MarketCalendar.load())), clock


def test_recorder_replays_the_ticks_it_recorded_with_instruments_and_bars(tmp_path) -> None:
    market, clock = _market()
    recorder = Recorder(tmp_path, market.instruments, batch_ticks=2_000)
    sent = list(market.snapshot())
    recorder.record(sent)
    for _ in range(4 * 100):
        clock.advance(0.25)
        ticks = market.step(0.25)
        sent += ticks
        for tick in ticks:
            recorder.on_tick(tick)
    recorder.close()
    [day] = Recording(tmp_path).days()
    assert day.day == MONDAY_0918.date()
    assert [p.name for p in day.files("ticks")] == ["ticks.parquet"]  # parts merged at close
    replayed = [t for table in day.tick_tables() for t in ticks_of(table)]
    assert replayed == sent and any(t.bids for t in replayed)
    assert recorder.recorded_ticks == len(sent) and recorder.dropped_ticks == 0
    listed = {i.token: i for i in day.instruments()}
    assert listed == {i.token: i for i in market.instruments()}
    options = [i for i in listed.values() if i.is_option]
    assert options and all(i.expiry and i.strike for i in options)
    bars = day.bars()
    spot = next(i.token for i in listed.values() if i.tradingsymbol == "NIFTY 50")
    spot_bars = sorted((b for b in bars if b.key == spot), key=lambda b: b.start_ns)
    assert [b.start.minute for b in spot_bars] == [18, 19]
    spot_ticks = [t for t in sent if t.token == spot and t.ltp > 0]
    assert spot_bars[-1].close == spot_ticks[-1].ltp
    assert spot_bars[0].high == max(t.ltp for t in spot_ticks if t.ts_ns < spot_bars[1].start_ns)


def test_recorder_when_the_desk_is_killed_keeps_every_flushed_part_readable(tmp_path) -> None:
    script = textwrap.dedent(
        f"""
        import os, signal, sys, time
        sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
        from tests.integration.test_recorder import _market
        from engine.marketdata.recorder import Recorder
        market, clock = _market()
        recorder = Recorder({str(tmp_path)!r}, market.instruments, batch_ticks=200)
        while recorder.recorded_ticks < 1_200:
            clock.advance(0.25)
            for tick in market.step(0.25):
                recorder.on_tick(tick)
            time.sleep(0.001)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], timeout=60, check=False)
    assert done.returncode == -signal.SIGKILL
    [day] = Recording(tmp_path).days()
    parts = day.files("ticks")
    assert len(parts) >= 6 and all(p.name.startswith("ticks-") for p in parts)
    assert not list(day.folder.glob("*.tmp")) or all(
        p.suffix == ".tmp" for p in day.folder.glob("*.tmp")
    )
    count = sum(table.num_rows for table in day.tick_tables())
    assert count >= 1_200 and count % 200 == 0
    stamps = [t.ts_ns for table in day.tick_tables() for t in ticks_of(table)]
    assert stamps == sorted(stamps)


def test_recorder_flushes_a_quiet_market_on_its_timer(tmp_path) -> None:
    market, _clock = _market()

    async def run() -> int:
        recorder = Recorder(tmp_path, market.instruments, flush_seconds=0.05)
        recorder.start_timer()
        recorder.record(market.snapshot())
        for _ in range(100):
            await asyncio.sleep(0.01)
            if recorder.recorded_ticks:
                break
        written = recorder.recorded_ticks
        recorder.close()
        return written

    assert asyncio.run(run()) == len(market.snapshot())
    assert Recording(tmp_path).days()[0].tick_count() == len(market.snapshot())


def test_recorder_when_the_disk_falls_behind_drops_whole_batches_and_says_so(tmp_path) -> None:
    market, _clock = _market()
    ticks = market.snapshot()[:50]
    said: list[str] = []
    writing = threading.Event()
    release = threading.Event()

    class SlowDisk(Recorder):
        def _write(self, batch):  # type: ignore[no-untyped-def]
            writing.set()
            release.wait(10)
            super()._write(batch)

    recorder = SlowDisk(
        tmp_path, market.instruments, batch_ticks=10, max_batches_waiting=1, warn=said.append
    )
    recorder.record(ticks[:10])  # the writer takes it and stalls
    assert writing.wait(5)
    recorder.record(ticks[10:])  # one batch waits, three do not fit
    assert recorder.dropped_ticks == 30 and len(said) == 3
    assert "fell behind" in said[0] and "10 ticks not recorded" in said[0]
    release.set()
    recorder.close()
    assert recorder.recorded_ticks == 20
    assert Recording(tmp_path).days()[0].tick_count() == 20


def test_recorder_on_a_full_disk_says_so_and_again_when_it_writes(tmp_path: Path) -> None:
    market, _clock = _market()
    ticks = market.snapshot()[:30]
    said: list[str] = []
    with small_tmpfs(tmp_path / "disk") as disk:
        if not disk.tmpfs:
            pytest.skip("needs a tmpfs to fill (mounting is not permitted here)")
        recorder = Recorder(disk.directory / "rec", market.instruments, warn=said.append)
        recorder.record(ticks[:10])
        recorder.flush()
        _written(recorder, 10)
        disk.fill()
        recorder.record(ticks[10:20])
        recorder.flush()
        _said(said, 1)
        assert "No space left on device" in said[0] and recorder.problem == said[0]
        disk.free()
        recorder.record(ticks[20:])
        recorder.flush()
        _written(recorder, 20)
        _said(said, 2)
        assert said[1].endswith("works again; 10 ticks were not recorded meanwhile")
        assert recorder.problem is None and recorder.dropped_ticks == 10
        recorder.close()
        assert Recording(disk.directory / "rec").days()[0].tick_count() == 20


def _written(recorder: Recorder, ticks: int) -> None:
    deadline = time.monotonic() + 10
    while recorder.recorded_ticks < ticks and time.monotonic() < deadline:
        time.sleep(0.01)
    assert recorder.recorded_ticks == ticks


def _said(said: list[str], count: int) -> None:
    deadline = time.monotonic() + 10
    while len(said) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(said) == count, said
