"""Recording and backtesting from the command line: ``dalaldesk backtest ...`` (the installed
desk and a pip install alike), or ``python -m engine.runtime.backtest_cli ...`` from a pip install::

    python -m engine.runtime.backtest_cli record --minutes 60 --out rec/
    python -m engine.runtime.backtest_cli import-candles --csv niftybees.csv --symbol NIFTYBEES
    python -m engine.runtime.backtest_cli import-ticks --csv trades.csv --symbol NIFTYBEES
    python -m engine.runtime.backtest_cli run --recording rec/ --strategy ema_cross \\
        --param token=256265 --param fast=10 --bars
    python -m engine.runtime.backtest_cli run --recording rec/ --portfolio straddle.json
    python -m engine.runtime.backtest_cli run --recording rec/ --algo twap.json --bars
    python -m engine.runtime.backtest_cli run --recording rec/ --alerts alerts.jsonl --bars
    python -m engine.runtime.backtest_cli sweep --recording rec/ --strategy ema_cross \\
        --param token=256265 --grid fast=5,10,15 --grid slow=20,30 [--dask tcp://host:8786]

Runs are kept under ``--runs`` (default: the profile's backtests folder), each in a folder of
its name with its own book. A run applies the risk limits last set in the profile's paper book
(``--limits`` names another book, a JSON file of limits, or ``defaults``). Progress goes to
stderr; the last line on stdout is JSON. Exit code 0 when everything ran, 1 when part of the
work could not be done (a sweep's set, its row says why and the rest ran; a strategy that failed
partway, so its run's result is of the replay up to then; ticks a recording could not write), 2
on an error before any run.

``--strategy`` names a strategy built in or one of the trader's own, in the profile's strategies
folder (the desk's Strategies panel writes them there).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import logging
import sys
import threading
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

from engine.backtest.csv_import import ImportReport
from engine.backtest.history_bars import csv_instrument, record_csv_candles, record_csv_ticks
from engine.backtest.results import BacktestResult
from engine.backtest.run import (
    BARS,
    TICKS,
    BacktestError,
    BacktestRequest,
    Progress,
    named,
    param_value,
    read_portfolio_file,
    read_settings_file,
    strategy_params,
)
from engine.backtest.sweep import (
    grid,
    result_row,
    results_table,
    sweep_dask,
    sweep_processes,
    sweep_requests,
)
from engine.core.clock import IST
from engine.core.logs import setup_logging
from engine.domain.instruments import Exchange, Instrument
from engine.domain.values import to_paise
from engine.marketdata.recording import Recording
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.oms import journal_unit
from engine.runtime.backtests import (
    DEFAULT_LIMITS,
    backtests_dir,
    record_simulated_session,
    recordings_dir,
    run_backtest,
    run_limits,
    simulated_config,
)
from engine.store.urls import DEFAULT_PROFILE, PAPER_BOOK
from engine.strategies.loader import strategies_dir

log = logging.getLogger("engine.runtime.backtest_cli")  # its name under python -m too


PROG = "python -m engine.runtime.backtest_cli"


def main(argv: list[str] | None = None, *, prog: str = PROG) -> int:
    """The command line; ``prog`` is the command its help and errors name (``dalaldesk
    backtest`` when the desk's own command runs it)."""
    args = _parser(prog).parse_args(argv)
    log_file = _log_to_file(getattr(args, "profile", DEFAULT_PROFILE))
    try:
        return int(args.command(args))
    except (BacktestError, ValueError, OSError) as problem:
        # In the file alone (the terminal shows warnings up): where the command stopped.
        log.info("the command stopped: %s", problem, exc_info=True)
        print(f"error: {problem}", file=sys.stderr)
        if log_file is not None:
            print(f"(the details are in {log_file})", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        log.info("the command was interrupted", exc_info=True)
        print(
            "\nstopped (Ctrl+C): an import keeps nothing; a run keeps its book as it stood, "
            "and its name stays taken until its folder is removed",
            file=sys.stderr,
        )
        return 130


def _log_to_file(profile: str) -> Path | None:
    """Warnings as one line each on the terminal, tracebacks in the profile's backtest log; left
    alone when the caller (a test, an embedding program) already set logging up."""
    if logging.getLogger().handlers:
        return None
    try:
        return setup_logging(
            profile,
            console=True,
            brief_console=True,
            console_filter=_BookRefusalSaidOnce(),
            file_name="backtest.log",
        )
    except OSError as exc:  # a log folder it cannot write: the run itself still can
        print(f"warning: no log file ({exc}): tracebacks print here", file=sys.stderr)
        return None


class _BookRefusalSaidOnce(logging.Filter):
    """A run whose book refuses a write stops, and its error says when and why in one line. The
    desk's own warnings from then on (order entry paused until the disk frees, marks not
    journaled) are that refusal's consequences, worded for a live desk that waits for the disk:
    the terminal leaves them to the log file."""

    def __init__(self) -> None:
        super().__init__()
        self._refused = False

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == journal_unit.log.name:
            self._refused = True
        return not (self._refused and record.name.startswith("engine.") and record.name != log.name)


def _record(args: argparse.Namespace) -> int:
    start = datetime.fromisoformat(args.start).replace(tzinfo=IST)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    book = out / "recording-session.db"
    config = simulated_config(book, market=SimulatedMarketConfig(seed=args.seed), always_open=True)
    before = Recording(out).size_bytes()  # a folder recorded into before: this session's share
    engine = asyncio.run(record_simulated_session(config, start, args.minutes * 60, out))
    recorder = engine.recorder
    recording = Recording(out)
    total = sum(day.tick_count() for day in recording.days())
    ticks = total if recorder is None else recorder.recorded_ticks
    size = recording.size_bytes()
    added = max(size - before, 0)
    held = f" (the recording now holds {total:,})" if total != ticks else ""
    print(f"recorded {ticks:,} ticks in {added / 1e6:.1f} MB under {out}{held}", file=sys.stderr)
    hours = args.minutes / 60
    print(
        json.dumps(
            {
                "ticks": ticks,
                "total_ticks": total,
                "mb": round(size / 1e6, 2),
                "mb_per_hour": round(added / 1e6 / hours, 2),
            }
        )
    )
    if recorder is not None and recorder.dropped_ticks:
        print(
            f"error: {recorder.dropped_ticks:,} ticks could not be recorded, so the recording "
            f"under {out} is incomplete: {recorder.problem}",
            file=sys.stderr,
        )
        return 1
    return 0


def _import_candles(args: argparse.Namespace) -> int:
    return _import(args, record_csv_candles)


def _import_ticks(args: argparse.Namespace) -> int:
    return _import(args, record_csv_ticks)


def _import(args: argparse.Namespace, record: Callable[..., tuple[ImportReport, int]]) -> int:
    instrument = _csv_instrument(args)
    out = _import_folder(args, instrument)
    line = _ProgressLine()
    name = Path(args.csv).name
    try:
        report, days = record(
            args.csv,
            instrument,
            out,
            progress=lambda rows: line.show(f"importing {name}: {rows:,} rows read", 0.0),
        )
    finally:
        line.end()
    return _imported(report, days, instrument, out)


def _csv_instrument(args: argparse.Namespace) -> Instrument:
    """The share or ETF a CSV file's candles or trades are of, from the command's options."""
    if not args.symbol.strip():
        raise ValueError("--symbol names the instrument the file is of")
    if args.lot <= 0:
        raise ValueError(f"--lot must be a positive number of shares, not {args.lot}")
    try:
        tick = to_paise(args.tick)
    except ValueError as refused:
        raise ValueError(f"--tick {args.tick}: {refused}") from None
    if tick <= 0:
        raise ValueError(f"--tick must be a positive price, not {args.tick}")
    # A bar strategy with token=0 trades the recording's one instrument.
    exchange = Exchange(args.exchange)
    return csv_instrument(args.symbol, exchange, token=args.token, lot=args.lot, tick=tick)


def _import_folder(args: argparse.Namespace, instrument: Instrument) -> Path:
    return Path(args.out) if args.out else recordings_dir(args.profile) / instrument.tradingsymbol


def _imported(report: ImportReport, days: int, instrument: Instrument, out: Path) -> int:
    """Say what an import kept and which rows it skipped, and why."""
    symbol, token = instrument.tradingsymbol, int(instrument.token)
    print(f"{report.summary()}; {symbol} is token {token} in {out}", file=sys.stderr)
    for problem in report.problems[:_PROBLEMS_SHOWN]:
        print(f"  {problem}", file=sys.stderr)
    if report.skipped > _PROBLEMS_SHOWN:
        print(f"  ... and {report.skipped - _PROBLEMS_SHOWN} more", file=sys.stderr)
    if report.ignored_columns:
        print(f"columns not used: {', '.join(report.ignored_columns)}", file=sys.stderr)
    summary = {
        "imported": report.imported,
        "skipped": report.skipped,
        "days": days,
        "token": token,
        "recording": str(out),
    }
    print(json.dumps(summary))
    return 0


_PROBLEMS_SHOWN = 20


def _request(args: argparse.Namespace, name: str) -> BacktestRequest:
    source = args.limits or PAPER_BOOK
    limits = run_limits(source, args.profile, args.account, named=args.limits is not None)
    print(f"risk limits: {limits.said}", file=sys.stderr)
    return BacktestRequest(
        name,
        args.recording,
        strategy=args.strategy or "",
        params=strategy_params(args.param),
        portfolio=read_portfolio_file(args.portfolio) if args.portfolio else None,
        algo=read_settings_file(args.algo, "algo") if args.algo else None,
        signals=args.alerts or None,
        start=_day(args.from_, "--from"),
        end=_day(args.to, "--to"),
        mode=BARS if args.bars else TICKS,
        risk=limits.risk,
        strategies_dir=str(strategies_dir(args.profile)),
    )


def _run(args: argparse.Namespace) -> int:
    request = _request(args, args.name or f"run-{datetime.now(IST):%Y%m%d-%H%M%S}")
    cancel = threading.Event()

    line = _ProgressLine()

    def progress(step: Progress) -> None:
        if step.days_read is not None:
            read, days = step.days_read
            line.show(f"reading the recording: {read} of {days} days", 0.0)
            return
        eta = "" if step.eta_s is None else f", about {step.eta_s:.0f} s left"
        line.show(f"{step.done:6.1%} at {step.market_time:%Y-%m-%d %H:%M}{eta}", step.done)

    try:
        result = run_backtest(request, _runs(args) / request.name, progress=progress, cancel=cancel)
    except KeyboardInterrupt:
        cancel.set()
        raise
    line.end()
    if result.denied:
        print(
            f"{result.denied} order(s) refused by the risk gate; the first: {result.first_denial}",
            file=sys.stderr,
        )
    failed = _say_strategy_failures(result)
    print(json.dumps(result_row(result)))
    return 1 if failed else 0


_FAILURES_SHOWN = 5


def _say_strategy_failures(result: BacktestResult) -> bool:
    """Say on stderr, one line each (the first few, then a count), how the run's strategy
    failed partway; True when it did."""
    failures = result.strategy_failures
    if not failures:
        return False
    print(
        f"{result.name}: the strategy failed and stopped trading partway, so the result is "
        f"not of its whole run:",
        file=sys.stderr,
    )
    for failure in failures[:_FAILURES_SHOWN]:
        print(f"  {failure}", file=sys.stderr)
    if len(failures) > _FAILURES_SHOWN:
        print(f"  ... and {len(failures) - _FAILURES_SHOWN} more", file=sys.stderr)
    return True


def _sweep(args: argparse.Namespace) -> int:
    if args.dask and importlib.util.find_spec("distributed") is None:
        raise BacktestError(_NO_DASK_INSTALLED if getattr(sys, "frozen", False) else _NO_DASK)
    values: dict[str, list[Any]] = {}
    for text in args.grid:
        name, listed = named(text, "a grid is name=value,value,...")
        if name in values:
            raise ValueError(f"the grid names {name} twice: give its values in one --grid")
        values[name] = [param_value(v) for v in listed.split(",") if v.strip()]
        if not values[name]:
            raise ValueError(f"the grid gives {name} no value: {text!r}")
    base = _request(args, args.name or f"sweep-{datetime.now(IST):%Y%m%d-%H%M%S}")
    requests = sweep_requests(base, grid(**values))

    line = _ProgressLine()

    def progress(done: int, total: int) -> None:
        line.show(f"{done}/{total} runs", done / total)

    folder = _runs(args)
    if args.dask:
        results = sweep_dask(requests, folder, run_backtest, args.dask, progress=progress)
    else:
        results = sweep_processes(
            requests, folder, run_backtest, workers=args.workers, progress=progress
        )
    line.end()
    table = results_table(results)
    for row in table:
        print(json.dumps(row), file=sys.stderr)
    failed = [row for row in table if "error" in row]
    if failed:
        print(f"{len(failed)} of {len(requests)} runs could not run", file=sys.stderr)
    partial = [row for row in table if row.get("failed")]
    if partial:
        print(
            f"{len(partial)} of {len(requests)} runs had their strategy fail partway (their "
            f"figures are not of a whole run): " + ", ".join(row["name"] for row in partial),
            file=sys.stderr,
        )
    not_run = len(requests) - len(table)
    if not_run:
        print(f"{not_run} of {len(requests)} runs did not run", file=sys.stderr)
    print(json.dumps(table))
    return 1 if failed or partial or not_run else 0


class _ProgressLine:
    """Progress on stderr: rewritten in place on a terminal; sent to a file or a pipe, a line
    for each tenth of the way, so a log of the run reads line by line."""

    def __init__(self) -> None:
        self._terminal = sys.stderr.isatty()
        self._tenths = -1
        self._width = 0
        """The longest line shown (0: none yet)."""

    def show(self, text: str, fraction: float) -> None:
        if self._terminal:
            # Padded over a longer line before it (the reading's, then the replay's).
            self._width = max(self._width, len(text))
            print(f"\r{text:<{self._width}}", end="", file=sys.stderr, flush=True)
            return
        tenths = int(fraction * 10)
        if tenths > self._tenths:
            self._tenths = tenths
            print(text, file=sys.stderr)

    def end(self) -> None:
        if self._terminal and self._width:
            print(file=sys.stderr)


def _runs(args: argparse.Namespace) -> Path:
    return Path(args.runs) if args.runs else backtests_dir(args.profile)


def _day(text: str | None, option: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{option} is a day as YYYY-MM-DD, not {text!r}") from None


_NO_DASK = (
    'Dask is not installed, and a sweep on a cluster needs it: pip install "dalaldesk[cluster]", '
    "or leave out --dask to run the sweep on this computer (--workers N at a time)"
)
_NO_DASK_INSTALLED = (
    "this installed desk does not include Dask, which a sweep on a cluster needs: leave out "
    "--dask to run the sweep on this computer (--workers N at a time), or run it from a pip "
    'install of DalalDesk with Dask (pip install "dalaldesk[cluster]")'
)


def _parser(prog: str = PROG) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog)
    commands = parser.add_subparsers(required=True)
    record = commands.add_parser("record", help="record the simulated market, fast")
    record.add_argument("--out", required=True, help="the recording's folder")
    record.add_argument("--minutes", type=float, default=60.0)
    record.add_argument("--start", default="2026-11-23T09:15:00", help="IST start (ISO)")
    record.add_argument("--seed", type=int, default=7)
    record.set_defaults(command=_record)
    imports = (
        (
            "import-candles",
            "keep a CSV file of candles (timestamp,open,high,low,close,volume) as a recording",
            _import_candles,
        ),
        (
            "import-ticks",
            "keep a CSV file of trades (timestamp,symbol or token,ltp,qty[,bid,ask]) as a tick "
            "recording, each trade quoted for its quantity at its bid and ask (or its price)",
            _import_ticks,
        ),
    )
    for name, summary, function in imports:
        sub = commands.add_parser(name, help=summary)
        sub.add_argument("--csv", required=True, help="the file (times without a zone are IST)")
        sub.add_argument(
            "--out",
            help="the recording's folder, new days only (default: the profile's recordings "
            "folder, a folder named for the symbol, which the Backtest panel lists)",
        )
        sub.add_argument("--profile", default=DEFAULT_PROFILE)
        sub.add_argument("--symbol", required=True, help="the share or ETF the file is of")
        sub.add_argument("--exchange", choices=["NSE", "BSE"], default="NSE")
        sub.add_argument(
            "--token", type=int, default=0, help="its instrument token (a token column's)"
        )
        sub.add_argument("--lot", type=int, default=1, help="shares a lot (1 for cash)")
        sub.add_argument("--tick", default="0.05", help="tick size, rupees (0.05)")
        sub.set_defaults(command=function)
    for name, function in (("run", _run), ("sweep", _sweep)):
        sub = commands.add_parser(name, help=f"{name} a backtest on a recording")
        sub.add_argument("--recording", required=True)
        sub.add_argument("--strategy", help="a strategy of the catalogue (ema_cross, yours)")
        sub.add_argument("--portfolio", help="a multileg portfolio's JSON file")
        sub.add_argument("--algo", help="an execution algo's settings, a JSON file")
        sub.add_argument("--alerts", help="a file of TradingView alerts to replay")
        sub.add_argument("--param", action="append", default=[], help="name=value")
        sub.add_argument("--bars", action="store_true", help="replay 1-minute bars, not ticks")
        sub.add_argument("--from", dest="from_", help="first day (YYYY-MM-DD)")
        sub.add_argument("--to", help="last day (YYYY-MM-DD)")
        sub.add_argument("--name", help="the run's name (its folder)")
        sub.add_argument("--runs", help="where runs are kept (default: the profile's)")
        sub.add_argument("--profile", default=DEFAULT_PROFILE)
        sub.add_argument(
            "--limits",
            help=f"the risk limits the run applies: a book of the profile ({PAPER_BOOK}, kite, "
            f"paper-kite: the limits last set in it; {PAPER_BOOK} unless told), a book's "
            f"file (.db) or database URL, a JSON file of risk settings, or {DEFAULT_LIMITS} "
            f"(a new book's)",
        )
        sub.add_argument(
            "--account",
            default="paper",
            help="the account whose own limits apply (paper: the desk's main account; one "
            "traded beside it is named for its broker)",
        )
        sub.set_defaults(command=function)
    sweep = commands.choices["sweep"]
    sweep.add_argument("--grid", action="append", default=[], help="name=v1,v2,...")
    sweep.add_argument("--workers", type=int, default=2)
    sweep.add_argument("--dask", help="a Dask scheduler's address (tcp://host:8786)")
    return parser


if __name__ == "__main__":
    raise SystemExit(main())
