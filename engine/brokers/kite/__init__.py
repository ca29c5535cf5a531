"""Zerodha Kite Connect: ticker (binary parser + asyncio client), REST wrapper, status map."""
