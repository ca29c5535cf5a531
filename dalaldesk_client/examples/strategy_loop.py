"""A strategy loop on asyncio: watch one instrument's ticks and buy one lot when the price
crosses above its moving average of the last N ticks, at most --orders times."""

from __future__ import annotations

import asyncio
from collections import deque
from decimal import Decimal

from dalaldesk_client import ApiError, AsyncClient
from dalaldesk_client.examples import arguments


async def run(url: str, token: str | None, symbol: str, window: int, orders: int) -> int:
    placed = 0
    prices: deque[Decimal] = deque(maxlen=window)
    async with AsyncClient(url, token) as desk:
        was_above = None
        async for event in desk.stream(watch=[symbol]):
            if event.get("type") != "tick":
                continue
            prices.append(Decimal(event["ltp"]))
            if len(prices) < window:
                continue
            above = prices[-1] > sum(prices) / len(prices)
            if above and was_above is False:
                try:
                    outcome = await desk.place(symbol, "BUY", 1, order_type="MARKET", product="MIS",
                                               strategy="sma-cross")  # fmt: skip
                    print(
                        f"crossed above at {prices[-1]}: placed {outcome['order_id']}", flush=True
                    )
                except ApiError as refused:
                    print(f"crossed above at {prices[-1]}: refused, {refused.reason}", flush=True)
                placed += 1
                if placed >= orders:
                    return 0
            was_above = above
    return 0


def main() -> int:
    parser = arguments(__doc__ or "")
    parser.add_argument("--symbol", default="NSE:RELIANCE")
    parser.add_argument("--window", type=int, default=20)
    parser.add_argument("--orders", type=int, default=1)
    args = parser.parse_args()
    return asyncio.run(run(args.url, args.token, args.symbol, args.window, args.orders))


if __name__ == "__main__":
    raise SystemExit(main())
