"""The pre-open checklist's network look, against an IP echo service on 127.0.0.1: the public IP
against the registered static IPs, the clock against the server's Date header, and a service
that is down or answers nonsense."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator
from datetime import datetime
from email.utils import formatdate
from pathlib import Path

import pytest
from aiohttp import web

from engine.api import EngineMessage
from engine.core.clock import IST, TestClock
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.runtime import Engine, EngineConfig
from engine.runtime.preflight import AddressCheck, address_findings, look_up_address
from engine.runtime.scheduler import network_checklist


class EchoService:
    """Answers like api.ipify.org: the caller's public IP in plain text, with a Date header."""

    def __init__(self) -> None:
        self.address = "203.0.113.7"
        self.clock_skew_s = 0.0
        self.status = 200

    async def handle(self, request: web.Request) -> web.Response:
        import time

        date = formatdate(time.time() + self.clock_skew_s, usegmt=True)
        return web.Response(text=self.address, status=self.status, headers={"Date": date})


@pytest.fixture
async def echo() -> AsyncIterator[tuple[EchoService, str]]:
    service = EchoService()
    app = web.Application()
    app.router.add_get("/", service.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield service, f"http://127.0.0.1:{port}/"
    await runner.cleanup()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_look_up_when_the_address_is_registered_and_the_clock_right_finds_nothing(
    echo,
) -> None:
    _service, url = echo
    check = await look_up_address(url)
    assert check.public_ip == "203.0.113.7" and check.problem is None
    assert check.clock_offset_s is not None and abs(check.clock_offset_s) < 1.5
    assert address_findings(check, ("203.0.113.7",), live=True) == []


async def test_look_up_when_the_public_ip_is_not_registered_says_orders_will_be_refused(
    echo,
) -> None:
    service, url = echo
    service.address = "198.51.100.20"
    check = await look_up_address(url)
    [finding] = address_findings(check, ("203.0.113.7", "203.0.113.8"), live=True)
    assert finding == (
        "this machine's public IP is 198.51.100.20, not the static IP registered with the "
        "broker (203.0.113.7, 203.0.113.8): orders from here will be refused"
    )
    [unset] = address_findings(check, (), live=True)
    assert unset.startswith("no static IP is set in Settings → Brokers")
    assert address_findings(check, (), live=False) == [], "paper orders need no static IP"


@pytest.mark.parametrize(
    ("skew", "words"), [(30.0, r"(29|30|31) s behind"), (-12.0, r"(11|12|13) s ahead")]
)
async def test_look_up_when_the_clock_drifts_says_by_how_much(echo, skew, words) -> None:
    service, url = echo
    service.clock_skew_s = skew
    check = await look_up_address(url)
    [finding] = address_findings(check, ("203.0.113.7",), live=True)
    # A Date header counts whole seconds: the drift it shows is within a second of the skew.
    assert re.search(f"this computer's clock is {words}", finding), finding


async def test_look_up_when_the_service_is_down_or_talks_nonsense_says_so(echo) -> None:
    service, url = echo
    down = await look_up_address(f"http://127.0.0.1:{closed_port()}/")
    assert down.public_ip is None and down.problem is not None
    assert down.problem.startswith("127.0.0.1:") and "could not be reached" in down.problem
    [finding] = address_findings(down, ("203.0.113.7",), live=True)
    assert finding.startswith("the public IP could not be checked: 127.0.0.1:")
    assert address_findings(down, (), live=False) == []
    service.address = "<html>captive portal</html>"
    nonsense = await look_up_address(url)
    assert nonsense.problem is not None and "did not answer with an IP address" in nonsense.problem
    service.status = 503
    refused = await look_up_address(url)
    assert refused.problem is not None and refused.problem.endswith("answered HTTP 503")


def test_address_findings_without_an_answer_or_a_date_stay_quiet_on_paper() -> None:
    assert address_findings(AddressCheck(), (), live=False) == []


async def test_pre_open_checklist_with_an_address_check_tells_the_network_look(
    tmp_path: Path, echo
) -> None:
    _service, url = echo
    engine = Engine.build(
        EngineConfig(
            db_url=f"sqlite:///{tmp_path / 'book.db'}",
            market=SimulatedMarketConfig(seed=4, strikes_each_side=2),
            schedule_folder=tmp_path / "schedule",
            address_check_url=url,
            static_ips=("203.0.113.9",),
        ),
        clock=TestClock(datetime(2026, 11, 20, 9, 0, tzinfo=IST)),
    )
    said: list[str] = []
    engine.api.subscribe(EngineMessage, lambda m: said.append(m.text))
    try:
        assert engine.schedule is not None
        assert engine.schedule.tick(engine.clock.now()) == ["pre_open_checklist"]
        for _ in range(100):
            if any("network" in text for text in said):
                break
            await asyncio.sleep(0.05)
        text = await network_checklist(engine)
    finally:
        engine.close()
    assert text == (
        "Pre-open checklist, network: this machine's public IP is 203.0.113.7, not the static "
        "IP registered with the broker (203.0.113.9): orders from here will be refused"
    )
    assert text in said, "the checklist's own run said it too"


def test_engine_config_refuses_a_static_ip_that_is_not_an_address() -> None:
    with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6 address"):
        EngineConfig(static_ips=("203.0.113",))
