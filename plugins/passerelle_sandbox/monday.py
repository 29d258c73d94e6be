"""monday.com API v2 emulator: one GraphQL endpoint (``POST /v2``) executed by graphql-core.

Behaviour follows ``vendor-apis-pm.md`` §3:

- personal API token in ``Authorization`` (raw, ``Bearer`` tolerated); ``API-Version: YYYY-MM``;
- ``boards(state: all|active|archived|deleted, limit, page)`` with columns, groups, owners and
  ``activity_logs(from, to, limit, page)`` (newest first, 17-digit ``created_at``);
- ``boards { items_page(limit ≤ 500, query_params: {rules, operator, order_by}) { cursor items } }``
  then root ``next_items_page(cursor, limit)``; the query's result is fixed when it starts, so
  paging never loses nor repeats an item; every cursor of a query expires
  ``cursor_ttl_seconds`` (60 min) of *virtual* time after the initial request → ``CursorException``;
  ``cursor: null`` on the last page. The ``__last_updated__`` / ``__creation_log__`` rules compare
  **days** only (``["EXACT", "2026-03-01T05:00:00Z"]`` means the whole of 1 March);
- ``items(ids, limit ≤ 100, exclude_nonactive)`` also returns archived and deleted items (with their
  ``state``): ``items_page`` only ever returns active ones;
- application errors are HTTP 200 with ``errors[].extensions.code``; the complexity budget is a
  real 60-second sliding window (``COMPLEXITY_BUDGET_EXHAUSTED`` + ``retry_in_seconds`` +
  ``Retry-After``); a query over ``max_query_complexity`` is refused; the ``rate_limit`` fault is
  an HTTP 429 (``Retry-After``) or, with ``error_code``, a 200 carrying that code;
- subitems, updates, teams, workspaces, tags, ``items_page_by_column_values`` and the linked column
  types are read in :mod:`passerelle_sandbox.monday_reads`; the mutations (items, subitems, column
  values, updates, boards from a template, columns) are in :mod:`passerelle_sandbox.monday_writes`.
"""

from __future__ import annotations

import base64
import itertools
import json
import logging
import random
import re
from collections import OrderedDict
from datetime import timedelta
from typing import Any

from graphql import GraphQLError, execute, parse, validate
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Response

from passerelle_sandbox.core import Call, ControlError, VendorApp, VendorError, correlation_id, json_response
from passerelle_sandbox.dataset_monday import COLUMNS, GROUPS, monday_section
from passerelle_sandbox.faults import FaultSpec
from passerelle_sandbox.monday_errors import MondayError, error_entry
from passerelle_sandbox.monday_reads import FIELD_READS, ROOT_READS, column_text, load_extras, page_of, select_users
from passerelle_sandbox.monday_schema import build_monday_schema, query_complexity
from passerelle_sandbox.monday_columns import (
    Record,
    log_stamp,
    monday_time,
    parse_column_input,
    stamp_of_iso,
)
from passerelle_sandbox.monday_writes import MUTATIONS, count_root_fields
from passerelle_sandbox.paging import offset_page
from passerelle_sandbox.rate_limits import SlidingWindow
from passerelle_sandbox.store import Collection, Stamps

log = logging.getLogger(__name__)

SCHEMA = build_monday_schema()
VERSION = re.compile(r"^\d{4}-\d{2}$")
DATE_RULE_COLUMNS = {"__last_updated__": "updated_at", "__creation_log__": "created_at"}
OBJECTS = ("boards", "items", "users")
STAMPS = Stamps(modified="updated_at", created="created_at", render=monday_time, precision_ms=1000)
"""Boards, items and updates show ``created_at``/``updated_at`` to the second; deleted items stay readable
(``state``), so only updates leave tombstones."""
USER_STAMPS = Stamps(created="created_at", render=monday_time, precision_ms=1000)


