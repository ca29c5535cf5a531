"""Print the desk's order events as they come (and the ticks of --watch), N of them."""

from __future__ import annotations

import json

from dalaldesk_client import Client
from dalaldesk_client.examples import arguments


def main() -> int:
    parser = arguments(__doc__ or "")
    parser.add_argument("--watch", action="append", default=[], help="e.g. NSE:RELIANCE")
    parser.add_argument("--count", type=int, default=20)
    args = parser.parse_args()
    for event in Client(args.url, args.token).stream(watch=args.watch, count=args.count):
        print(json.dumps(event), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
