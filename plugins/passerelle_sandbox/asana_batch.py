"""Asana ``POST /batch``: up to ten actions, each answered as its own request would be.

An action is ``{"relative_path", "method", "data", "options"}`` (``options.fields`` → ``opt_fields``,
``limit``, ``offset``); the answer lists ``{"status_code", "headers", "body"}`` in the order given.
Each action goes through the whole pipeline (authentication, rate limit, faults) with the batch's
credentials, so it counts against the quota as Asana counts it. An empty batch or more than ten
actions is a 400; a failing action does not fail the batch.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, Callable

from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request, Response

from passerelle_sandbox.asana_model import bad_request
from passerelle_sandbox.asana_writes import request_data
from passerelle_sandbox.core import Call, json_response

MAX_ACTIONS = 10
METHODS = ("get", "post", "put", "delete")


class AsanaBatchRoutes:
    """The batch handler; ``_serve`` is the app's own request pipeline."""

    _serve: Callable[[Request], Response]

    def on_batch(self, call: Call) -> Response:
        actions = request_data(call).get("actions")
        if not isinstance(actions, list) or not actions:
            raise bad_request("actions: Missing input")
        if len(actions) > MAX_ACTIONS:
            raise bad_request(f"actions: A batch request may contain at most {MAX_ACTIONS} actions, got {len(actions)}")
        for index, action in enumerate(actions):
            if not isinstance(action, dict):
                raise bad_request(f"actions: [{index}]: Value is not an object")
            path, method = action.get("relative_path"), str(action.get("method", "")).lower()
            if not isinstance(path, str) or not path.startswith("/"):
                raise bad_request(f"actions: [{index}]: relative_path: Missing input")
            if method not in METHODS:
                raise bad_request(f"actions: [{index}]: method: Not a valid enum value: {action.get('method')}")
            if path.split("?")[0].rstrip("/") == "/batch":
                raise bad_request(f"actions: [{index}]: relative_path: Batch requests cannot be nested")
        answers = [self._run(call, action) for action in actions]
        return json_response({"data": answers})

    def _run(self, call: Call, action: dict[str, Any]) -> dict[str, Any]:
        method = action["method"].upper()
        options = action.get("options") or {}
        query: dict[str, str] = {}
        for name, value in options.items():
            key = "opt_fields" if name == "fields" else name
            query[key] = ",".join(map(str, value)) if isinstance(value, list) else str(value).lower() \
                if isinstance(value, bool) else str(value)
        outer = call.request
        builder = EnvironBuilder(
            path=outer.script_root + call.path[: -len("/batch")] + action["relative_path"].split("?")[0],
            base_url=outer.host_url, method=method, query_string=query or None,
            headers={k: v for k, v in outer.headers.items() if k.lower() == "authorization"},
            data=None if method in ("GET", "DELETE") else json.dumps({"data": action.get("data") or {}}),
            content_type=None if method in ("GET", "DELETE") else "application/json",
        )
        try:
            response = self._serve(Request(builder.get_environ()))
        finally:
            builder.close()
        body = json.loads(response.get_data(), parse_float=Decimal) if response.get_data() else None
        headers = {k: v for k, v in response.headers.items() if k.lower() in ("location", "retry-after")}
        return {"status_code": response.status_code, "headers": headers, "body": body}
