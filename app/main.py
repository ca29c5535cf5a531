"""The `dalaldesk` command."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import logging
import math
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from app.startup import EXIT_STARTUP_PROBLEM, StartupProblem, describe_failure, tell
from engine.alerts.book import alerts_path
from engine.alerts.delivery import DeliverySettings
from engine.brokers.paper.config import PaperConfig
from engine.brokers.registry import (
    Connected,
    ConnectProblem,
    LoginPrompt,
    broker_names,
    broker_spec,
    feed_names,
)
from engine.core.logs import log_dir, setup_logging
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.runtime import EngineConfig
from engine.runtime.scheduler import schedule_folder
from engine.settings import Settings, SettingsStore, SignalPreferences, settings_file
from engine.signals.desk import SignalMode, SignalRules
from engine.store import check_path_name, default_database_path, sqlite_url
from engine.store.urls import (
    BookUrlRefused,
    book_file_of,
    check_book_url,
    profile_folder,
    redact_url,
)
from engine.strategies.loader import strategies_dir
from engine.strategies.multileg.desk import portfolios_dir

if TYPE_CHECKING:
    from engine.brokers.base import LoginSession
    from ui.panels.key_login import KeyLoginWindow
    from ui.panels.kite_login import KiteLoginWindow

log = logging.getLogger("dalaldesk.main")


def profile_name(text: str) -> str:
    """A profile names directories (layouts, logs, journals): no path in it."""
    try:
        return check_path_name("profile", text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def seed_value(text: str) -> int:
    """The simulated market's seed: a whole number, 0 or more."""
    try:
        seed = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if seed < 0:
        raise argparse.ArgumentTypeError(f"{seed} is below 0: a seed is 0 or more")
    return seed


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

EXIT_INTERRUPTED = 130
"""A headless run cut short by Ctrl+C before its session could end it the normal way (128 + 2)."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports a wrong argument as a ``StartupProblem`` (a dialog in the GUI)
    instead of exiting from inside the parser."""

    def error(self, message: str) -> NoReturn:
        raise StartupProblem(f"{message}. Run dalaldesk --help for the options.")


