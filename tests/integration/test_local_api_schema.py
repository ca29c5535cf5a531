"""The local API against its own OpenAPI document, property-based (schemathesis): generated
requests to every operation, with the token, never get a server error and never crash the desk."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from engine.signals.local_api_schema import openapi_document
from tests.threaded_desk import ThreadedDesk

TOKEN = "schema-token-0123456789"
schema = schemathesis.openapi.from_dict(openapi_document())


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedDesk]:
    running = ThreadedDesk(tmp_path_factory.mktemp("api-schema"), token=TOKEN)
    yield running
    running.stop()


@schema.parametrize()
@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_local_api_schema_operations_never_answer_a_server_error(
    case: schemathesis.Case, desk: ThreadedDesk
) -> None:
    response = case.call(base_url=desk.url, headers={"Authorization": f"Bearer {TOKEN}"})
    case.validate_response(response, checks=(not_a_server_error,))
    assert response.status_code < 500, response.text


def test_local_api_schema_run_left_the_desk_answering(desk: ThreadedDesk) -> None:
    state = desk.run(lambda engine: engine.api.trading_state().state.value)
    assert state in ("ACTIVE", "HALTED")  # the kill switch may have been called by the run
