"""A private certificate authority so the emulators speak real HTTPS.

Clients trust the sandbox through ``verify=<ca.pem>`` exactly as they would trust a corporate CA:
verification stays on and the connector code path is the production one. The CA is kept in the
state directory and reused, so a CA bundle configured once (or shared by several sandboxes started
from the same state directory) keeps working across restarts.
"""

from __future__ import annotations

import logging
import os
import socket
import ssl
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import trustme

log = logging.getLogger(__name__)

CA_FILE = "ca.pem"
CA_KEY_FILE = "ca-key.pem"


@dataclass(frozen=True)
class ServerTls:
    ca_path: Path
    context: ssl.SSLContext


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` atomically, readable by the owner only (it may be a private key)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_or_create_ca(directory: Path) -> tuple[trustme.CA, Path]:
    cert_path, key_path = directory / CA_FILE, directory / CA_KEY_FILE
    if cert_path.exists() and key_path.exists():
        try:
            return trustme.CA.from_pem(cert_path.read_bytes(), key_path.read_bytes()), cert_path
        except ValueError:
            log.warning("unreadable sandbox CA in %s, making a new one", directory)
    ca = trustme.CA(organization_name="Passerelle sandbox")
    write_private(key_path, ca.private_key_pem.bytes())
    write_private(cert_path, ca.cert_pem.bytes())
    os.chmod(cert_path, 0o644)
    return ca, cert_path


def server_tls(directory: Path, host: str, public_names: Sequence[str] = ()) -> ServerTls:
    """A server context whose certificate covers loopback, ``host`` (else this machine's name) and
    ``public_names`` (the names clients use, e.g. a Compose service's)."""
    ca, ca_path = load_or_create_ca(directory)
    names = {"127.0.0.1", "localhost", "::1", *public_names}
    if host not in ("0.0.0.0", "::", ""):
        names.add(host)
    else:
        names.add(socket.gethostname())
    leaf = ca.issue_cert(*sorted(names), common_name="passerelle-sandbox")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    leaf.configure_cert(context)
    return ServerTls(ca_path=ca_path, context=context)
