"""Start the vendor emulators: one threaded HTTPS server per vendor, in daemon threads.

``start_sandbox()`` is what tests and the CLI use. It also writes a descriptor
(``<state_dir>/sandbox/sandbox.json``: URLs, credentials, CA path, pid) so other processes, such as
an Airflow worker pointed at a sandbox started in another terminal, can find it.
"""

from __future__ import annotations

import io
import json
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Callable, Mapping

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from passerelle import paths
from passerelle_sandbox.client import SandboxClient
from passerelle_sandbox.core import VendorApp
from passerelle_sandbox.dynamics import DynamicsApp
from passerelle_sandbox.folk import FolkApp
from passerelle_sandbox.graph import GraphApp
from passerelle_sandbox.asana import AsanaApp
from passerelle_sandbox.hubspot import HubSpotApp
from passerelle_sandbox.jira import JiraApp
from passerelle_sandbox.monday import MondayApp
from passerelle_sandbox.pipedrive import PipedriveApp
from passerelle_sandbox.quickbooks import QuickBooksApp
from passerelle_sandbox.salesforce import SalesforceApp
from passerelle_sandbox.salesforce_auth import sandbox_credentials
from passerelle_sandbox.tls import server_tls, write_private
from passerelle_sandbox.trello import TrelloApp
from passerelle_sandbox.dataset_zoho import BIGIN, ZOHO_CRM
from passerelle_sandbox.zoho import ZohoApp
from passerelle_sandbox.zoho_projects import ZohoProjectsApp

log = logging.getLogger(__name__)

DESCRIPTOR_FILE = "sandbox.json"
IDLE_TIMEOUT_SECONDS = 30
_OPEN_LOCK = threading.Lock()
_OPEN_CONNECTIONS: dict[Any, set[socket.socket]] = {}
"""Kept-alive connections per server, closed when the sandbox stops (clients then reconnect or fail fast)."""


def close_connections(server: BaseWSGIServer) -> None:
    with _OPEN_LOCK:
        connections = _OPEN_CONNECTIONS.pop(server, set())
    for connection in connections:
        try:
            connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

VendorFactory = Callable[[dict[str, Any], Path], VendorApp]
"""Builds one vendor's app from the dataset and the sandbox directory (for keys it writes there)."""

VENDOR_FACTORIES: dict[str, VendorFactory] = {
    "salesforce": lambda data, directory: SalesforceApp(data, sandbox_credentials(directory)),
    "hubspot": lambda data, directory: HubSpotApp(data),
    "trello": lambda data, directory: TrelloApp(data),
    "asana": lambda data, directory: AsanaApp(data),
    "jira": lambda data, directory: JiraApp(data),
    "monday": lambda data, directory: MondayApp(data),
    "pipedrive": lambda data, directory: PipedriveApp(data),
    "zoho_crm": lambda data, directory: ZohoApp(data, ZOHO_CRM),
    "bigin": lambda data, directory: ZohoApp(data, BIGIN),
    "folk": lambda data, directory: FolkApp(data),
    "dynamics": lambda data, directory: DynamicsApp(data),
    "planner": lambda data, directory: GraphApp(data),
    "quickbooks": lambda data, directory: QuickBooksApp(data),
    "zoho_projects": lambda data, directory: ZohoProjectsApp(data),
}


