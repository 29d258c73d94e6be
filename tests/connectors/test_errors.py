"""Fatal source errors are one line naming the source, its Airflow Connection and what to check.

Every case runs the real connector against the sandbox (or a closed loopback port) through
``run_stream``, the code path an Airflow task takes; the retry policy is observed from the
emulator's own request counters.
"""

from __future__ import annotations

import socket
import time
from dataclasses import replace
from typing import Any

import pytest

from passerelle.connectors.config import SourceConfig
from passerelle.connectors.registry import get_source
from passerelle.connectors.run import run_stream
from passerelle.errors import AuthError, SourceError, SourceUnavailableError
from tests.connectors.helpers import DAY1, audit_counts, extract_day, source_config

START, END = DAY1, DAY1.replace(day=2)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run(conn: Any, source: str, stream: str, config: SourceConfig) -> None:
    run_stream(conn, get_source(source), stream, config, interval_start=START, interval_end=END,
               run_id=f"test__errors_{source}_{stream}")


def assert_actionable(exc: SourceError, source: str, *secrets: str) -> str:
    """The message is one line, names the source and its Connection, says what to check, hides secrets."""
    message = str(exc)
    assert "\n" not in message and "\r" not in message
    assert message.startswith(f"{source} (Airflow Connection 'passerelle_{source}'): ")
    assert " — check " in message
    for secret in secrets:
        assert secret and secret not in message
    return message


def status_count(sandbox: Any, vendor: str, status: int, path: str | None = None) -> int:
    stats = sandbox.vendors[vendor].control.stats()
    if path is None:
        return stats["by_status"].get(str(status), 0)
    return sum(counts.get(str(status), 0) for p, counts in stats["by_path_status"].items() if path in p)


# ---------------------------------------------------------------------------- unreachable hosts

@pytest.mark.parametrize("source, stream", [("salesforce", "Account"), ("hubspot", "companies")])
def test_unreachable_host_is_retried_then_named(sandbox, warehouse_conn, source: str, stream: str) -> None:
    config = source_config(sandbox, source, retry_attempts=3)
    port = closed_port()
    config = replace(config, host=f"https://127.0.0.1:{port}")
    started = time.monotonic()
    with pytest.raises(SourceUnavailableError) as failure:
        run(warehouse_conn, source, stream, config)
    message = assert_actionable(failure.value, source, config.password or "")
    assert f"host unreachable at 127.0.0.1:{port}: connection refused" in message
    assert "gave up after 3 attempts" in message  # retried by the shared policy, not failed at once
    assert "check the connection's host and port" in message
    assert time.monotonic() - started < 30
    assert audit_counts(warehouse_conn) == (0, 0)


def test_unknown_host_name_says_so(sandbox, warehouse_conn) -> None:
    config = replace(source_config(sandbox, "hubspot", retry_attempts=2), host="https://passerelle-no-such-host.invalid")
    with pytest.raises(SourceUnavailableError) as failure:
        run(warehouse_conn, "hubspot", "products", config)
    message = assert_actionable(failure.value, "hubspot", config.password or "")
    assert "host name does not resolve at passerelle-no-such-host.invalid:443" in message


def test_untrusted_certificate_fails_at_once_and_names_the_ca_bundle(sandbox, warehouse_conn) -> None:
    config = source_config(sandbox, "hubspot", retry_attempts=5)
    config = replace(config, extra={k: v for k, v in config.extra.items() if k != "ca_bundle"})
    with pytest.raises(SourceUnavailableError) as failure:
        run(warehouse_conn, "hubspot", "products", config)
    message = assert_actionable(failure.value, "hubspot", config.password or "")
    assert "TLS certificate not trusted" in message and "ca_bundle" in message
    assert "after 1 attempt " in message


# ---------------------------------------------------------------------------- timeouts

def test_hubspot_timeouts_are_retried_then_succeed(sandbox, warehouse_conn) -> None:
    control = sandbox.vendors["hubspot"].control
    control.add_fault(kind="slow", delay=1.0, times=2, path="/crm/v3/objects/products")
    stats = extract_day(warehouse_conn, sandbox, "hubspot", "products", timeout=0.3)
    assert stats.inserted > 0
    assert control.faults()[0]["fired"] == 2


@pytest.mark.parametrize("source, stream, path", [
    ("hubspot", "products", "/crm/v3/properties/products"),
    ("salesforce", "Product2", "/sobjects/Product2/describe"),  # simple-salesforce's session sends no timeout
])
def test_source_that_never_answers_times_out_with_a_clear_error(sandbox, warehouse_conn, source, stream, path) -> None:
    sandbox.vendors[source].control.add_fault(kind="slow", delay=1.5, times=None, path=path)
    started = time.monotonic()
    with pytest.raises(SourceUnavailableError) as failure:
        extract_day(warehouse_conn, sandbox, source, stream, timeout=0.3, retry_attempts=2)
    message = assert_actionable(failure.value, source)
    assert "no answer" in message and "within the request timeout" in message and "after 2 attempts" in message
    assert time.monotonic() - started < 5


# ---------------------------------------------------------------------------- throttling and 5xx

