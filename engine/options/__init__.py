"""Options maths: Black-76 prices, implied volatility, Greeks and chain analytics, vectorised.

Stable entry points (DESIGN.md): :func:`implied_vol` and :func:`greeks`. Chains: lay them out
once with :func:`chain_layouts`, snapshot each from the quote cache per tick burst and pass them
all to :func:`analyse_chains`; time to expiry from :func:`years_to_expiry`.
"""

from engine.options.chain import (
    ChainAnalytics,
    ChainSnapshot,
    ForwardSource,
    QuotePrice,
    analyse_chain,
    analyse_chains,
)
from engine.options.chain_layout import ChainLayout, chain_layouts
from engine.options.expiry_time import TimeBasis, expiry_moment, years_to_expiry
from engine.options.greeks import Greeks, greeks
from engine.options.iv import implied_vol

__all__ = [
    "ChainAnalytics",
    "ChainLayout",
    "ChainSnapshot",
    "ForwardSource",
    "Greeks",
    "QuotePrice",
    "TimeBasis",
    "analyse_chain",
    "analyse_chains",
    "chain_layouts",
    "expiry_moment",
    "greeks",
    "implied_vol",
    "years_to_expiry",
]
