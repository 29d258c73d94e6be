"""The sandbox: local HTTPS emulators of the CRM vendors' APIs, plus a control API for tests.

Connectors talk to it exactly as to the real vendor (same paths, auth, paging, errors); only the
host and the trusted CA differ. Start it with :func:`passerelle_sandbox.server.start_sandbox` or
``python -m passerelle_sandbox``; drive it with :class:`passerelle_sandbox.client.SandboxClient`.
"""
