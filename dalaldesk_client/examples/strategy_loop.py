"""A strategy loop on asyncio: watch one instrument's ticks and buy one lot when the price
crosses above its moving average of the last N ticks, at most --orders times. Its orders carry
the tag ``sma-cross`` (an order from a script names no strategy of the desk's; the tag is how
the Orderbook and ``orders()`` tell them apart)."""

from __future__ import annotations

import asyncio
from collections import deque
from decimal import Decimal

from dalaldesk_client import ApiError, AsyncClient, NoAnswer, StreamClosed
from dalaldesk_client.examples import arguments

TAG = "sma-cross"


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
                    outcome = await place(desk, symbol)
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


async def place(desk: AsyncClient, symbol: str) -> dict[str, object]:
    """Buy one lot; when no answer comes, ask once more with the same client_order_id: the desk
    answers with the order if it got it, and never places it twice."""
    try:
        return await desk.place(symbol, "BUY", 1, order_type="MARKET", product="MIS", tag=TAG)
    except NoAnswer as lost:
        print(f"no answer ({lost.reason}); asking again", flush=True)
        return await desk.place(
            symbol, "BUY", 1, order_type="MARKET", product="MIS", tag=TAG,
            client_order_id=lost.client_order_id,
        )  # fmt: skip


def main() -> int:
    parser = arguments(__doc__ or "")
    parser.add_argument("--symbol", default="NSE:RELIANCE")
    parser.add_argument("--window", type=int, default=20)
    parser.add_argument("--orders", type=int, default=1)
    args = parser.parse_args()
    try:
        return asyncio.run(run(args.url, args.token, args.symbol, args.window, args.orders))
    except StreamClosed as closed:
        print(f"stopped: {closed}", flush=True)
        return 2
    except ApiError as refused:  # the desk not running, a wrong token, an unknown symbol
        print(f"stopped: {refused}", flush=True)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
