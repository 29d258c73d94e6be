"""Salesforce OAuth for the sandbox: fixed connected-app credentials and the JWT signing key.

The connected app's credentials are deterministic (they only open the local sandbox), and the
JWT bearer key pair lives in the state directory so a client configured with its private key
keeps working across sandbox restarts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from passerelle_sandbox.tls import write_private

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
PRIVATE_KEY_FILE = "salesforce-jwt-private-key.pem"
PUBLIC_KEY_FILE = "salesforce-jwt-public-key.pem"


@dataclass(frozen=True)
class SalesforceCredentials:
    client_id: str
    client_secret: str
    refresh_token: str
    username: str
    private_key_path: Path
    public_key_pem: bytes
    password: str = "Passerelle-Sandbox-2026"
    security_token: str = "SandboxSecurityToken0000"

    def as_dict(self, login_url: str) -> dict[str, str]:
        return {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "refresh_token": self.refresh_token,
            "username": self.username,
            "password": self.password,
            "security_token": self.security_token,
            "private_key_path": str(self.private_key_path),
            "login_url": login_url,
        }


def load_or_create_key(directory: Path) -> tuple[Path, bytes]:
    """``(private key path, public key PEM)`` of the JWT bearer key pair, created on first use."""
    private_path, public_path = directory / PRIVATE_KEY_FILE, directory / PUBLIC_KEY_FILE
    if private_path.exists():
        try:
            key = serialization.load_pem_private_key(private_path.read_bytes(), password=None)
            if isinstance(key, rsa.RSAPrivateKey):
                return private_path, _public_pem(key)
        except ValueError:
            pass
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    write_private(private_path, pem)
    public = _public_pem(key)
    write_private(public_path, public)
    public_path.chmod(0o644)
    return private_path, public


def _public_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def sandbox_credentials(directory: Path) -> SalesforceCredentials:
    private_path, public_pem = load_or_create_key(directory)
    return SalesforceCredentials(
        client_id="3MVG9PasserelleSandbox.ConnectedApp.ConsumerKey.0000000000000000000000000000",
        client_secret="PASSERELLESANDBOXCONSUMERSECRET0000000000000000000000000000000001",
        refresh_token="5Aep861PasserelleSandbox.RefreshToken.00000000000000000000000000000000000000",
        username="integration@passerelle-sandbox.example",
        private_key_path=private_path,
        public_key_pem=public_pem,
    )


def token_signature(client_secret: str, identity_url: str, issued_at: str) -> str:
    """Salesforce's ``signature``: base64 HMAC-SHA256 of ``id + issued_at`` keyed by the client secret."""
    digest = hmac.new(client_secret.encode(), (identity_url + issued_at).encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()
