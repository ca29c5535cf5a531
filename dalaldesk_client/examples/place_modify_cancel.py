"""Place a limit order below the market, move it, cancel it, and print what the desk said."""

from __future__ import annotations

from decimal import Decimal

from dalaldesk_client import ApiError, Client
from dalaldesk_client.examples import arguments


def main() -> int:
    parser = arguments(__doc__ or "")
    parser.add_argument("--symbol", default="NSE:RELIANCE")
    args = parser.parse_args()
    desk = Client(args.url, args.token)
    bid = Decimal(desk.quotes(args.symbol)[args.symbol]["bid"])
    try:
        placed = desk.place(args.symbol, "BUY", 1, price=bid - 10, product="MIS", tag="example")
    except ApiError as refused:
        print(f"refused: {refused.reason}")
        return 1
    order_id = placed["order_id"]
    print(f"placed {order_id} at {bid - 10}")
    desk.modify(order_id, price=bid - 5)
    print(f"modified {order_id} to {bid - 5}")
    desk.cancel(order_id)
    print(f"cancel asked for {order_id}: {desk.order(order_id)['status']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