def _number(what: str, *, minimum: float, inclusive: bool) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be a number, not {text!r}") from None
        if not math.isfinite(value) or value < minimum or (not inclusive and value == minimum):
            bound = f"at least {minimum:g}" if inclusive else f"more than {minimum:g}"
            raise argparse.ArgumentTypeError(f"{what} must be {bound}, not {text}")
        return value

    return parse


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a port is a number, not {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 1-65535, not {port}")
    return port


def _log_level(text: str) -> str:
    level = text.strip().upper()
    if level not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(
            f"log level {text!r} is unknown; use one of {', '.join(LOG_LEVELS)}"
        )
    return level


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = _Parser(prog="dalaldesk", description="DalalDesk trading workstation")
    parser.add_argument(
        "--version", action="store_true", help="print the version and build, then exit"
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="check this installation: open the window offscreen on a throwaway paper book, "
        "every panel and a chart, fill a paper order, save a screenshot, exit 0 if all worked",
    )
    parser.add_argument(
        "--smoke-out",
        type=Path,
        default=Path("dalaldesk-smoke.png"),
        help="--smoke: where the screenshot goes (default: dalaldesk-smoke.png here)",
    )
    parser.add_argument(
        "--broker",
        default=None,
        choices=broker_names(),
        help="where orders go (default: Settings → Brokers, at first the built-in paper market)",
    )
    parser.add_argument(
        "--feed",
        default=None,
        choices=feed_names(),
        help="market data (default: Kite's for --broker kite; for paper, Settings → Brokers, at "
        "first the simulated market); '--broker paper --feed kite' paper-trades on Kite's prices",
    )
    parser.add_argument(
        "--also",
        action="append",
        default=[],
        choices=[name for name in broker_names() if broker_spec(name).live],
        metavar="BROKER",
        help="also trade this broker's account from the same desk (kite or xts; repeatable): "
        "its own book, risk limits and positions, and one kill switch over every account",
    )
    parser.add_argument("--db", default=None, help="SQLAlchemy URL of the journal database")
    parser.add_argument("--headless", action="store_true", help="run the engine without a window")
    parser.add_argument(
        "--duration",
        type=_number("value", minimum=0, inclusive=False),
        default=60.0,
        help="headless: seconds to run before printing the summary",
    )
    parser.add_argument("--demo", action="store_true", help="headless: run the demo strategy")
    hours = parser.add_mutually_exclusive_group()
    hours.add_argument(
        "--always-open",
        dest="nse_hours",
        action="store_false",
        help="the simulated market trades whenever the desk runs (the default, unless Settings "
        "→ Brokers says NSE hours)",
    )
    hours.add_argument(
        "--nse-hours",
        dest="nse_hours",
        action="store_true",
        help="the simulated market follows NSE's sessions and holidays: closed is closed",
    )
    parser.set_defaults(nse_hours=None)
    parser.add_argument(
        "--seed", type=seed_value, default=7, help="seed of the simulated market (0 or more)"
    )
    parser.add_argument(
        "--record",
        action="store_true",
        help="record the market data the desk receives (Parquet per day, in the profile's "
        "recordings folder) for replays and backtests",
    )
    parser.add_argument(
        "--latency-ms",
        type=_number("value", minimum=0, inclusive=True),
        default=None,
        help="paper venue latency (default: Settings → Brokers, at first 0)",
    )
    parser.add_argument(
        "--profile",
        default="default",
        type=profile_name,
        help="keeps layouts, logs, settings and journals apart (e.g. one per account)",
    )
    parser.add_argument(
        "--reset-layout", action="store_true", help="start with the default window layout"
    )
    parser.add_argument(
        "--log-level", default="INFO", type=_log_level, help=f"one of {', '.join(LOG_LEVELS)}"
    )
    parser.add_argument(
        "--api-port",
        type=_port,
        default=None,
        help="receive signals (TradingView webhooks) at http://127.0.0.1:PORT/webhook/tradingview "
        "(off by default; the passphrase from the keyring or DALALDESK_WEBHOOK_PASSPHRASE)",
    )
    parser.add_argument(
        "--signal-mode",
        default=None,
        choices=[m.value for m in SignalMode],
        help="what a signal does: wait for the trader's approval, go straight to the risk gate "
        "(auto), or nothing (off); default: Settings → Signals, at first approve",
    )
    parser.add_argument(
        "--metrics-port",
        type=_port,
        default=None,
        help="serve Prometheus metrics at http://127.0.0.1:PORT/metrics (off by default)",
    )
    return parser.parse_args(argv)


def with_settings(args: argparse.Namespace, settings: Settings) -> argparse.Namespace:
    """The command line with what it leaves unsaid taken from the profile's settings: the
    broker, the paper feed, the paper latency and the simulated market's hours."""
    chosen = argparse.Namespace(**vars(args))
    preferences = settings.brokers
    if chosen.broker is None:
        chosen.broker = preferences.start_broker
        if (
            chosen.feed is None
            and chosen.broker == "paper"
            and preferences.paper_feed != "simulated"
        ):
            chosen.feed = preferences.paper_feed
    if chosen.latency_ms is None:
        chosen.latency_ms = preferences.paper_latency_ms
    if chosen.nse_hours is None:
        chosen.nse_hours = preferences.nse_hours
    return chosen


def book_name(args: argparse.Namespace) -> str:
    """The book (journal) a run trades in: live Kite, paper on Kite's prices, or paper on the
    simulated market. Each is its own database."""
    broker = args.broker or "paper"
    if broker != "paper":
        return str(broker)
    feed = args.feed or "simulated"
    return "paper" if feed == "simulated" else f"paper-{feed}"


def book_schedule_folder(args: argparse.Namespace) -> Path:
    """Where the daily schedule of the book a run trades in keeps its record and reports. Each
    book has its own, so a job run for one (the paper book's square-off) is not skipped for
    another (the live book's). The simulated paper book keeps the profile's folder, where its
    record has always been; a book named with ``--db`` is known by its file (however the path is
    spelled) or, on a server, by its URL with the password left out."""
    folder = schedule_folder(args.profile)
    if args.db is not None:
        file = book_file_of(args.db)
        book = str(file.resolve()) if file is not None else redact_url(args.db)
        return folder / f"db-{hashlib.sha256(book.encode()).hexdigest()[:12]}"
    name = book_name(args)
    return folder if name == "paper" else folder / name


def engine_config(args: argparse.Namespace, settings: Settings | None = None) -> EngineConfig:
    settings = settings or Settings()
    args = with_settings(args, settings)
    spec = broker_spec(args.broker)
    if spec.own_feed_only and args.feed not in (None, args.broker):
        raise StartupProblem(
            f"the {spec.title} broker trades on {spec.title}'s own prices (--feed {args.broker})"
        )
    db_url = book_url(args)
    # A live feed has the exchange's own hours; the simulated market trades whenever the desk runs
    # unless the trader asks for NSE's timetable.
    always_open = not args.nse_hours and not spec.live and args.feed in (None, "simulated")
    return EngineConfig(
        broker=args.broker,
        feed=args.feed,
        db_url=db_url,
        market=SimulatedMarketConfig(seed=args.seed, always_open=always_open),
        paper=PaperConfig(
            latency_ms=args.latency_ms,
        ),
        always_open=always_open,
        var_interval_seconds=settings.risk.var_interval_seconds,
        var_paths=settings.risk.var_paths,
        strategies_dir=strategies_dir(args.profile),
        portfolios_dir=portfolios_dir(args.profile),
        alerts_file=alerts_path(args.profile),
        schedule_folder=book_schedule_folder(args),
        metrics_port=args.metrics_port,
        api_port=args.api_port if args.api_port is not None else settings.signals.api_port,
        api_host="0.0.0.0" if settings.signals.every_interface else "127.0.0.1",
        api_allowlist=allowed_addresses(settings.signals.allowed_addresses),
        signal_rules=signal_rules(settings.signals, args.signal_mode),
        signals_folder=profile_folder(args.profile, "signals"),
        profile=args.profile,
        recordings_dir=profile_folder(args.profile, "recordings") if args.record else None,
        address_check_url=settings.brokers.address_check_url,
        static_ips=tuple(
            ip for ip in (settings.brokers.static_ip, settings.brokers.backup_static_ip) if ip
        ),
    )


def account_configs(
    args: argparse.Namespace, settings: Settings | None = None
) -> list[EngineConfig]:
    """The desk's accounts: the main one (``engine_config``) and one per ``--also`` broker, each
    on its own broker's prices with its own book, risk limits and daily schedule. The trader's
    strategies, portfolios and alerts run on the main account."""
    main = engine_config(args, settings)
    extra = list(dict.fromkeys(args.also))
    if not extra:
        return [main]
    if main.broker in extra:
        raise StartupProblem(f"--also {main.broker}: that is already the desk's main account")
    if args.db is not None:
        raise StartupProblem(
            "--db names one book; with --also each account keeps its own book in the profile"
        )
    for broker in extra:
        spec = broker_spec(broker)
        if spec.one_feed_session and main.market_feed == broker:
            raise StartupProblem(
                f"--also {broker}: the main account already trades on {spec.title}'s prices, "
                f"and {spec.title} allows one market-data session per app key (a second would "
                f"log the first out); start the main account on another feed, or --broker "
                f"{broker} alone"
            )
    settings = settings or Settings()
    configs = [main]
    for broker in extra:
        configs.append(
            replace(
                main,
                broker=broker,
                feed=None,
                account=broker,
                db_url=str(sqlite_url(default_database_path(args.profile, broker))),
                always_open=False,
                strategies_dir=None,
                portfolios_dir=None,
                alerts_file=None,
                schedule_folder=schedule_folder(args.profile) / broker,
                # Each account records its own prices in its own folder: two recorders in one
                # would overwrite each other's parts and instrument lists.
                recordings_dir=None
                if main.recordings_dir is None
                else main.recordings_dir / broker,
                metrics_port=None,
                api_port=None,
                signals_folder=None,
            )
        )
    return configs


def signal_rules(preferences: SignalPreferences, mode: str | None = None) -> SignalRules:
    """What a signal does, from Settings → Signals (``mode``: --signal-mode, which wins)."""
    return SignalRules(
        default_mode=SignalMode(mode or preferences.mode),
        modes={} if mode is not None else strategy_modes(preferences.strategy_modes),
        max_age_s=preferences.max_age_seconds,
        approval_timeout_s=preferences.approval_seconds,
        lots_multiplier=preferences.lots_multiplier,
    )


def strategy_modes(text: str) -> dict[str, SignalMode]:
    """``ema-9-21=auto, rsi=off`` (as the settings check and keep it) as modes by strategy."""
    pairs = (pair.partition("=") for pair in text.split(",") if pair.strip())
    return {strategy.strip(): SignalMode(mode.strip()) for strategy, _, mode in pairs}


def delivery_settings(settings: Settings) -> DeliverySettings:
    """Settings → Notifications' Telegram and e-mail pages, as alert delivery takes them."""
    notifications = settings.notifications
    return DeliverySettings(telegram=notifications.telegram, email=notifications.email)


def allowed_addresses(text: str) -> tuple[str, ...]:
    return tuple(a.strip() for a in text.split(",") if a.strip())


def book_url(args: argparse.Namespace) -> str:
    """The book a run trades in: ``--db`` (checked) or the profile's file for its broker."""
    if args.db is not None:
        check_database_url(args.db)
        return str(args.db)
    return str(sqlite_url(default_database_path(args.profile, book_name(args))))


def check_database_url(text: str) -> None:
    """--db must be a SQLAlchemy URL; a bare path or a typo is explained, never echoed as a
    parser's traceback."""
    from sqlalchemy.exc import ArgumentError

    try:
        check_book_url(text)
    except (ArgumentError, ValueError):
        raise StartupProblem(
            "--db takes a database URL, such as sqlite:////home/me/books/paper.db (a file) or "
            "postgresql://desk@host/book (a shared book); what was given is not one"
        ) from None
    except BookUrlRefused as refused:  # in memory, or an unescaped @ in the password
        raise StartupProblem(f"The book was not opened: {refused}.") from None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["book"]:
        from app.book_command import main as book_main

        return book_main(argv[1:])
    if argv[:1] == ["backtest"]:
        # The backtest command line, inside the desk's own command: the installed desk (which
        # has no Python to run ``python -m`` with) records, imports, runs and sweeps this way.
        from engine.runtime.backtest_cli import main as backtest_main

        return backtest_main(argv[1:], prog="dalaldesk backtest")
    window = not {"--headless", "--smoke", "--version", "-h", "--help"} & set(argv)
    try:
        args = parse_args(argv)
    except StartupProblem as problem:
        tell(str(problem), dialog=window)
        return EXIT_STARTUP_PROBLEM
    if args.version:
        from resources.build_info import current_build

        print(f"DalalDesk {current_build().describe()}")
        return 0
    if args.smoke:
        from app.smoke import smoke

        return smoke(args.smoke_out)
    try:
        setup_logging(args.profile, args.log_level)
    except OSError as exc:
        # The desk can run without its log file; the trader is told where it could not write.
        print(
            f"dalaldesk: no log file ({exc.strerror or exc}: {exc.filename or log_dir(args.profile)})"
            "; messages go to this terminal only",
            file=sys.stderr,
        )
    try:
        return run(args)
    except KeyboardInterrupt:
        if not args.headless:
            raise
        # A headless session ends itself on Ctrl+C (engine.headless.StopRequests); one pressed
        # before it starts, or where its handlers could not be installed, lands here.
        print("dalaldesk: stopped by Ctrl+C", file=sys.stderr)
        return EXIT_INTERRUPTED
    except SystemExit:
        raise
    except BaseException as error:
        tell(describe_failure(error, log_dir(args.profile)), dialog=not args.headless)
        return EXIT_STARTUP_PROBLEM


def open_settings(profile: str) -> tuple[SettingsStore, str | None]:
    """The profile's settings; a file that cannot be used is kept aside and the second value
    says so in words (the desk starts on the defaults)."""
    store, problem = SettingsStore.open(settings_file(profile))
    if problem is not None:
        print(f"dalaldesk: {problem}", file=sys.stderr)
    return store, problem


def run(args: argparse.Namespace) -> int:
    settings, problem = open_settings(args.profile)
    configs = account_configs(args, settings.current)
    config = configs[0]
    if args.headless and (len(configs) > 1 or config.market_feed != "simulated"):
        return asyncio.run(live_headless(configs, args.profile, args.duration))
    if args.headless:
        from engine.alerts.delivery import DeliveryKeys
        from engine.credentials import CredentialStore
        from engine.headless import main as headless_main

        return headless_main(
            config,
            args.duration,
            demo=args.demo,
            deliveries=delivery_settings(settings.current),
            keys=DeliveryKeys(CredentialStore(args.profile)),
        )
    from app.gui import run_gui

    return run_gui(
        config,
        also=configs[1:],
        profile=args.profile,
        reset_layout=args.reset_layout,
        settings=settings,
        settings_problem=problem,
    )


# -- live brokers ----------------------------------------------------------------------------------


async def connect_live(config: EngineConfig, profile: str, login: LoginPrompt | None) -> Connected:
    """The live broker the desk trades on or through (its feed's), connected for ``profile``;
    ``ConnectProblem`` says in words what the trader must fix."""
    spec = broker_spec(config.market_feed)
    if spec.connect is None:
        raise ValueError(f"{spec.title} has nothing to connect to")
    return await spec.connect(profile, login)


def login_window(
    session: LoginSession, reason: str
) -> tuple[KiteLoginWindow | KeyLoginWindow, Any]:
    """The non-modal login window wired to a live broker's ``session`` (Kite's web login, or
    XTS's "log in again" with its stored keys); returns it and a future that resolves True when
    the login succeeds, False when the window is closed first (never ``exec()``: qasync cannot
    re-enter)."""
    from ui.panels.key_login import KeyLoginWindow
    from ui.panels.kite_login import KiteLoginWindow

    loop = asyncio.get_running_loop()
    done: asyncio.Future[bool] = loop.create_future()
    window: KiteLoginWindow | KeyLoginWindow
    if session.browser_login:
        window = KiteLoginWindow(session.login_url(), reason=reason)
    else:
        window = KeyLoginWindow(session.title, reason=reason)
    tasks: set[asyncio.Task[None]] = set()

    async def complete(redirect: str) -> None:
        try:
            await session.complete_login(redirect)
        except session.login_errors as exc:
            window.show_error(str(exc))
            return
        except Exception as exc:  # a fault of the desk's: said and logged, the window usable
            log.error("the %s login could not be completed", session.title, exc_info=exc)
            window.show_error(
                f"the login could not be completed ({type(exc).__name__}); the details are in "
                "the log: try again"
            )
            return
        if not done.done():
            done.set_result(True)
        window.login_succeeded()

    def submitted(redirect: str) -> None:
        task = loop.create_task(complete(redirect), name="broker-login")
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    window.redirect_captured.connect(submitted)
    window.closed.connect(lambda: None if done.done() else done.set_result(False))
    window.show()
    return window, done


async def gui_login(session: LoginSession, reason: str) -> None:
    """The start of the day's login; ``ConnectProblem`` when the trader closes its window
    first (the desk then offers the broker settings, or ends: never left waiting unseen)."""
    window, done = login_window(session, reason)
    try:
        if not await done:
            raise ConnectProblem(
                f"the {session.title} login window was closed before the login finished: the "
                f"desk needs a {session.title} session to start"
            )
    finally:
        window.close()


async def live_headless(configs: list[EngineConfig], profile: str, duration: float) -> int:
    """`dalaldesk --broker kite --headless` (with ``--also xts``, every account): on today's
    saved sessions, no window; a summary per account."""
    from engine.headless import StopRequests
    from engine.runtime import Engine
    from engine.runtime.accounts import Accounts

    engines: dict[str, Engine] = {}
    counts: dict[str, int] = {}
    built = False
    try:
        for config in configs:
            connected = None
            if config.market_feed != "simulated":
                try:
                    connected = await connect_live(config, profile, login=None)
                except ConnectProblem as exc:
                    print(f"dalaldesk: {exc}", file=sys.stderr)
                    return 2
            engines[config.broker] = Engine.build(
                config,
                link=None if connected is None else connected.link,
                instruments=() if connected is None else connected.instruments,
            )
            counts[config.broker] = 0 if connected is None else len(connected.instruments)
        built = True
    finally:
        if not built:  # an account that could not connect: the others let their books go
            for engine in engines.values():
                engine.close()
    accounts = Accounts(engines)
    with StopRequests() as stop:  # Ctrl+C and SIGTERM stop the accounts as --duration does
        accounts.start()
        try:
            await stop.wait(duration)
        finally:
            await accounts.stop()
    summaries = []
    for config in configs:
        engine = engines[config.broker]
        summaries.append(
            {
                "seconds": duration,
                "stopped_by": stop.stopped_by,
                "broker": config.broker,
                "feed": config.market_feed,
                "instruments": counts[config.broker],
                "ticks": engine.ticks_seen,
                "orders": len(engine.api.orders()),
                "fills": len(engine.api.trades()),
            }
        )
    print(json.dumps(summaries[0] if len(summaries) == 1 else {"accounts": summaries}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
