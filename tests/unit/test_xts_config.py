"""XTS settings are declared and checked at load: a wrong root, source, limit or timer is refused
in words, and an unknown key is refused rather than ignored."""

from __future__ import annotations

import pytest

from engine.brokers.xts.config import XtsBrokerConfig, XtsRestConfig
from engine.brokers.xts.errors import is_token_error, readable


def test_xts_rest_config_defaults_are_xts_published_limits() -> None:
    config = XtsRestConfig(root="https://xts.example.in:3000/")
    assert (config.orders_per_second, config.books_per_second) == (10, 1)
    assert config.source == "WEBAPI" and config.base == "https://xts.example.in:3000"


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"root": "xts.example.in"}, "must be http:// or https://"),
        ({"root": "https://x", "source": "WEB API"}, "source must be a word"),
        ({"root": "https://x", "books_per_second": 0}, "books_per_second must be >= 1"),
        ({"root": "https://x", "retry_max_delay_s": 0.1}, "retry delays"),
        ({"root": "https://x", "timeout_s": 0}, "timeout_s must be > 0"),
    ],
)
def test_xts_rest_config_refuses_unusable_values_in_words(
    values: dict[str, object], words: str
) -> None:
    with pytest.raises(ValueError, match=words):
        XtsRestConfig(**values)  # type: ignore[arg-type]


def test_xts_configs_refuse_unknown_settings() -> None:
    with pytest.raises(ValueError, match="unknown XtsRestConfig settings: rootUrl"):
        XtsRestConfig.from_mapping({"root": "https://x", "rootUrl": "https://y"})
    with pytest.raises(ValueError, match="unknown XtsBrokerConfig settings: poll"):
        XtsBrokerConfig.from_mapping({"poll": 1})
    assert XtsBrokerConfig.from_mapping({"poll_interval_s": 0.5}).poll_interval_s == 0.5
    with pytest.raises(ValueError, match="poll_interval_s must be > 0"):
        XtsBrokerConfig(poll_interval_s=0)


@pytest.mark.parametrize(
    ("description", "status", "dead"),
    [
        ("Invalid Token", 400, True),
        ("Invalid Token", 200, True),
        ("Token Expired", 400, True),
        ("Unauthorized", 401, True),
        ("Bad Request", 400, False),
        ("Insufficient funds", 200, False),
    ],
)
def test_xts_dead_token_is_recognised_by_the_body_at_any_status(
    description: str, status: int, dead: bool
) -> None:
    assert is_token_error(description, status) is dead


def test_xts_errors_read_as_sentences() -> None:
    text = readable("place the order", "Insufficient funds.", "e-orders-0005", 400)
    assert text == "XTS could not place the order: Insufficient funds (e-orders-0005, HTTP 400)"
    assert readable("log in", "", None, None) == "XTS could not log in: no reason given"