def test_429_waits_for_retry_after_then_succeeds(sandbox, warehouse_conn) -> None:
    control = sandbox.vendors["hubspot"].control
    control.add_fault(kind="rate_limit", times=1, retry_after=2, path="/crm/v3/properties/products")
    started = time.monotonic()
    stats = extract_day(warehouse_conn, sandbox, "hubspot", "products")  # backoff alone waits ≤ 0.5 s
    assert time.monotonic() - started >= 2.0
    assert stats.inserted > 0 and status_count(sandbox, "hubspot", 429) == 1


def test_5xx_exhausted_names_the_last_answer(sandbox, warehouse_conn) -> None:
    control = sandbox.vendors["hubspot"].control
    control.add_fault(kind="error", status=503, times=None, path="/crm/v3/properties/products")
    with pytest.raises(SourceUnavailableError) as failure:
        extract_day(warehouse_conn, sandbox, "hubspot", "products", retry_attempts=3)
    message = assert_actionable(failure.value, "hubspot")
    assert "still failing after 3 attempts" in message and "HTTP 503" in message
    assert status_count(sandbox, "hubspot", 503) == 3
    assert audit_counts(warehouse_conn) == (0, 0)


def test_salesforce_token_endpoint_errors_are_retried(sandbox, warehouse_conn) -> None:
    control = sandbox.vendors["salesforce"].control
    control.add_fault(kind="error", status=503, times=2, path="/services/oauth2/token")
    stats = extract_day(warehouse_conn, sandbox, "salesforce", "User")
    assert stats.inserted > 0
    assert status_count(sandbox, "salesforce", 503, "/services/oauth2/token") == 2


# ---------------------------------------------------------------------------- refused credentials

def test_salesforce_oauth_secret_refused(sandbox, warehouse_conn) -> None:
    config = replace(source_config(sandbox, "salesforce"), password="wrong-consumer-secret")
    with pytest.raises(AuthError) as failure:
        run(warehouse_conn, "salesforce", "User", config)
    message = assert_actionable(failure.value, "salesforce", "wrong-consumer-secret",
                                config.extra["refresh_token"])
    assert "authentication refused: invalid_client" in message and "check the client id/secret" in message
    assert status_count(sandbox, "salesforce", 400, "/services/oauth2/token") == 1  # no retry burnt on it


def test_salesforce_jwt_bearer_refused(sandbox, warehouse_conn) -> None:
    creds = sandbox.salesforce.credentials
    jwt_extra = {"auth_flow": "jwt_bearer", "private_key_path": creds["private_key_path"]}
    config = source_config(sandbox, "salesforce", **jwt_extra, username=creds["username"])
    run(warehouse_conn, "salesforce", "User", config)  # the flow works with the right user...
    config = source_config(sandbox, "salesforce", **jwt_extra, username="someone@else.example")
    with pytest.raises(AuthError) as failure:  # ...and is refused, clearly, with another one
        run(warehouse_conn, "salesforce", "User", config)
    message = assert_actionable(failure.value, "salesforce")
    assert "authentication refused: invalid_grant: user hasn't approved this consumer" in message
    assert "username" in message


def test_hubspot_private_app_token_refused(sandbox, warehouse_conn) -> None:
    config = replace(source_config(sandbox, "hubspot"), password="pat-na1-not-a-real-token")
    with pytest.raises(AuthError) as failure:
        run(warehouse_conn, "hubspot", "products", config)
    message = assert_actionable(failure.value, "hubspot", "pat-na1-not-a-real-token")
    assert "the private app token was rejected (HTTP 401)" in message
    assert "check the connection's password (the private app token)" in message
    assert status_count(sandbox, "hubspot", 401) == 1


def test_hubspot_oauth_refresh_token_refused(sandbox, warehouse_conn) -> None:
    cred = sandbox.vendors["hubspot"].credentials
    config = source_config(sandbox, "hubspot", client_id=cred["client_id"], client_secret=cred["client_secret"],
                           refresh_token="revoked-refresh-token")
    with pytest.raises(AuthError) as failure:
        run(warehouse_conn, "hubspot", "products", config)
    message = assert_actionable(failure.value, "hubspot", "revoked-refresh-token", cred["client_secret"])
    assert "authentication refused: BAD_REFRESH_TOKEN" in message and "check the refresh token" in message


# ---------------------------------------------------------------------------- masking

def test_secrets_echoed_by_a_vendor_are_masked() -> None:
    """A vendor that echoes the credential back (some do, in 401 bodies) must not put it in a log."""
    config = SourceConfig(host="https://crm.example", login="app", password="hunter2-token",
                          extra={"client_secret": "s3cr3t-value", "refresh_token": "rt-abcdef", "api_version": "62.0"})
    from passerelle.connectors.retry import connection_secrets

    error = AuthError("token hunter2-token refused; client s3cr3t-value with rt-abcdef\n(see body)",
                      check="the password hunter2-token")
    message = str(error.attribute("crm", "passerelle_crm", connection_secrets(config)))
    assert message == ("crm (Airflow Connection 'passerelle_crm'): token *** refused; client *** with *** "
                       "(see body) — check the password ***")
    assert "62.0" not in connection_secrets(config)
