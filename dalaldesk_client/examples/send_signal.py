"""Send one signal through the desk's pipeline (its id makes a resend a duplicate)."""

from __future__ import annotations

from dalaldesk_client import ApiError, Client
from dalaldesk_client.examples import arguments


def main() -> int:
    parser = arguments(__doc__ or "")
    parser.add_argument("--symbol", default="NSE:RELIANCE")
    parser.add_argument("--action", default="buy", choices=["buy", "sell"])
    parser.add_argument("--id", default="")
    args = parser.parse_args()
    try:
        answer = Client(args.url, args.token).signal(args.symbol, args.action, id=args.id)
    except ApiError as refused:
        print(f"refused: {refused.reason}")
        return 1
    print(f"{answer['signal']}: {answer['status']} {answer.get('order') or answer.get('reason')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