class _RequestHandler(WSGIRequestHandler):
    """Werkzeug's handler, serving HTTP/1.1 keep-alive, without its INFO access log.

    Werkzeug's development server closes every connection (and then waits 10 ms for stray request
    bytes), so each call paid a TLS handshake plus that wait. The apps always answer with complete
    byte bodies, so this handler reads the whole request body before calling the app (the next request
    line on the connection stays in sync whatever the app reads), sends the response with an exact
    ``Content-Length`` and keeps the connection open unless the client asked to close it.
    """

    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT_SECONDS  # an idle kept-alive connection is closed after this
    disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms delayed-ACK stall

    def setup(self) -> None:
        super().setup()
        with _OPEN_LOCK:
            _OPEN_CONNECTIONS.setdefault(self.server, set()).add(self.connection)

    def finish(self) -> None:
        with _OPEN_LOCK:
            _OPEN_CONNECTIONS.get(self.server, set()).discard(self.connection)
        super().finish()

    def run_wsgi(self) -> None:
        if self.headers.get("Expect", "").lower().strip(" \t") == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        environ = self.make_environ()
        length = environ.get("CONTENT_LENGTH") or ""
        if environ.get("wsgi.input_terminated"):  # chunked request body: read to its last chunk
            body = environ["wsgi.input"].read()
        elif length.isdigit():
            body = self.rfile.read(int(length))
        else:
            body = b""
        environ["wsgi.input"] = io.BytesIO(body)
        environ["wsgi.input_terminated"] = True
        environ["CONTENT_LENGTH"] = str(len(body))
        started: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
            started[:] = [status, headers]
            return lambda data: None  # the apps return their body; none writes through this

        chunks = self.server.app(environ, start_response)
        try:
            payload = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        status, headers = started
        code, _, reason = status.partition(" ")
        self.send_response(int(code), reason)
        for name, value in headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        no_body = environ["REQUEST_METHOD"] == "HEAD" or int(code) in (204, 304) or 100 <= int(code) < 200
        if not no_body:
            self.send_header("Content-Length", str(len(payload)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if payload and environ["REQUEST_METHOD"] != "HEAD":
            self.wfile.write(payload)
        self.wfile.flush()

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return

    def log(self, type: str, message: str, *args: Any) -> None:  # noqa: A002 - Werkzeug's signature
        # an idle kept-alive connection closing after IDLE_TIMEOUT_SECONDS is routine, not a problem
        routine = type == "info" or message.startswith("Request timed out")
        level = logging.DEBUG if routine else logging.WARNING
        log.log(level, "%s: %s", self.address_string(), message % args if args else message)


@dataclass
class VendorEndpoint:
    """One running emulator: where it listens, what it accepts, and how to control it."""

    name: str
    base_url: str
    credentials: dict[str, str]
    control: SandboxClient
    app: VendorApp = field(repr=False)
    server: BaseWSGIServer = field(repr=False)
    thread: threading.Thread = field(repr=False)

    @property
    def port(self) -> int:
        return int(self.server.server_port)


class Sandbox:
    """The running emulators; a context manager that stops them on exit."""

    def __init__(self, vendors: dict[str, VendorEndpoint], ca_path: Path, directory: Path) -> None:
        self.vendors = vendors
        self.ca_path = ca_path
        self.directory = directory
        self.descriptor_path = directory / DESCRIPTOR_FILE
        self._stopped = False

    @property
    def salesforce(self) -> VendorEndpoint:
        return self.vendors["salesforce"]

    @property
    def hubspot(self) -> VendorEndpoint:
        return self.vendors["hubspot"]

    def describe(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "ca_path": str(self.ca_path),
            "state_dir": str(self.directory),
            "vendors": {
                name: {"base_url": v.base_url, "control_url": f"{v.base_url}/__sandbox/", "credentials": v.credentials}
                for name, v in self.vendors.items()
            },
        }

    def write_descriptor(self) -> None:
        write_private(self.descriptor_path, (json.dumps(self.describe(), indent=2) + "\n").encode())

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        for endpoint in self.vendors.values():
            endpoint.server.shutdown()
            endpoint.server.server_close()
            close_connections(endpoint.server)
            endpoint.control.session.close()
        for endpoint in self.vendors.values():
            endpoint.thread.join(timeout=5)
        try:
            if json.loads(self.descriptor_path.read_text()) == self.describe():
                self.descriptor_path.unlink()
        except (OSError, ValueError):
            pass
        log.info("sandbox stopped")

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def resolve_dataset(dataset: dict[str, Any] | str | Path | None) -> dict[str, Any]:
    """A dataset dict from a dict, a JSON file, or (None) the project's default dataset."""
    if isinstance(dataset, dict):
        return dataset
    from passerelle_sandbox import dataset as datasets

    if dataset is not None:
        return datasets.load(Path(dataset))
    path = datasets.default_dataset_path()
    if path.exists():
        return datasets.load(path)
    log.info("no dataset file at %s: generating the default dataset", path)
    return datasets.generate()


def sandbox_dir(state_dir: Path | None = None) -> Path:
    root = Path(state_dir) if state_dir is not None else paths.state_dir()
    directory = root / "sandbox"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def read_descriptor(state_dir: Path | None = None) -> dict[str, Any]:
    """The descriptor of the sandbox last started with this state directory (FileNotFoundError if none)."""
    return dict(json.loads((sandbox_dir(state_dir) / DESCRIPTOR_FILE).read_text()))


def start_sandbox(
    dataset: dict[str, Any] | str | Path | None = None,
    *,
    state_dir: Path | None = None,
    host: str = "127.0.0.1",
    ports: dict[str, int] | None = None,
    vendors: Mapping[str, VendorFactory] | None = None,
    public_host: str | None = None,
) -> Sandbox:
    """Serve every registered vendor emulator (or only ``vendors``) over HTTPS on ``host``.

    Port 0 (the default) means any free port. ``public_host`` is the name clients reach the sandbox by
    when it is not ``host`` (a Compose service name): base URLs use it and the certificate covers it.

    Files (CA, JWT key, descriptor) go to ``<state_dir>/sandbox/``; ``state_dir`` defaults to
    :func:`passerelle.paths.state_dir`.
    """
    started = time.perf_counter()
    data = resolve_dataset(dataset)
    directory = sandbox_dir(state_dir)
    tls = server_tls(directory, host, [public_host] if public_host else [])
    ports = ports or {}
    factories = VENDOR_FACTORIES if vendors is None else vendors
    endpoints: dict[str, VendorEndpoint] = {}
    try:
        for name, factory in factories.items():
            app = factory(data, directory)
            server = make_server(host, int(ports.get(name, 0)), app, threaded=True,
                                 request_handler=_RequestHandler, ssl_context=tls.context)
            url_host = public_host or ("127.0.0.1" if host in ("0.0.0.0", "") else ("localhost" if host == "::" else host))
            base_url = f"https://{url_host}:{server.server_port}"
            app.base_url = base_url
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                                      name=f"sandbox-{name}", daemon=True)
            thread.start()
            endpoints[name] = VendorEndpoint(
                name=name, base_url=base_url, credentials=app.public_credentials(),
                control=SandboxClient(base_url, tls.ca_path), app=app, server=server, thread=thread,
            )
    except BaseException:
        for endpoint in endpoints.values():
            endpoint.server.shutdown()
            endpoint.server.server_close()
        raise
    sandbox = Sandbox(endpoints, tls.ca_path, directory)
    sandbox.write_descriptor()
    log.info("sandbox up in %.1f s: %s", time.perf_counter() - started,
             ", ".join(f"{n} {v.base_url}" for n, v in endpoints.items()))
    return sandbox
