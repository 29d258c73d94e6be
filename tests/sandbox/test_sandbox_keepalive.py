"""The emulators keep HTTPS connections alive: one TLS connection serves a whole session of calls."""

from __future__ import annotations

import logging

import pytest
import requests

from passerelle_sandbox.server import Sandbox


def new_connections(caplog: pytest.LogCaptureFixture) -> int:
    """TLS connections urllib3 opened: new ones, and pooled ones it found closed and reconnected."""
    return sum(r.getMessage().startswith(("Starting new HTTPS connection", "Resetting dropped connection"))
               for r in caplog.records)


def test_one_connection_serves_every_kind_of_request_in_order(sandbox: Sandbox, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="urllib3.connectionpool")
    hubspot = sandbox.hubspot
    hubspot.control.config(enforce_rate_limits=False)
    session = requests.Session()
    session.trust_env = False
    session.verify = str(sandbox.ca_path)
    auth = {"Authorization": f"Bearer {hubspot.credentials['private_app_token']}"}
    base = hubspot.base_url
    statuses = []
    for round_number in range(5):
        calls = [
            session.get(f"{base}/crm/v3/owners", params={"limit": 2}, headers=auth),
            # bodies the app never reads (unknown route, refused token) must not leak into the next request
            session.post(f"{base}/crm/v3/nowhere", json={"padding": "x" * 50_000}, headers=auth),
            session.post(f"{base}/crm/v3/objects/companies/search", json={"limit": 3}),
            session.post(f"{base}/crm/v3/objects/companies/search", json={"limit": 3}, headers=auth),
            session.get(f"{base}/crm/v3/objects/companies", params={"properties": "p" * 20_000}, headers=auth),
            session.head(f"{base}/crm/v3/owners", headers=auth),
        ]
        for response in calls:
            assert response.headers.get("Connection") != "close"
            if response.request.method != "HEAD":
                assert int(response.headers["Content-Length"]) == len(response.content)
        statuses.append([r.status_code for r in calls])
        assert calls[3].json()["results"] and len(calls[3].json()["results"]) == 3, round_number
    assert statuses == [[200, 404, 401, 200, 414, 200]] * 5
    assert new_connections(caplog) == 1  # 30 requests, one TLS handshake


def test_a_client_asking_to_close_gets_its_connection_closed(sandbox: Sandbox, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="urllib3.connectionpool")
    session = requests.Session()
    session.trust_env = False
    session.verify = str(sandbox.ca_path)
    auth = {"Authorization": f"Bearer {sandbox.hubspot.credentials['private_app_token']}", "Connection": "close"}
    for _ in range(3):
        response = session.get(f"{sandbox.hubspot.base_url}/crm/v3/owners", headers=auth)
        assert response.status_code == 200 and response.headers.get("Connection") == "close"
    assert new_connections(caplog) == 3
