"""Truncated JSON and an HTML page served with status 200 fail like every fatal source error: one line
naming the source, its Airflow Connection and the stream, and still a BadRecordError, which the Airflow
retry policy fails at once (retrying the same bytes cannot help)."""

from __future__ import annotations

import pytest

from passerelle.errors import BadRecordError
from passerelle.orchestration.extract_dags import NO_RETRY_POLICY
from tests.connectors.test_hostile_inputs import SOURCES, STYLES, fault, fails_cleanly, run


@pytest.mark.timeout(90)
@pytest.mark.parametrize("kind", ["malformed_json", "html_page"])
@pytest.mark.parametrize("source", SOURCES)
def test_unparsable_page_names_the_connection(sandbox, warehouse_conn, source, kind) -> None:
    stream = STYLES[source][0]
    fault(sandbox, source, kind)
    message = fails_cleanly(sandbox, warehouse_conn, source, "malformed JSON")
    assert message.startswith(f"{source} (Airflow Connection 'passerelle_{source}'): {stream}: "), message
    fault(sandbox, source, kind)
    with pytest.raises(BadRecordError):
        run(sandbox, warehouse_conn, source)
    assert any(rule.exception == "passerelle.errors.BadRecordError" for rule in NO_RETRY_POLICY.rules)
