"""External signals (TradingView webhooks, scripts) on their way to the one risk gate: checked,
deduplicated, approved when the strategy's mode asks for it, and journaled step by step."""
