"""One multileg portfolio on several accounts of the desk (Stoxxo's strategy tag mapped to many
users): the same portfolio saved and started on each account's engine, where it trades that
account's lots — its own lots × the account's quantity multiplier (``AccountLimits``) — through
that account's gate, book and broker. A paper account beside a live one runs the same
portfolio on paper."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from engine.runtime.accounts import Accounts
from engine.strategies.multileg.spec import PortfolioSpec


def start_on_accounts(
    accounts: Accounts, spec: PortfolioSpec | dict[str, Any], names: Iterable[str] | None = None
) -> dict[str, str | None]:
    """Save and start ``spec`` on each of ``names`` (every account by default): for each
    account, None when it started, or why not in words. One account refusing does not stop
    the others."""
    results: dict[str, str | None] = {}
    for name in accounts.names if names is None else list(names):
        try:
            api = accounts.api(name)
        except ValueError as unknown:
            results[name] = str(unknown)
            continue
        problem = api.save_portfolio(spec)
        if problem is None:
            saved = api.check_portfolio(
                spec if isinstance(spec, dict) else spec.model_dump(mode="json")
            )
            problem = api.start_portfolio(saved.name)
        results[name] = problem
    return results