class MondayApp(VendorApp):
    vendor = "monday"
    url_map = Map([Rule("/v2", endpoint="graphql", methods=["POST"])], strict_slashes=False)

    def __init__(self, dataset: dict[str, Any]) -> None:
        self._spent = SlidingWindow(60.0, lambda: int(self.config["complexity_budget_per_minute"]))
        self._board_creations = SlidingWindow(60.0, lambda: int(self.config["create_board_per_minute"]))
        self._queries: OrderedDict[int, Record] = OrderedDict()
        self._serial = itertools.count(1)
        super().__init__(dataset)

    # ----------------------------------------------------------------------------- setup

    def default_config(self) -> dict[str, Any]:
        return {
            "cursor_ttl_seconds": 3600,
            "enforce_complexity": True,
            "complexity_budget_per_minute": 10_000_000,
            "max_query_complexity": 5_000_000,
            "max_page_size": 500,
            "max_items_by_ids": 100,
            "open_queries": 64,
            "create_board_per_minute": 40,
        }

    def load(self) -> None:
        section = monday_section(self.dataset)
        self.account_id = int(section["account_id"])
        self.token = str(section["api_token"])
        self.users = self.collection([dict(u) for u in section["users"]], USER_STAMPS)
        self.me_id = section["users"][0]["id"]
        boards = json.loads(json.dumps(section["boards"]))
        for board in boards:
            board["column_index"] = {c["id"]: c for c in board["columns"]}
            for column in board["columns"]:
                column.setdefault("archived", False)
                column.setdefault("settings_str", "{}")
        self.boards = self.collection(boards)
        self.items = self.collection(json.loads(json.dumps(section["items"])))
        self.board_items: dict[str, list[str]] = {b: [] for b in self.boards}
        for item in self.items.values():
            self.board_items[item["board_id"]].append(item["id"])
        self.logs: dict[str, list[Record]] = {b: [] for b in self.boards}
        for entry in section.get("activity_logs", []):
            self.logs[entry["board_id"]].append(dict(entry))
        self._next_item = max((int(i) for i in self.items), default=1_840_000_000)
        self._next_board = max((int(b) for b in self.boards), default=1_830_000_000)
        self._next_user = max((int(u) for u in self.users), default=55_500_000)
        self._next_session = 90_000_000
        self._token_revoked = False
        self._rng = random.Random(f"{self.dataset.get('seed')}:monday:sandbox")
        self._secret = f"{self._rng.getrandbits(64):016x}"
        self._queries = OrderedDict()
        load_extras(self, section)

    def collection(self, records: list[Record], stamps: Stamps = STAMPS) -> Collection:
        collection = Collection(stamps, self.clock, order=int, lock=self.lock)
        collection.load(records)
        return collection

    def on_reset(self) -> None:
        self._spent.clear()
        self._board_creations.clear()

    def public_credentials(self) -> dict[str, str]:
        return {"api_token": self.token, "api_version": "2025-07"}

    # -------------------------------------------------------------------------- pipeline

    def authenticate(self, call: Call) -> Any:
        header = call.request.headers.get("Authorization", "").strip()
        scheme, _, rest = header.partition(" ")
        token = rest.strip() if scheme.lower() == "bearer" else header
        if token and token == self.token and not self._token_revoked:
            return {"user_id": self.me_id}
        raise VendorError(401, {
            "errors": [error_entry("UserUnauthorizedException", "Not Authenticated", status_code=401)],
            "account_id": None,
        })

    def expire_tokens(self) -> None:
        super().expire_tokens()
        self._token_revoked = True

    def on_faults_cleared(self) -> None:
        self._token_revoked = False

    def fault_response(self, call: Call, fault: FaultSpec) -> Response:
        retry = fault.retry_after
        headers = {"Retry-After": str(retry)} if retry is not None else {}
        if fault.kind == "rate_limit":
            if fault.error_code:
                entry = error_entry(fault.error_code, fault.message or "Complexity budget exhausted",
                                    retry_in_seconds=retry if retry is not None else 1, status_code=429)
                return json_response({"errors": [entry], "account_id": self.account_id}, fault.status or 200, headers)
            entry = error_entry("RATE_LIMIT_EXCEEDED", fault.message or "Rate Limit Exceeded",
                                retry_in_seconds=retry if retry is not None else 60, status_code=429)
            return json_response({"errors": [entry], "account_id": self.account_id}, fault.status or 429, headers)
        status = fault.status or 500
        entry = error_entry(fault.error_code or "INTERNAL_SERVER_ERROR", fault.message or "Internal server error",
                            status_code=status)
        return json_response({"errors": [entry], "account_id": self.account_id}, status, headers)

    def not_found(self, call: Call) -> Response:
        return json_response({"errors": [error_entry("NOT_FOUND", f"No route for {call.path}", status_code=404)]}, 404)

    def method_not_allowed(self, call: Call, allowed: list[str]) -> Response:
        return json_response({"errors": [error_entry("METHOD_NOT_ALLOWED", "Use POST", status_code=405)]}, 405)

    def internal_error(self, call: Call) -> Response:
        return json_response({"errors": [error_entry("INTERNAL_SERVER_ERROR", "Internal server error",
                                                     status_code=500)]}, 500)

    def strip_id(self, payload: Any) -> bool:
        def walk(node: Any) -> bool:
            if isinstance(node, dict):
                for key in ("items", "boards", "users"):
                    values = node.get(key)
                    if isinstance(values, list) and values and isinstance(values[0], dict) and "id" in values[0]:
                        del values[0]["id"]
                        return True
                return any(walk(value) for value in node.values())
            if isinstance(node, list):
                return any(walk(value) for value in node)
            return False

        return walk(payload.get("data") if isinstance(payload, dict) else None)

    # --------------------------------------------------------------------------- GraphQL

    def _refuse(self, status: int, code: str, message: str, headers: dict[str, str] | None = None,
                **extensions: Any) -> VendorError:
        body = {"errors": [error_entry(code, message, **extensions)], "account_id": self.account_id}
        return VendorError(status, body, headers)

    def on_graphql(self, call: Call) -> Response:
        version = call.request.headers.get("API-Version")
        if version is not None and not VERSION.match(version.strip()):
            raise self._refuse(400, "InvalidVersionException", f"Invalid API version {version!r}: use YYYY-MM",
                               status_code=400)
        body = call.request.get_json(silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            raise self._refuse(400, "JsonParseException", "Body must be JSON with a 'query' string", status_code=400)
        variables = body.get("variables") or {}
        if not isinstance(variables, dict):
            raise self._refuse(400, "JsonParseException", "'variables' must be an object", status_code=400)
        operation = body.get("operationName")
        try:
            document = parse(body["query"])
        except GraphQLError as exc:
            return self._graphql_errors([exc.formatted | {"extensions": {"code": "GRAPHQL_PARSE_FAILED"}}])
        problems = validate(SCHEMA, document)
        if problems:
            return self._graphql_errors(
                [p.formatted | {"extensions": {"code": "GRAPHQL_VALIDATION_FAILED"}} for p in problems])
        cost = query_complexity(document, operation, variables)
        self._charge_board_creations(count_root_fields(document, operation, "create_board"))
        budget_left = self._charge(cost)
        context = {"app": self, "cost": cost, "budget_left": budget_left, "version": (version or "2025-07").strip()}
        with self.lock:
            result = execute(SCHEMA, document, root_value=None, context_value=context, variable_values=variables,
                             operation_name=operation)
        payload: Record = {"data": result.data}
        if result.errors:
            payload["errors"] = [self._format_error(e) for e in result.errors]
        payload["account_id"] = self.account_id
        payload["extensions"] = {"request_id": correlation_id()}
        return json_response(payload)

    def _graphql_errors(self, errors: list[Record]) -> Response:
        return json_response({"errors": errors, "account_id": self.account_id,
                              "extensions": {"request_id": correlation_id()}})

    def _format_error(self, error: GraphQLError) -> Record:
        formatted = dict(error.formatted)
        original = error.original_error
        if isinstance(original, MondayError):
            formatted["extensions"] = {"code": original.code, **original.extensions}
        else:
            if original is not None:
                log.error("monday sandbox resolver failed: %r", original, exc_info=original)
            formatted["extensions"] = {"code": "INTERNAL_SERVER_ERROR"}
        return formatted

    def _charge_board_creations(self, count: int) -> None:
        """``create_board`` (like ``duplicate_*``) is capped per minute: past it, HTTP 429."""
        if not count:
            return
        if not self._board_creations.take(count):
            wait = self._board_creations.retry_after() or 60
            raise self._refuse(429, "RATE_LIMIT_EXCEEDED", "Call limit exceeded for CreateBoard",
                               headers={"Retry-After": str(wait)}, retry_in_seconds=wait, status_code=429)

    def _charge(self, cost: int) -> int:
        """Charge the query's cost to the per-minute budget; refuse it when the budget is spent."""
        limit = int(self.config["max_query_complexity"])
        budget = int(self.config["complexity_budget_per_minute"])
        if cost > limit:
            raise self._refuse(200, "maxComplexityExceeded",
                               f"Query has complexity of {cost}, which exceeds max complexity of {limit}",
                               complexity=cost, max_complexity=limit)
        with self._spent.lock:
            used = int(self._spent.used())
            if not self._spent.take(cost, enforce=self.config["enforce_complexity"]):
                wait = self._spent.retry_after() or 60
                raise self._refuse(200, "COMPLEXITY_BUDGET_EXHAUSTED", "Complexity budget exhausted",
                                   headers={"Retry-After": str(wait)}, retry_in_seconds=wait, status_code=429)
            return budget - used - cost

    # ------------------------------------------------------------------- root resolvers

    def q_boards(self, info: Any, ids: list[str] | None = None, limit: int | None = None, page: int | None = None,
               state: str = "active", board_kind: str | None = None, order_by: str | None = None,
               workspace_ids: list[str] | None = None, latest: bool | None = None) -> list[Record]:
        """``latest`` asks monday to skip its read replicas: the sandbox always answers with the latest data."""
        selected = [b for b in self.boards_by_id(ids) if state == "all" or b["state"] == state]
        if board_kind:
            selected = [b for b in selected if b["board_kind"] == board_kind]
        if workspace_ids:
            selected = [b for b in selected if b["workspace_id"] in {str(w) for w in workspace_ids}]
        if order_by == "created_at":
            selected.sort(key=lambda b: (b["created_at"], b["id"]), reverse=True)
        return page_of(selected, limit if limit is not None else (len(selected) if ids else 25), page)

    def boards_by_id(self, ids: list[str] | None) -> list[Record]:
        if ids is None:
            return sorted(self.boards.values(), key=lambda b: int(b["id"]))
        return [self.boards[str(i)] for i in ids if str(i) in self.boards]

    def q_items(self, info: Any, ids: list[str] | None = None, limit: int | None = None, page: int | None = None,
              newest_first: bool | None = None, exclude_nonactive: bool | None = None) -> list[Record]:
        maximum = int(self.config["max_items_by_ids"])
        size = limit if limit is not None else 25
        if size > maximum or (ids is not None and len(ids) > maximum):
            raise MondayError("InvalidArgumentException", f"items: limit is {maximum} items per query",
                              error_data={"limit": maximum})
        if ids is None:
            selected = sorted(self.items.values(), key=lambda i: int(i["id"]), reverse=True)
        else:
            selected = [self.items[str(i)] for i in ids if str(i) in self.items]
        if exclude_nonactive:
            selected = [i for i in selected if i["state"] == "active"]
        if newest_first:
            selected.sort(key=lambda i: i["created_at"], reverse=True)
        return page_of(selected, size, page)

    def q_users(self, info: Any, **args: Any) -> list[Record]:
        return select_users(list(self.users.values()), **args)

    def q_me(self, info: Any) -> Record:
        return self.users[self.me_id]

    def q_account(self, info: Any) -> Record:
        return {"id": str(self.account_id), "name": "Passerelle Conseil", "slug": "passerelle-conseil",
                "tier": "pro", "first_day_of_the_week": "monday", "show_timeline_weekends": False,
                "country_code": "FR"}

    def q_complexity(self, info: Any) -> Record:
        context = info.context
        after = int(context["budget_left"])
        return {"before": after + int(context["cost"]), "after": after, "query": int(context["cost"]),
                "reset_in_x_seconds": 60}

    def q_version(self, info: Any) -> Record:
        return {"kind": "current", "display_name": "Current", "value": info.context["version"]}

    def q_next_items_page(self, info: Any, cursor: str, limit: int = 25) -> Record:
        return self._continue(cursor, limit)

    # --------------------------------------------------------------------------- paging

    def items_page(self, board: Record, limit: int = 25, cursor: str | None = None,
                   query_params: Record | None = None, group_id: str | None = None) -> Record:
        if cursor:
            return self._continue(cursor, limit)
        self._check_limit(limit)
        selected = [self.items[i] for i in self.board_items[board["id"]]]
        selected = [i for i in selected if i["state"] == "active" and (group_id is None or i["group_id"] == group_id)]
        params = query_params or {}
        if params.get("ids"):
            wanted = {str(i) for i in params["ids"]}
            selected = [i for i in selected if i["id"] in wanted]
        rules = params.get("rules") or []
        if rules:
            tests = [self._rule(board, rule) for rule in rules]
            combine = any if params.get("operator") == "or" else all
            selected = [i for i in selected if combine(test(i) for test in tests)]
        for order in reversed(params.get("order_by") or []):
            field = DATE_RULE_COLUMNS.get(order["column_id"])
            if field is None:
                raise MondayError("InvalidColumnIdException", f"Column {order['column_id']} can't be used to order")
            selected.sort(key=lambda i, f=field: i[f], reverse=order.get("direction") == "desc")
        return self.open_page(board, [i["id"] for i in selected], limit)

    def open_page(self, board: Record, ids: list[str], limit: int) -> Record:
        """Fix a query's result (``ids``) and answer its first page; later pages follow its cursor."""
        self._check_limit(limit)
        serial = next(self._serial)
        self._queries[serial] = {"ids": ids, "issued": self.clock.now(), "board_id": board["id"]}
        while len(self._queries) > int(self.config["open_queries"]):
            self._queries.popitem(last=False)
        return self._slice(serial, 0, limit)

    def _check_limit(self, limit: int) -> None:
        maximum = int(self.config["max_page_size"])
        if limit < 1 or limit > maximum:
            raise MondayError("InvalidArgumentException", f"limit must be between 1 and {maximum}",
                              error_data={"limit": limit})

    def _cursor(self, serial: int, offset: int) -> str:
        raw = f"{serial},{offset},{self._secret}{serial * 7919 % 104729:05d}"
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    def _slice(self, serial: int, offset: int, limit: int) -> Record:
        page = offset_page(self._queries[serial]["ids"], offset, limit)
        items = [self.items[i] for i in page.items if i in self.items and self.items[i]["state"] == "active"]
        return {"cursor": self._cursor(serial, page.end) if page.has_more else None, "items": items}

    def continue_page(self, cursor: str, limit: int) -> Record:
        return self._continue(cursor, limit)

    def _continue(self, cursor: str, limit: int) -> Record:
        self._check_limit(limit)
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
            serial_text, offset_text, tail = raw.split(",", 2)
            serial, offset = int(serial_text), int(offset_text)
            valid = tail.startswith(self._secret)
        except (ValueError, UnicodeDecodeError):
            valid, serial, offset = False, 0, 0
        query = self._queries.get(serial) if valid else None
        if query is None:
            raise MondayError("CursorException", "CursorException: the cursor provided for pagination is invalid",
                              error_data={"cursor": cursor})
        age = (self.clock.now() - query["issued"]).total_seconds()
        if age > float(self.config["cursor_ttl_seconds"]):
            raise MondayError(
                "CursorException",
                "CursorExpiredError: The cursor provided for pagination has expired. "
                "Please refresh your query and obtain a new cursor",
                error_data={"cursor_age_seconds": int(age)},
            )
        return self._slice(serial, offset, limit)

    def _rule(self, board: Record, rule: Record) -> Any:
        column_id, operator = rule["column_id"], rule.get("operator", "any_of")
        values = rule["compare_value"]
        values = values if isinstance(values, list) else [values]
        field = DATE_RULE_COLUMNS.get(column_id)
        if field is not None:
            days = self._rule_days(values)
            if operator == "between":
                if len(days) < 2:
                    raise MondayError("InvalidArgumentException", "between needs two dates")
                low, high = days[0], days[1]
                return lambda item: low <= item[field][:10] <= high
            if not days:
                raise MondayError("InvalidArgumentException", f"compare_value {values!r} has no date")
            day = days[0]
            tests = {
                "greater_than_or_equals": lambda item: item[field][:10] >= day,
                "greater_than": lambda item: item[field][:10] > day,
                "lower_than_or_equal": lambda item: item[field][:10] <= day,
                "lower_than": lambda item: item[field][:10] < day,
                "any_of": lambda item: item[field][:10] in days,
            }
            if operator not in tests:
                raise MondayError("InvalidArgumentException", f"operator {operator} is not supported on {column_id}")
            return tests[operator]
        column = board["column_index"].get(column_id)
        if column is None:
            raise MondayError("InvalidColumnIdException", "This column ID doesn't exist for the board",
                              error_data={"column_id": column_id, "board_id": board["id"]})
        wanted = {str(v) for v in values}

        def text_of(item: Record) -> str:
            return column_text(self, item, column)

        def index_of(item: Record) -> str:
            raw = item["column_values"].get(column_id)
            return str(raw.get("index")) if isinstance(raw, dict) and "index" in raw else ""

        if operator == "any_of":
            if column["type"] == "status":
                return lambda item: index_of(item) in wanted
            return lambda item: text_of(item) in wanted
        if operator == "not_any_of":
            return lambda item: (index_of(item) if column["type"] == "status" else text_of(item)) not in wanted
        if operator == "is_empty":
            return lambda item: text_of(item) == ""
        if operator == "is_not_empty":
            return lambda item: text_of(item) != ""
        if operator == "contains_text":
            return lambda item: any(w.lower() in text_of(item).lower() for w in wanted)
        raise MondayError("InvalidArgumentException", f"operator {operator} is not supported on {column_id}")

    def _rule_days(self, values: list[Any]) -> list[str]:
        today = self.clock.now().date()
        days: list[str] = []
        for value in values:
            text = str(value)
            if text == "EXACT":
                continue
            relative = {"TODAY": 0, "YESTERDAY": 1, "ONE_WEEK_AGO": 7, "ONE_MONTH_AGO": 30}
            if text in relative:
                days.append((today - timedelta(days=relative[text])).isoformat())
            elif re.match(r"^\d{4}-\d{2}-\d{2}", text):
                days.append(text[:10])
            else:
                raise MondayError("InvalidArgumentException", f"Invalid compare value {text!r}")
        return days

    # ------------------------------------------------------------------------ control API

    def control_objects(self) -> list[str]:
        return list(OBJECTS)

    def _store(self, obj: str) -> Collection:
        return {"boards": self.boards, "items": self.items, "users": self.users}[obj]

    def _visible(self, obj: str, record: Record) -> Record:
        if obj == "boards":
            return {k: v for k, v in record.items() if k != "column_index"}
        return json.loads(json.dumps(record))

    def _live(self, obj: str, record: Record) -> bool:
        if obj == "users":
            return bool(record.get("enabled", True))
        return record["state"] == "active"

    def control_list(self, obj: str, include_deleted: bool) -> list[Record]:
        return [self._visible(obj, r) for r in self._store(obj).values() if include_deleted or self._live(obj, r)]

    def control_get(self, obj: str, record_id: str) -> Record:
        record = self._store(obj).get(record_id)
        if record is None:
            raise ControlError(404, f"no {obj} with id {record_id}")
        return {"id": record_id, "record": self._visible(obj, record)}

    def _now(self) -> str:
        return monday_time(self.now_text())

    def now_monday(self) -> str:
        """The sandbox clock as monday renders timestamps (``2026-03-02T09:00:00Z``)."""
        return self._now()

    def random_bits(self, bits: int) -> int:
        return self._rng.getrandbits(bits)

    def new_board(self, name: str, kind: str, workspace_id: str | None,
                  columns: Any = None, groups: Any = None) -> Record:
        """An empty active board owned by the API user, with the account's columns and groups by default."""
        now = self._now()
        self._next_board += 1
        board = {
            "id": str(self._next_board), "name": name, "state": "active", "board_kind": kind, "description": None,
            "workspace_id": workspace_id, "created_at": now, "updated_at": now, "owner_ids": [self.me_id],
            "tag_ids": [],
            "columns": [{"id": c, "title": t, "type": k, "archived": False, "settings_str": "{}"}
                        for c, t, k in (columns or COLUMNS)],
            "groups": [{"id": g, "title": t, "color": c, "position": str(65536 * (i + 1)), "archived": False,
                        "deleted": False} for i, (g, t, c) in enumerate(groups or GROUPS)],
        }
        board["column_index"] = {c["id"]: c for c in board["columns"]}
        self.boards.insert(board, at=now)
        self.board_items[board["id"]] = []
        self.logs[board["id"]] = []
        return board

    def _log(self, board_id: str, event: str, item: Record, entity: str = "pulse", **extra: Any) -> None:
        data = {"board_id": int(board_id), "group_id": item.get("group_id"), "pulse_id": int(item["id"]),
                "pulse_name": item.get("name"), **extra}
        self.logs.setdefault(board_id, []).append({
            "id": f"{self._rng.getrandbits(32):08x}-{self._rng.getrandbits(16):04x}", "board_id": board_id,
            "event": event, "entity": entity, "data": json.dumps(data, separators=(",", ":"), ensure_ascii=False),
            "created_at": log_stamp(self.now_text()), "user_id": self.me_id, "account_id": str(self.account_id),
        })

    def _touch_board(self, board_id: str, now: str) -> None:
        """A change on the board's items: its ``updated_at`` moves forward to ``now``, never back."""
        board = self.boards.get(board_id)
        if board is not None and board["updated_at"] < now:
            self.boards.touch(board_id, at=now)

    def touch_item(self, item: Record, now: str) -> None:
        """Stamp ``item`` modified ``now``, and its board with it."""
        self.items.touch(item["id"], at=now)
        self._touch_board(item["board_id"], now)

    def _set_item_fields(self, item: Record, fields: dict[str, Any]) -> list[str]:
        board = self.boards[item["board_id"]]
        changed = []
        for name, value in fields.items():
            if name == "name":
                item["name"] = str(value)
            elif name == "group_id":
                if value not in {g["id"] for g in board["groups"]}:
                    raise ControlError(400, f"board {board['id']} has no group {value!r}")
                item["group_id"] = value
            elif name in ("board_id", "state", "id"):
                continue
            elif name in board["column_index"]:
                column = board["column_index"][name]
                if column["type"] == "time_tracking" and value is not None:
                    value = [dict(entry, id=entry.get("id") or self._session_id()) for entry in
                             (value if isinstance(value, list) else [value])]
                try:
                    parsed = parse_column_input(column, value, self.users, item["column_values"].get(name))
                except (ValueError, KeyError, TypeError) as exc:
                    raise ControlError(400, f"{name}: {exc}") from None
                if parsed is None:
                    item["column_values"].pop(name, None)
                else:
                    item["column_values"][name] = parsed
                changed.append(name)
            else:
                raise ControlError(400, f"board {board['id']} has no column {name!r}; known: "
                                        f"{sorted(board['column_index'])}")
        return changed

    def _session_id(self) -> str:
        self._next_session += 1
        return str(self._next_session)

    def _new_item(self, board_id: str, fields: dict[str, Any], now: str) -> Record:
        self._next_item += 1
        item = {"id": str(self._next_item), "name": str(fields.get("name") or "Nouvel élément"), "board_id": board_id,
                "group_id": GROUPS[0][0], "state": "active", "created_at": now, "updated_at": now,
                "creator_id": self.me_id, "column_values": {}}
        self.items.insert(item, at=now)
        self.board_items.setdefault(board_id, []).append(item["id"])
        return item

    def _board_for(self, fields: dict[str, Any]) -> str:
        board_id = str(fields.get("board_id") or "")
        if not board_id:
            board_id = next(b["id"] for b in self.boards_by_id(None) if b["state"] == "active")
        if board_id not in self.boards:
            raise ControlError(400, f"no board {board_id}")
        return board_id

    def control_create(self, obj: str, body: dict[str, Any]) -> Record:
        fields = dict(body.get("fields") or {})
        now = self._now()
        if obj == "items":
            board_id = self._board_for(fields)
            item = self._new_item(board_id, fields, now)
            self._set_item_fields(item, fields)
            self._log(board_id, "create_pulse", item)
            self._touch_board(board_id, now)
            return {"id": item["id"], "record": self._visible(obj, item)}
        if obj == "boards":
            board = self.new_board(str(fields.get("name") or "Nouveau tableau"), fields.get("board_kind", "public"),
                                   "4100001")
            board["description"] = fields.get("description")
            return {"id": board["id"], "record": self._visible(obj, board)}
        self._next_user += 1
        user = {"id": str(self._next_user), "name": str(fields.get("name") or "Nouvel utilisateur"),
                "email": str(fields.get("email") or f"user{self._next_user}@example.fr"), "title": fields.get("title"),
                "enabled": True, "is_admin": False, "is_guest": False, "time_zone_identifier": "Europe/Paris",
                "created_at": now}
        self.users.insert(user, at=now)
        return {"id": user["id"], "record": dict(user)}

    def control_update(self, obj: str, record_id: str, body: dict[str, Any]) -> Record:
        record = self._store(obj).get(record_id)
        if record is None:
            raise ControlError(404, f"no {obj} with id {record_id}")
        fields = dict(body.get("fields") or {})
        now = self._now()
        if obj == "items":
            if record["state"] == "deleted":
                raise ControlError(404, f"item {record_id} is deleted")
            self._set_item_fields(record, fields)
            state = fields.get("state")
            if state is not None and state != record["state"]:
                if state not in ("active", "archived", "deleted"):
                    raise ControlError(400, "state must be active, archived or deleted")
                record["state"] = state
                event = {"archived": "archive_pulse", "deleted": "delete_pulse", "active": "restore_pulse"}[state]
                self._log(record["board_id"], event, record)
            else:
                self._log(record["board_id"], "update_column_value", record)
            self.touch_item(record, now)
        elif obj == "boards":
            for name in ("name", "description", "board_kind"):
                if name in fields:
                    record[name] = fields[name]
            if "state" in fields:
                if fields["state"] not in ("active", "archived", "deleted"):
                    raise ControlError(400, "state must be active, archived or deleted")
                record["state"] = fields["state"]
            for group in fields.get("groups") or []:
                match = next((g for g in record["groups"] if g["id"] == group.get("id")), None)
                if match is None:
                    record["groups"].append({"id": group["id"], "title": group.get("title", group["id"]),
                                             "color": group.get("color", "#c4c4c4"),
                                             "position": str(65536 * (len(record["groups"]) + 1)),
                                             "archived": False, "deleted": False})
                else:
                    match.update({k: v for k, v in group.items() if k != "id"})
            self.boards.touch(record_id, at=now)
        else:
            self.users.update(record_id, {k: v for k, v in fields.items() if k not in ("id", "created_at")})
        return {"id": record_id, "record": self._visible(obj, record)}

    def control_delete(self, obj: str, record_id: str) -> Record:
        if obj == "users":
            return self.control_update(obj, record_id, {"fields": {"enabled": False}})
        record = self._store(obj).get(record_id)
        if record is None or record["state"] == "deleted":
            raise ControlError(404, f"no live {obj} with id {record_id}")
        return self.control_update(obj, record_id, {"fields": {"state": "deleted"}})

    def control_bulk(self, obj: str, create: int, touch: int, fields: dict[str, Any]) -> dict[str, Any]:
        if obj != "items":
            raise ControlError(400, "bulk is supported for items only")
        now = self._now()
        board_id = self._board_for(fields)
        live = [i for i in self.items.values() if i["state"] == "active"]
        if touch > len(live):
            raise ControlError(400, f"cannot touch {touch} items: only {len(live)} are active")
        touched = self._rng.sample(live, touch) if touch else []
        template = {k: v for k, v in fields.items() if k != "board_id"}
        created = []
        for n in range(create):
            item = self._new_item(board_id, {"name": f"Tâche générée {n + 1:07d}"}, now)
            if template:
                self._set_item_fields(item, template)
            self._log(board_id, "create_pulse", item)
            created.append(item["id"])
        for item in touched:
            if template:
                self._set_item_fields(item, template)
            self.touch_item(item, now)
        if create:
            self._touch_board(board_id, now)
        result: dict[str, Any] = {"object": obj, "stamp": now, "created": create, "touched": touch}
        if create + touch <= 10_000:
            result["created_ids"], result["touched_ids"] = created, [i["id"] for i in touched]
        return result


# ------------------------------------------------------------------- type field resolvers

def _app(info: Any) -> MondayApp:
    return info.context["app"]


def _board_columns(board: Record, info: Any, ids: list[str] | None = None,
                   types: list[str] | None = None) -> list[Record]:
    return [c for c in board["columns"] if (ids is None or c["id"] in ids) and (types is None or c["type"] in types)]


def _board_groups(board: Record, info: Any, ids: list[str] | None = None) -> list[Record]:
    return [g for g in board["groups"] if not g.get("deleted") and (ids is None or g["id"] in ids)]


def _board_owners(board: Record, info: Any) -> list[Record]:
    users = _app(info).users
    return [users[u] for u in board.get("owner_ids", []) if u in users]


def _board_items_count(board: Record, info: Any) -> int:
    app = _app(info)
    return sum(1 for i in app.board_items.get(board["id"], []) if app.items[i]["state"] == "active")


def _board_items_page(board: Record, info: Any, **args: Any) -> Record:
    return _app(info).items_page(board, **args)


def _board_activity_logs(board: Record, info: Any, limit: int = 25, page: int = 1, item_ids: list[str] | None = None,
                         user_ids: list[str] | None = None, column_ids: list[str] | None = None,
                         group_ids: list[str] | None = None, **bounds: Any) -> list[Record]:
    low = stamp_of_iso(bounds["from"]) if bounds.get("from") else None
    high = stamp_of_iso(bounds["to"]) if bounds.get("to") else None
    wanted_items = {str(i) for i in item_ids} if item_ids else None
    wanted_users = {str(u) for u in user_ids} if user_ids else None
    selected = []
    for entry in reversed(_app(info).logs.get(board["id"], [])):
        stamp = int(entry["created_at"])
        if (low is not None and stamp < low) or (high is not None and stamp > high):
            continue
        if wanted_users is not None and entry["user_id"] not in wanted_users:
            continue
        data = json.loads(entry["data"])
        if wanted_items is not None and str(data.get("pulse_id")) not in wanted_items:
            continue
        if column_ids and data.get("column_id") not in column_ids:
            continue
        if group_ids and data.get("group_id") not in group_ids:
            continue
        selected.append(entry)
    return page_of(selected, limit, page)


def _item_board(item: Record, info: Any) -> Record:
    return _app(info).boards[item["board_id"]]


def _item_group(item: Record, info: Any) -> Record | None:
    board = _app(info).boards[item["board_id"]]
    return next((g for g in board["groups"] if g["id"] == item["group_id"]), None)


def _install_resolvers() -> None:
    fields = {
        ("Board", "columns"): _board_columns,
        ("Board", "groups"): _board_groups,
        ("Board", "owners"): _board_owners,
        ("Board", "items_count"): _board_items_count,
        ("Board", "items_page"): _board_items_page,
        ("Board", "activity_logs"): _board_activity_logs,
        ("Item", "board"): _item_board,
        ("Item", "group"): _item_group,
        **FIELD_READS,
    }
    for (type_name, field_name), resolver in fields.items():
        SCHEMA.type_map[type_name].fields[field_name].resolve = resolver  # type: ignore[union-attr]
    for field_name, field in SCHEMA.type_map["Query"].fields.items():  # type: ignore[union-attr]
        field.resolve = _bound(ROOT_READS[field_name]) if field_name in ROOT_READS else _root(field_name)
    for field_name, field in SCHEMA.type_map["Mutation"].fields.items():  # type: ignore[union-attr]
        field.resolve = _bound(MUTATIONS[field_name])


def _root(field_name: str) -> Any:
    def resolve(_root_value: Any, info: Any, **args: Any) -> Any:
        return getattr(_app(info), f"q_{field_name}")(info, **args)

    return resolve


def _bound(function: Any) -> Any:
    """A resolver calling ``function(app, info, **args)`` on the app serving the request."""
    def resolve(_root_value: Any, info: Any, **args: Any) -> Any:
        return function(_app(info), info, **args)

    return resolve


_install_resolvers()
