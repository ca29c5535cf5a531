"""XTS market-data events: our parse + map to engine ticks against a plain ``json.loads`` + dict
mapping baseline, same events, same run.

The events are what a Partial-broadcast XTS socket sends for a NIFTY option chain (2,000
instruments; the fake XTS's own encoder): for every instrument one 1502 full event and one 1501
full event, then rounds of deltas; in all about 10 % 1502 full, 10 % 1501 full (half of those with
the flat touchline), 50 % 1502 partial and 30 % 1501 partial, partials as flat ``"t:2_40001,..."``
strings. Timed, per event:

- reference: ``json.loads`` (or a split of the flat string) and a dict of the fields a desk needs,
  floats as they come: no merge, no validation, no paise, no timestamps;
- value: ``engine.brokers.xts.quotes.QuoteParser.parse``: the same fields as an engine ``Tick`` in
  exact paise, partial deltas merged into the instrument's snapshot, timestamps converted;
- also shown: the vendor SDK's handling (``xts-api-client`` 0.1.26 ``json.loads``-es a full event
  and hands partial ones on untouched: nothing to compare for them), on the full events only.

Before timing, every tick's price is checked against the baseline's.
Usage: python tests/bench/bench_xts_feed.py [--quick]. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from engine.brokers.xts.quotes import QuoteParser
from engine.domain.ticks import Tick
from tests.xts_fake.marketdata import FakeXtsMarketData, Market

INSTRUMENTS = 2000
FIRST_ID = 40001
NOW_S = 1_796_000_000.0

Event = tuple[str, Any]


def make_events(rounds: int, seed: int = 11) -> list[Event]:
    rng = random.Random(seed)
    fake = FakeXtsMarketData()
    fake.now_s = lambda: NOW_S
    keys = [(2, FIRST_ID + n) for n in range(INSTRUMENTS)]
    for key in keys:
        price = rng.randrange(100, 40_000) * 5 / 100
        fake.market[key] = Market(
            price, price + 1.5, rng.randrange(0, 10**6), oi=rng.randrange(10**6)
        )
    events: list[Event] = []
    for n, key in enumerate(keys):
        fake.flat_touchline = n % 2 == 1
        events.append(("1502-json-full", json.dumps(fake.full_event(key, 1502))))
        events.append(("1501-json-full", json.dumps(fake.full_event(key, 1501))))
    for _ in range(rounds):
        for key in keys:
            state = fake.market[key]
            state.ltp = max(0.05, round(state.ltp + rng.randrange(-10, 11) * 0.05, 2))
            state.volume += rng.randrange(65, 6500, 65)
            code = 1502 if rng.random() < 0.625 else 1501
            events.append((f"{code}-json-partial", fake.partial_event(key, code)))
    return events


def baseline(name: str, payload: Any) -> dict[str, Any]:
    """What a straightforward handler does: decode, pick the fields, keep the floats."""
    if name.endswith("-full"):
        data = json.loads(payload)
        line = data.get("Touchline", data)
        out = {
            "id": (data["ExchangeSegment"], data["ExchangeInstrumentID"]),
            "ltp": line["LastTradedPrice"],
            "volume": line["TotalTradedQuantity"],
            "bid": line["BidInfo"]["Price"],
            "ask": line["AskInfo"]["Price"],
            "time": data["ExchangeTimeStamp"],
        }
        if "Bids" in data:
            out["bids"] = [(b["Price"], b["Size"], b["TotalOrders"]) for b in data["Bids"]]
            out["asks"] = [(a["Price"], a["Size"], a["TotalOrders"]) for a in data["Asks"]]
        return out
    fields = dict(part.split(":", 1) for part in payload.split(","))
    out = {"id": fields["t"], "ltp": float(fields["ltp"]), "volume": int(fields["v"])}
    for side in ("bi", "ai"):
        cells = fields[side].split("|")
        out[side] = [
            (float(cells[k + 2]), int(cells[k + 1]), int(cells[k + 3]))
            for k in range(0, len(cells), 4)
        ]
    return out


def vendor_sdk(name: str, payload: Any) -> Any:
    """``xts_api_client.market_data_socket.MDSocket_io.on_event_*_full``: ``json.loads(data)``."""
    return json.loads(payload)


def check_same_prices(events: list[Event]) -> int:
    parser = QuoteParser(lambda: NOW_S)
    checked = 0
    for name, payload in events:
        tick = parser.parse(name, payload)
        expected = baseline(name, payload)
        if not isinstance(tick, Tick) or tick.ltp != round(float(expected["ltp"]) * 100):
            raise SystemExit(f"{name}: our tick {tick} disagrees with {expected}")
        checked += 1
    return checked


def best_rates(
    runs: dict[str, tuple[list[Event], Callable[[str, Any], Any]]], repeats: int
) -> dict[str, float]:
    """Events per second of each run's fastest pass; the runs take turns inside every repeat, so
    a busy machine slows them alike and their ratios hold."""
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(repeats):
        for label, (events, handle) in runs.items():
            started = time.perf_counter()
            for name, payload in events:
                handle(name, payload)
            best[label] = min(best[label], time.perf_counter() - started)
    return {label: len(runs[label][0]) / best[label] for label in runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (CI)")
    args = parser.parse_args()
    rounds, repeats = (8, 2) if args.quick else (8, 9)

    events = make_events(rounds)
    fulls = [event for event in events if event[0].endswith("-full")]
    checked = check_same_prices(events)

    gc.collect()
    gc.freeze()
    rates = best_rates(
        {
            "reference": (events, baseline),
            "value": (events, QuoteParser(lambda: NOW_S).parse),
            "vendor_full": (fulls, vendor_sdk),
            "ours_full": (fulls, QuoteParser(lambda: NOW_S).parse),
        },
        repeats,
    )
    reference, value = rates["reference"], rates["value"]
    vendor_full, ours_full = rates["vendor_full"], rates["ours_full"]

    share = {
        name: round(sum(1 for e in events if e[0] == name) / len(events), 2)
        for name in sorted({e[0] for e in events})
    }
    print(f"{INSTRUMENTS} instruments, {len(events):,} events {share}; {checked:,} prices checked")
    print(f"baseline json.loads + dict      : {reference:>10,.0f} events/s")
    print(f"QuoteParser.parse (Tick, paise) : {value:>10,.0f} events/s ({value / reference:.2f}x)")
    print(f"full events only: vendor SDK json.loads {vendor_full:,.0f}/s, ours {ours_full:,.0f}/s")
    print(
        json.dumps(
            {
                "bench": "xts_feed",
                "value": round(value),
                "unit": "events/s",
                "reference": round(reference),
                "reference_name": "json.loads + dict mapping (no merge, no paise)",
                "ratio": round(value / reference, 2),
                "vendor_sdk_full_events_per_s": round(vendor_full),
                "ours_full_events_per_s": round(ours_full),
                "vendor_ratio_full_events": round(ours_full / vendor_full, 2),
                "instruments": INSTRUMENTS,
                "events": len(events),
            }
        )
    )


if __name__ == "__main__":
    main()
