"""QuickBooks Online Accounting API emulator: Intuit's token endpoint and the v3 API of one company.

Behaviour follows ``vendor-apis-pm.md`` §7:

- OAuth: ``POST /oauth2/v1/tokens/bearer`` (HTTP Basic client id and secret, ``refresh_token`` grant)
  answers a new refresh token every time (see :mod:`passerelle_sandbox.quickbooks_auth` for the 24-hour
  grace of the previous one and the expiry of unused ones) and an access token valid ``expires_in``
  seconds (3600); refusals are ``400 {"error": "invalid_grant"}`` and the like. The discovery document
  (``/.well-known/openid_configuration/``) lets intuit-oauth find the token endpoint here;
- API under ``/v3/company/{realmId}/``: ``query`` (GET, or POST with the query as an
  ``application/text`` body; see :mod:`passerelle_sandbox.quickbooks_query`), read-one
  ``{entity}/{id}``, ``companyinfo/{realmId}`` and ``cdc?entities=…&changedSince=…``: a look-back of at
  most 30 days, at most 1,000 objects in all shared by the entities asked (the rest dropped without a
  word), deleted objects after the others as ``{"status": "Deleted", …}``, no paging, TimeActivity refused;
- errors: 401 ``AuthenticationFailed`` Fault, 403 for another company, a request refused on its merits
  as a ``ValidationFault`` in HTTP 200, more than 500 requests a minute for the company 429
  ``ThrottleExceeded`` (no ``Retry-After``: wait 60 s); an ``intuit_tid`` header on every answer;
- writes (create, update, delete, void, ``batch``): see :mod:`passerelle_sandbox.quickbooks_writes`;
- ``minorversion`` is taken whatever it says: below 75 or missing is served as 75, the oldest version
  Intuit still serves, which is the shape this emulator answers.

Name-list objects (Customer, Item) are never deleted, only made inactive (``Active`` false, QuickBooks
then appends `` (deleted)`` to the name); the control API refuses to delete them.
"""

from __future__ import annotations

import copy
import itertools
import random
import secrets
import time
from datetime import timedelta
from decimal import Decimal
from typing import Any

from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Response

from passerelle_sandbox.clock import canonical, canonicalize, parse_instant
from passerelle_sandbox.core import Call, ControlError, VendorApp, VendorError, bearer_token, json_response
from passerelle_sandbox.dataset_quickbooks import EMPLOYEES, build_quickbooks_dataset
from passerelle_sandbox.faults import FaultSpec
from passerelle_sandbox.oauth import TokenRequest
from passerelle_sandbox.quickbooks_auth import RefreshTokens
from passerelle_sandbox.quickbooks_model import (
    BY_LOWER,
    ENTITIES,
    EUR,
    TRANSACTIONS,
    Record,
    authentication_fault,
    cents,
    fault,
    ref,
    render,
    render_time,
    sales_lines,
    settle,
    throttle_fault,
    validation_fault,
)
from passerelle_sandbox.quickbooks_query import QueryError, parse_query, run_query
from passerelle_sandbox.quickbooks_writes import STAMPS, QuickBooksWrites
from passerelle_sandbox.rate_limits import SlidingWindow
from passerelle_sandbox.store import Collection, Tombstone

CLIENT_ID = "ABq7Xk2mP9wR4tY8uN3vB6cZ1dF5gH0jL2sA4eQ7rT9yU1iO3p"
CLIENT_SECRET = "Qw3eR5tY7uI9oP1aS3dF5gH7jK9lZ2xC4vB6nM8q"
REFRESH_TOKEN = "AB11779542381pXq3Lr8Ks2Tn6Vw0Yz4Bc7Df1Gh5Jk9Mn3Pq"
ACCESS_PREFIX = "eyJlbmMiOiJBMTI4Q0JDLUhTMjU2IiwiYWxnIjoiZGlyIn0.."
API = "/v3/company/<realm>"
MONEY = frozenset({"TotalAmt", "Amount", "UnitPrice", "HourlyRate", "UnappliedAmt", "PurchaseCost"})
DERIVED = frozenset({"Id", "SyncToken", "MetaData", "Balance", "RemainingCredit", "UnappliedAmt", "LinkedTxn",
                     "TxnTaxDetail", "domain", "sparse"})


