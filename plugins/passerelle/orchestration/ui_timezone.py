"""Airflow's UI shows times in ``[core] default_timezone`` (Europe/Paris for ``make up``) until a user picks one.

Airflow 3's UI has no server setting for the zone it displays: it keeps the zone picked in its user menu in the
browser's ``localStorage`` (key ``timezone``) and otherwise uses the browser's own. This API-server middleware
adds a line to the UI's page that stores Airflow's default time zone there when nothing is stored yet, so a
choice made in the menu is kept.
"""

from __future__ import annotations

import json
from typing import Any

from airflow.plugins_manager import AirflowPlugin

NOT_UI = ("/api/", "/execution/", "/auth/", "/static/", "/ui/", "/assets/", "/pluginsv2/")


class DefaultUiTimezone:
    """ASGI middleware: HTML pages of the UI get the default-time-zone line before their scripts."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope["path"].startswith(NOT_UI):
            await self.app(scope, receive, send)
            return
        # The UI app compresses its answers; its page is asked for uncompressed to be edited.
        scope = {**scope, "headers": [(k, v) for k, v in scope["headers"] if k.lower() != b"accept-encoding"]}
        start: dict | None = None
        body = b""

        async def edit(message: dict) -> None:
            nonlocal start, body
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers", []))
                if not headers.get(b"content-type", b"").startswith(b"text/html"):
                    await send(message)
                    return
                start = message
                return
            if start is None:
                await send(message)
                return
            body += message.get("body", b"")
            if message.get("more_body"):
                return
            body = inject(body)
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            await send({**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, edit)


def script(timezone: str) -> bytes:
    value = json.dumps(json.dumps(timezone))  # localStorage holds the zone as JSON text
    return (f"<script>try{{if(!localStorage.getItem(\"timezone\"))localStorage.setItem(\"timezone\",{value})}}"
            f"catch(e){{}}</script>").encode()


def inject(page: bytes) -> bytes:
    """``page`` with the line before ``</head>`` (unchanged without one, or when the default is UTC)."""
    from airflow.configuration import conf

    timezone = conf.get("core", "default_timezone", fallback="utc")
    if timezone.lower() in ("utc", "") or b"</head>" not in page:
        return page  # Airflow's own default: the browser's zone, as without this plugin
    return page.replace(b"</head>", script(timezone) + b"</head>", 1)


class UiTimezonePlugin(AirflowPlugin):
    name = "passerelle_ui_timezone"
    fastapi_root_middlewares = [{"middleware": DefaultUiTimezone, "args": [], "kwargs": {},
                                 "name": "Default UI time zone"}]
