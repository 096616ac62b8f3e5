"""Property-based tests of the control API from its own OpenAPI description (schemathesis):
whatever request the description allows, or nearly allows, the answer is never a 5xx."""

from __future__ import annotations

import dataclasses
import json

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from smsc.config import AccountConfig, Config
from smsc.control.accounts_api import ACCOUNT_PATHS, ACCOUNT_SCHEMAS
from smsc.control.clock_api import CLOCK_PATHS, CLOCK_SCHEMAS
from smsc.control.distribution_lists_api import LIST_PATHS, LIST_SCHEMAS
from smsc.control.openapi import openapi_document
from smsc.control.simulation_api import SIMULATION_PATHS, SIMULATION_SCHEMAS
from smsc.embed import ThreadedSmsc

DOCUMENT = openapi_document(
    {**SIMULATION_PATHS, **CLOCK_PATHS, **ACCOUNT_PATHS, **LIST_PATHS},
    {**SIMULATION_SCHEMAS, **CLOCK_SCHEMAS, **ACCOUNT_SCHEMAS, **LIST_SCHEMAS})
schema = schemathesis.openapi.from_dict(DOCUMENT)


@pytest.fixture
def smsc_config(smsc_config: Config) -> Config:
    # every destination routes to the account, so generated MO requests can succeed too
    return dataclasses.replace(smsc_config, accounts=(AccountConfig(mo_addresses=(".*",)),))


def test_the_served_description_is_this_one(smsc: ThreadedSmsc) -> None:
    served = httpx.get(f"{smsc.http_url}/openapi.json", timeout=10).json()
    assert served == json.loads(json.dumps(DOCUMENT))


@schema.parametrize()
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_gets_a_server_error(case: schemathesis.Case, smsc: ThreadedSmsc) -> None:
    case.call_and_validate(base_url=smsc.http_url, checks=[not_a_server_error])
