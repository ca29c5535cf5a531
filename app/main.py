"""The `dalaldesk` command."""

from __future__ import annotations

import argparse
import sys

from app.logging_setup import setup_logging
from engine.brokers.paper.config import PaperConfig
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.runtime import EngineConfig


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="dalaldesk", description="DalalDesk trading workstation")
    parser.add_argument(
        "--broker",
        default="paper",
        choices=["paper", "kite", "xts"],
        help="where orders go (default: the built-in paper market)",
    )
    parser.add_argument("--db", default=None, help="SQLAlchemy URL of the journal database")
    parser.add_argument("--headless", action="store_true", help="run the engine without a window")
    parser.add_argument(
        "--duration",
        type=float,
        default=60.0,
        help="headless: seconds to run before printing the summary",
    )
    parser.add_argument("--demo", action="store_true", help="headless: run the demo strategy")
    parser.add_argument(
        "--always-open",
        action="store_true",
        help="keep the simulated market open outside NSE hours",
    )
    parser.add_argument("--seed", type=int, default=7, help="seed of the simulated market")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="paper venue latency")
    parser.add_argument(
        "--profile",
        default="default",
        help="keeps layouts, logs and settings apart (e.g. one per account)",
    )
    parser.add_argument(
        "--reset-layout", action="store_true", help="start with the default window layout"
    )
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


def engine_config(args: argparse.Namespace) -> EngineConfig:
    if args.broker != "paper":
        raise SystemExit(f"dalaldesk: broker {args.broker!r} is not available in this build yet")
    return EngineConfig(
        db_url=args.db,
        market=SimulatedMarketConfig(seed=args.seed, always_open=args.always_open),
        paper=PaperConfig(latency_ms=args.latency_ms),
        always_open=args.always_open,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging(args.profile, args.log_level)
    config = engine_config(args)
    if args.headless:
        from engine.headless import main as headless_main

        return headless_main(config, args.duration, demo=args.demo)
    from app.gui import run_gui

    return run_gui(config)


if __name__ == "__main__":
    sys.exit(main())
