"""Fuzz the server from its own OpenAPI document (schemathesis): valid and invalid requests alike
get no 5xx, invalid ones are refused, and every answer conforms to the document."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from skewless import FeatureStore
from skewless.serving import create_app

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance, negative_data_rejection]


def test_no_request_gets_a_server_error(store: FeatureStore) -> None:
    # (Driven through hypothesis directly: schemathesis' pytest plugin does not run under pytest 9.)
    api = schemathesis.openapi.from_asgi("/openapi.json", create_app(store))
    cases = st.one_of(api.as_strategy(GenerationMode.POSITIVE), api.as_strategy(GenerationMode.NEGATIVE))

    @given(case=cases)
    @settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def call(case: schemathesis.Case[Any]) -> None:
        case.call_and_validate(checks=CHECKS)

    call()
