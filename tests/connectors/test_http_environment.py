"""PinnedCASession reads the proxy environment once per origin and still honours it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from passerelle.connectors.http import PinnedCASession


def proxies_for(session: PinnedCASession, url: str) -> dict[str, str]:
    return session.merge_environment_settings(url, {}, True, True, None)["proxies"]


def test_proxy_environment_is_read_once_per_origin_and_session(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example")
    session = PinnedCASession()
    assert proxies_for(session, "https://api.example/v1/a")["https"] == "http://proxy.example:3128"
    assert "https" not in proxies_for(session, "https://internal.example/v1/a")

    monkeypatch.setenv("HTTPS_PROXY", "http://other.example:8080")
    assert proxies_for(session, "https://api.example/v1/b")["https"] == "http://proxy.example:3128"  # this run's reading
    assert proxies_for(PinnedCASession(), "https://api.example/v1/b")["https"] == "http://other.example:8080"
    # the cached answer is not shared with callers that could change it
    proxies_for(session, "https://api.example/v1/c")["https"] = "changed"
    assert proxies_for(session, "https://api.example/v1/d")["https"] == "http://proxy.example:3128"


@pytest.fixture
def loopback() -> Iterator[str]:
    class Ok(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_requests_go_through_the_environment_proxy_unless_excluded(loopback: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("NO_PROXY", "")
    with pytest.raises(requests.exceptions.ProxyError):
        PinnedCASession(timeout=5).get(f"{loopback}/a")

    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    session = PinnedCASession(timeout=5)
    assert [session.get(f"{loopback}/{n}").status_code for n in range(3)] == [200, 200, 200]
