"""Delivery → Bigin: the Zoho writer on Bigin's Pipelines module (fields created, 100 per ``PUT``).

The dataset's projects deliver no Bigin deal: some projects are linked to won Bigin deals first."""

from __future__ import annotations

from typing import Any

import pytest

from tests.sync.delivery_checks import api, control, deliver  # noqa: F401
from tests.sync.test_delivery_zoho_crm import (check_figures_land_and_rerun_writes_nothing,
                                               check_one_bad_deal_is_refused_alone)

CRM, MODULE = "bigin", "Pipelines"


@pytest.fixture
def crm_api(sandbox: Any, control: Any, staged_conn: Any) -> Any:
    assert len(deliver(staged_conn, CRM, 8)) == 8
    return api(sandbox, CRM)


def test_figures_land_in_created_fields_and_a_rerun_writes_nothing(staged_conn, control, crm_api) -> None:
    check_figures_land_and_rerun_writes_nothing(staged_conn, CRM, MODULE, control, crm_api)


def test_a_pipeline_record_bigin_no_longer_has_is_refused_alone(staged_conn, control, crm_api) -> None:
    check_one_bad_deal_is_refused_alone(staged_conn, CRM, MODULE, control, crm_api)