def _rule(path: str, endpoint: str, methods: tuple[str, ...] = ("GET",)) -> Rule:
    return Rule(path, endpoint=endpoint, methods=list(methods))


class QuickBooksApp(QuickBooksWrites, VendorApp):
    vendor = "quickbooks"
    public_endpoints = frozenset({"discovery", "token"})
    url_map = Map([
        _rule("/.well-known/openid_configuration/", "discovery"),
        _rule("/oauth2/v1/tokens/bearer", "token", ("POST",)),
        _rule(f"{API}/query", "query", ("GET", "POST")),
        _rule(f"{API}/batch", "batch", ("POST",)),
        _rule(f"{API}/cdc", "cdc"),
        _rule(f"{API}/companyinfo/<record_id>", "company_info"),
        _rule(f"{API}/<entity>/<record_id>", "read"),
        _rule(f"{API}/<entity>", "write", ("POST",)),
    ], strict_slashes=False)

    def __init__(self, dataset: dict[str, Any]) -> None:
        self._requests = SlidingWindow(60.0, lambda: int(self.config["requests_per_minute"]))
        self._batches = SlidingWindow(60.0, lambda: int(self.config["batch_requests_per_minute"]))
        self._bulk_serial = itertools.count(1)
        self._drawn: Record | None = None
        super().__init__(dataset)
        self.refresh_tokens = RefreshTokens(REFRESH_TOKEN, self.clock.now())

    # ----------------------------------------------------------------------------- setup

    def default_config(self) -> dict[str, Any]:
        return {"enforce_rate_limits": True, "requests_per_minute": 500, "cdc_max_objects": 1000,
                "cdc_lookback_days": 30, "batch_requests_per_minute": 40, "access_token_expires_in": 3600,
                "refresh_token_expires_in": 8_726_400,
                "refresh_token_grace_hours": 24}

    def on_reset(self) -> None:
        self._requests.clear()
        self._batches.clear()
        self.refresh_tokens.renew_initial(self.clock.now())

    def load(self) -> None:
        if "quickbooks" in self.dataset:
            section = self.dataset["quickbooks"]
        else:  # drawn once: a reset copies it again
            self._drawn = self._drawn or build_quickbooks_dataset(self.dataset)
            section = self._drawn
        self.realm_id = str(section["realm_id"])
        sign, hours, minutes = section["time_zone_offset"][0], *section["time_zone_offset"][1:].split(":")
        self.offset = timedelta(hours=int(hours), minutes=int(minutes)) * (1 if sign == "+" else -1)
        self.company: Record = _exact(_copy(section["company"]))
        self.store: dict[str, Collection] = {}
        for name in ENTITIES:
            self.store[name] = Collection(STAMPS, self.clock, key="Id", order=int, lock=self.lock)
            self.store[name].load(_exact(_copy(r)) for r in section["entities"].get(name, []))
        for gone in section.get("deleted", []):
            self.store[gone["entity"]].bury(Tombstone(str(gone["Id"]), {"Id": gone["Id"]}, canonicalize(gone["deleted"])))
        used = [(name, int(i)) for name, records in self.store.items()
                for i in [*records, *(t.id for t in records.tombstones())]]
        self._last_id = {name: max((i for e, i in used if e == name), default=0) for name in ENTITIES}
        self._last_id["Transaction"] = max((i for e, i in used if e in TRANSACTIONS), default=0)
        self._rng = random.Random(f"{self.dataset.get('seed') or 1}:quickbooks:sandbox")

    def public_credentials(self) -> dict[str, str]:
        return {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "realm_id": self.realm_id,
                "refresh_token": REFRESH_TOKEN}

    def _time(self) -> str:
        """The ``time`` of an answer: now in the company's offset, with milliseconds."""
        moment = self.clock.now() + self.offset
        minutes = int(self.offset.total_seconds()) // 60
        return (moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"
                + f"{'+' if minutes >= 0 else '-'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}")

    # -------------------------------------------------------------------------- pipeline

    def authenticate(self, call: Call) -> Any:
        token = bearer_token(call.request)
        if token is None or self.tokens.check(token)[0] != "valid":
            raise authentication_fault(self._time())
        if call.path.split("/")[3] != self.realm_id:
            raise fault(403, "AuthorizationFault", "003100",
                        "message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403", now=self._time())
        return {"kind": "bearer"}

    def enforce_limits(self, call: Call) -> None:
        if self.config["enforce_rate_limits"] and not self._requests.take():
            raise throttle_fault()

    def decorate(self, call: Call, response: Response) -> None:
        response.headers.setdefault("intuit_tid", f"1-{int(time.time()):08x}-{secrets.token_hex(12)}")

    def fault_response(self, call: Call, fault_spec: FaultSpec) -> Response:
        if fault_spec.kind == "rate_limit":
            error = throttle_fault()
            if fault_spec.retry_after is not None:
                error.headers["Retry-After"] = str(fault_spec.retry_after)
            return error.response()
        return fault(fault_spec.status or 500, "SystemFault", fault_spec.error_code or "10000",
                     fault_spec.message or "An application error has occurred while processing your request",
                     "System Failure Error: An unexpected error occurred while accessing or saving your data.",
                     self._time()).response()

    def _unsupported(self, call: Call) -> Response:
        return fault(400, "ValidationFault", "500", "Unsupported Operation",
                     f"Operation {call.request.method} {call.path} is not supported.", self._time()).response()

    def not_found(self, call: Call) -> Response:
        return self._unsupported(call)

    def method_not_allowed(self, call: Call, allowed: list[str]) -> Response:
        return self._unsupported(call)

    def internal_error(self, call: Call) -> Response:
        return fault(500, "SystemFault", "10000", "An application error has occurred while processing your request",
                     "System Failure Error: An unexpected error occurred.", self._time()).response()

    def strip_id(self, payload: Any) -> bool:
        response = payload.get("QueryResponse") if isinstance(payload, dict) else None
        for name in ENTITIES:
            for record in (response or {}).get(name, []):
                if isinstance(record, dict) and "Id" in record:
                    del record["Id"]
                    return True
        return False

    # ------------------------------------------------------------------------------ OAuth

    def on_discovery(self, call: Call) -> Response:
        base = self.base_url
        return json_response({
            "issuer": "https://oauth.platform.intuit.com/op/v1", "authorization_endpoint": f"{base}/connect/oauth2",
            "token_endpoint": f"{base}/oauth2/v1/tokens/bearer",
            "userinfo_endpoint": f"{base}/v1/openid_connect/userinfo",
            "revocation_endpoint": f"{base}/oauth2/v1/tokens/revoke", "jwks_uri": f"{base}/op/v1/jwks",
            "response_types_supported": ["code"], "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"], "scopes_supported": [
                "openid", "email", "profile", "address", "phone", "com.intuit.quickbooks.accounting"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "claims_supported": ["aud", "exp", "iat", "iss", "realmid", "sub"]})

    def on_token(self, call: Call) -> Response:
        request = TokenRequest.read(call.request)
        if not request.basic or not request.client_is(CLIENT_ID, CLIENT_SECRET):
            raise VendorError(401, {"error": "invalid_client"})
        if request.grant_type != "refresh_token":
            error = "invalid_grant" if request.grant_type == "authorization_code" else "unsupported_grant_type"
            raise VendorError(400, {"error": error})
        if not request.get("refresh_token"):
            raise VendorError(400, {"error": "invalid_request"})
        lifetime = int(self.config["refresh_token_expires_in"])
        successor = self.refresh_tokens.redeem(request.get("refresh_token"), self.clock.now(),
                                               timedelta(hours=float(self.config["refresh_token_grace_hours"])),
                                               timedelta(seconds=lifetime))
        if successor is None:
            raise VendorError(400, {"error": "invalid_grant"})
        expires_in = int(self.config["access_token_expires_in"])
        access = self.tokens.issue(ACCESS_PREFIX, ttl=expires_in, nbytes=96)
        return json_response({"token_type": "bearer", "access_token": access, "expires_in": expires_in,
                              "refresh_token": successor, "x_refresh_token_expires_in": lifetime})

    # -------------------------------------------------------------------------------- API

    def _queryable(self, entity: str) -> set[str]:
        records = [self.company] if entity == "CompanyInfo" else self.store[entity].values()
        return {"Id", *(key for record in records for key in record)}

    def _answer(self, body: Record) -> Response:
        body["time"] = self._time()
        return json_response(body)

    def on_query(self, call: Call, realm: str) -> Response:
        request = call.request
        text = request.args.get("query") or (request.get_data(as_text=True) if request.method == "POST" else "")
        with self.lock:
            try:
                query = parse_query(text or "", self._queryable)
            except QueryError as exc:
                raise validation_fault(exc.code, exc.message, exc.detail, self._time()) from None
            records = [self.company] if query.entity == "CompanyInfo" else list(self.store[query.entity].values())
            if query.entity in ENTITIES and ENTITIES[query.entity].name_list and not query.mentions("Active"):
                records = [r for r in records if r["Active"]]
            rows = run_query(query, records)
            if query.count:
                return self._answer({"QueryResponse": {"totalCount": len(rows)}})
            page = rows[query.start - 1:query.start - 1 + query.max_results]
            answer: Record = {}
            if page:
                answer = {query.entity: [render(r, self.offset) for r in page], "startPosition": query.start,
                          "maxResults": len(page)}
            return self._answer({"QueryResponse": answer})

    def on_read(self, call: Call, realm: str, entity: str, record_id: str) -> Response:
        name = BY_LOWER.get(entity.lower())
        if name not in ENTITIES:
            return self._unsupported(call)
        with self.lock:
            record = self.store[name].get(record_id)
            if record is None:
                raise validation_fault("610", "Object Not Found", "Object Not Found : Something you're trying to use "
                                       "has been made inactive. Check the fields with accounts, customers, items, "
                                       "vendors or employees.", self._time())
            return self._answer({name: render(record, self.offset)})

    def on_company_info(self, call: Call, realm: str, record_id: str) -> Response:
        if record_id != self.realm_id:
            raise validation_fault("610", "Object Not Found", f"Object Not Found : CompanyInfo {record_id}",
                                   self._time())
        return self._answer({"CompanyInfo": render(self.company, self.offset)})

    def on_cdc(self, call: Call, realm: str) -> Response:
        args, now = call.request.args, self.clock.now()
        asked = [name.strip() for name in args.get("entities", "").split(",") if name.strip()]
        if not asked:
            raise validation_fault("4000", "Invalid Request", "entities parameter is required", self._time())
        names = []
        for asked_name in asked:
            name = BY_LOWER.get(asked_name.lower())
            if name not in ENTITIES:
                raise validation_fault("4000", "Invalid Request", f"Invalid entity: {asked_name}", self._time())
            if not ENTITIES[name].in_cdc:
                raise validation_fault("4000", "Invalid Request", f"ChangeDataCapture is not supported for {name}",
                                       self._time())
            names.append(name)
        try:
            since = parse_instant(args.get("changedSince", ""))
        except ValueError:
            raise validation_fault("4000", "Invalid Request", "changedSince must be an ISO-8601 date-time",
                                   self._time()) from None
        if since < now - timedelta(days=int(self.config["cdc_lookback_days"])):
            raise validation_fault("4001", "Invalid Request", "changedSince cannot be older than "
                                   f"{self.config['cdc_lookback_days']} days", self._time())
        floor, budget = canonical(since), int(self.config["cdc_max_objects"])
        with self.lock:
            answers: dict[str, list[Record]] = {name: [] for name in names}
            for name in names:  # active objects first, for every entity, then the deleted ones
                changed = self.store[name].changed_since(floor, limit=max(0, budget))
                answers[name] += [render(r, self.offset) for r in changed]
                budget -= self.store[name].count_between(floor)
            for name in names:
                gone = self.store[name].deleted_since(floor, limit=max(0, budget))
                answers[name] += [{"status": "Deleted", "domain": "QBO", "Id": t.record["Id"],
                                   "MetaData": {"LastUpdatedTime": render_time(t.deleted_at, self.offset)}}
                                  for t in gone]
                budget -= len(self.store[name].deleted_since(floor))
        responses = [{name: rows, "startPosition": 1, "maxResults": len(rows)} if rows else {}
                     for name, rows in answers.items()]
        return self._answer({"CDCResponse": [{"QueryResponse": responses}]})

    # ---------------------------------------------------------------------- control hooks

    def control_objects(self) -> list[str]:
        return list(ENTITIES)

    def _record(self, obj: str, record_id: str) -> Record:
        record = self.store[obj].get(str(record_id))
        if record is None:
            raise ControlError(404, f"no {obj} with Id {record_id}")
        return record

    def control_list(self, obj: str, include_deleted: bool) -> list[Record]:
        records = [render(r, self.offset) for r in sorted(self.store[obj].values(), key=lambda r: int(r["Id"]))]
        if include_deleted:
            records += [{"Id": t.record["Id"], "status": "Deleted", "deleted": t.deleted_at}
                        for t in self.store[obj].tombstones()]
        return records

    def control_get(self, obj: str, record_id: str) -> Record:
        return {"id": str(record_id), "record": render(self._record(obj, record_id), self.offset)}

    def _now(self) -> str:
        return canonical(self.clock.now().replace(microsecond=0))

    def _next_id(self, obj: str) -> str:
        key = "Transaction" if obj in TRANSACTIONS else obj
        self._last_id[key] += 1
        return str(self._last_id[key])

    def _ref(self, field: str, value: Any) -> Record:
        """``"12"`` or ``{"value": "12"}`` → the reference with the name QuickBooks adds."""
        record_id = str(value["value"] if isinstance(value, dict) else value)
        if field == "EmployeeRef":
            names = dict(EMPLOYEES)
            if record_id not in names:
                raise ControlError(400, f"no employee with Id {record_id}")
            return ref(record_id, names[record_id])
        entity = field[:-3]
        target = self.store.get(entity, {}).get(record_id)
        if target is None:
            raise ControlError(400, f"{field}: no {entity} with Id {record_id}")
        return ref(record_id, target.get("DisplayName") or target.get("Name"))

    def _set(self, obj: str, record: Record, fields: dict[str, Any]) -> None:
        for name, value in fields.items():
            if name in DERIVED:
                raise ControlError(400, f"{name} is set by QuickBooks")
            if name.endswith("Ref") and name != "CurrencyRef" and value is not None:
                value = self._ref(name, value)
            record[name] = _exact(value, name)
        if obj in ("Invoice", "CreditMemo") and "Line" in fields:
            try:
                lines, tax, total = sales_lines(self.store["Item"], [
                    {**line, "ItemRef": str(line["ItemRef"]["value"] if isinstance(line["ItemRef"], dict)
                                            else line["ItemRef"])} for line in fields["Line"]])
            except (KeyError, TypeError) as exc:
                raise ControlError(400, f"Line must be [{{'ItemRef', 'Qty', 'UnitPrice'?}}] of existing items: "
                                        f"{exc}") from None
            record.update(Line=lines, TxnTaxDetail=tax, TotalAmt=total)
        if obj == "Payment":
            for line in record.get("Line", []):
                for linked in line.get("LinkedTxn", []):
                    if str(linked.get("TxnId")) not in self.store.get(linked.get("TxnType", ""), {}):
                        raise ControlError(400, f"Payment line links no existing {linked.get('TxnType')} "
                                                f"{linked.get('TxnId')}")
                    linked["TxnId"] = str(linked["TxnId"])
        if obj in ("Customer", "Item"):
            key = "DisplayName" if obj == "Customer" else "Name"
            if any(r[key] == record[key] and r["Id"] != record["Id"] for r in self.store[obj].values()):
                raise ControlError(400, f"Duplicate Name Exists Error: {record[key]!r}")
            record["FullyQualifiedName"] = record[key]

    def _settle(self, now: str, written: tuple[str, str] | None = None) -> None:
        """Payments moved balances: the invoices and credit memos they touch are modified now too.

        The ``written`` object, stamped once by its own write, is left out.
        """
        for entity, record_id in settle(self.store):
            if (entity, record_id) != written:
                self.store[entity].touch(record_id, at=now)

    def _defaults(self, obj: str, now: str) -> Record:
        today = (self.clock.now() + self.offset).date()
        record: Record = {"Id": self._next_id(obj), "SyncToken": "-1", "domain": "QBO", "sparse": False,
                          "MetaData": {"CreateTime": now, "LastUpdatedTime": now}}
        if obj == "Customer":
            record.update(Active=True, Taxable=True, Job=False, BillWithParent=False, IsProject=False,
                          CurrencyRef=dict(EUR), PreferredDeliveryMethod="Email")
        elif obj == "Item":
            record.update(Active=True, Taxable=True, Type="Service", UnitPrice=Decimal("0.00"),
                          IncomeAccountRef=ref("79", "Ventes de prestations"), PurchaseCost=Decimal("0.00"),
                          TrackQtyOnHand=False, SalesTaxCodeRef=ref("2"))
        elif obj in ("Invoice", "CreditMemo"):
            record.update(DocNumber=str(1000 + self._last_id["Transaction"]), TxnDate=today.isoformat(),
                          CurrencyRef=dict(EUR), ExchangeRate=Decimal("1"), Line=[], PrintStatus="NotSet",
                          EmailStatus="NotSet", ApplyTaxAfterDiscount=False, TotalAmt=Decimal("0.00"))
            if obj == "Invoice":
                record["DueDate"] = (today + timedelta(days=30)).isoformat()
        elif obj == "Payment":
            record.update(TxnDate=today.isoformat(), CurrencyRef=dict(EUR), ProcessPayment=False, Line=[],
                          DepositToAccountRef=ref("35", "512000 Banque"))
        else:
            record.update(TxnDate=today.isoformat(), NameOf="Employee", BillableStatus="Billable", Taxable=True,
                          Hours=1, Minutes=0, HourlyRate=Decimal("85.00"), TransactionLocationType="WithinFrance")
        return record

    def control_create(self, obj: str, body: dict[str, Any]) -> Record:
        now, fields = self._now(), dict(body.get("fields", {}))
        required = {"Customer": ("DisplayName",), "Item": ("Name",), "Invoice": ("CustomerRef", "Line"),
                    "CreditMemo": ("CustomerRef", "Line"), "Payment": ("CustomerRef",),
                    "TimeActivity": ("EmployeeRef", "CustomerRef")}[obj]
        missing = [name for name in required if name not in fields]
        if missing:
            raise ControlError(400, f"{obj} needs {', '.join(missing)}")
        record = self._defaults(obj, now)
        if obj == "Payment" and "TotalAmt" not in fields:
            fields["TotalAmt"] = sum((Decimal(str(line["Amount"])) for line in fields.get("Line", [])), Decimal("0"))
        self._set(obj, record, fields)
        self.store[obj].insert(record, at=now)
        self._settle(now)
        return {"id": record["Id"], "record": render(record, self.offset)}

    def control_update(self, obj: str, record_id: str, body: dict[str, Any]) -> Record:
        record, now = self._record(obj, record_id), self._now()
        self._set(obj, record, body.get("fields", {}))
        if obj == "Customer" and record["Active"] is False and not record["DisplayName"].endswith(" (deleted)"):
            record["DisplayName"] = record["FullyQualifiedName"] = f"{record['DisplayName']} (deleted)"
        self.store[obj].touch(record["Id"], at=now)
        self._settle(now)
        return {"id": record["Id"], "record": render(record, self.offset)}

    def control_delete(self, obj: str, record_id: str) -> Record:
        record, now = self._record(obj, record_id), self._now()
        if not ENTITIES[obj].deletable:
            raise ControlError(400, f"QuickBooks does not delete a {obj}: make it inactive (Active false)")
        if obj in ("Invoice", "CreditMemo") and any(
                linked["TxnId"] == record["Id"] and linked["TxnType"] == obj
                for payment in self.store["Payment"].values() for line in payment["Line"]
                for linked in line.get("LinkedTxn", [])):
            raise ControlError(400, f"{obj} {record_id} has payments linked to it: delete them first")
        self.store[obj].delete(record["Id"], at=now)
        self._settle(now)
        return {"id": record["Id"], "record": render(record, self.offset)}

    def control_bulk(self, obj: str, create: int, touch: int, fields: dict[str, Any]) -> dict[str, Any]:
        """Create copies of random objects and touch others, all with one identical LastUpdatedTime."""
        now, live = self._now(), list(self.store[obj].values())
        if touch > len(live):
            raise ControlError(400, f"cannot touch {touch} {obj} objects: only {len(live)} exist")
        touched = self._rng.sample(live, touch) if touch else []
        created = []
        for _ in range(create):
            if not live:
                raise ControlError(400, f"no {obj} to copy")
            record = _copy(self._rng.choice(live))
            record.update(Id=self._next_id(obj), SyncToken="0", MetaData={"CreateTime": now, "LastUpdatedTime": now})
            serial = next(self._bulk_serial)
            if obj == "Customer":
                record["DisplayName"] = record["FullyQualifiedName"] = f"Sandbox Bulk Customer {serial:07d}"
            elif obj == "Item":
                record["Name"] = record["FullyQualifiedName"] = f"Sandbox Bulk Item {serial:07d}"
            elif obj in ("Invoice", "CreditMemo"):
                record["DocNumber"] = f"BULK-{serial:07d}"
            elif obj == "Payment":  # a copy must not pay the same invoices twice
                record["Line"] = []
            self.store[obj].insert(record, at=now)
            created.append(record["Id"])
        for record in touched:
            self._set(obj, record, fields)
            self.store[obj].touch(record["Id"], at=now)
        self._settle(now)
        return {"object": obj, "stamp": now, "created": create, "touched": touch, "created_ids": created,
                "touched_ids": [r["Id"] for r in touched]}


def _exact(value: Any, name: str = "") -> Any:
    """Amounts as two-place Decimals, other numbers as Decimals, whatever JSON they came in."""
    if isinstance(value, dict):
        return {k: _exact(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_exact(v, name) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float):
        value = Decimal(repr(value))
    if name in MONEY:
        try:
            return cents(value)
        except ArithmeticError:
            raise ControlError(400, f"{name} must be a number (digits as a string keep them exact), "
                                    f"got {value!r}") from None
    return value


def _copy(record: Record) -> Record:
    out = copy.deepcopy(record)
    out["MetaData"] = {k: canonicalize(v) if isinstance(v, str) else v for k, v in out["MetaData"].items()}
    return out
