"""Examples of the local API's client: each runs as ``python -m dalaldesk_client.examples.NAME``
against a desk started with ``--api-port`` (the URL and the token from ``--url`` / ``--token`` or
``DALALDESK_URL`` / ``DALALDESK_API_TOKEN``)."""

from __future__ import annotations

import argparse
import os


def arguments(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--url", default=os.environ.get("DALALDESK_URL", "http://127.0.0.1:8787"))
    parser.add_argument("--token", default=None, help="else DALALDESK_API_TOKEN")
    return parser
