"""Salesforce REST API emulator: OAuth token endpoint, describe, SOQL query/queryAll with cursors.

Behaviour follows the vendor documentation summarised in ``vendor-apis-crm.md`` §1: tokens with
``instance_url`` and no ``expires_in``; ``INVALID_SESSION_ID`` 401s; ``query`` hides soft-deleted
rows and ``queryAll`` shows them with ``IsDeleted=true``; pages of up to 2,000 rows (tunable with
``Sforce-Query-Options: batchSize=N``) linked by ``nextRecordsUrl`` ``/services/data/vXX.X/query/
<locator>-<offset>``; datetimes rendered ``2026-03-01T10:00:00.000+0000``; ``Sforce-Limit-Info`` on
every REST response and throttling as HTTP 403 ``REQUEST_LIMIT_EXCEEDED``.

A query's result list is filtered and sorted once, kept behind its locator, and pages slice it,
so paging through a million rows costs one sort, not one per page.

Logins take the refresh-token, JWT bearer (audience ``https://login.salesforce.com``,
``https://test.salesforce.com`` or this login URL) and client-credentials grants (client id and
secret in the form or as HTTP Basic), plus the SOAP partner login (``salesforce_soap``). Writes,
Composite resources, SOSL search, Bulk API 2.0 query and ingest jobs and Bulk API 1.0 live in
``salesforce_writes``, ``salesforce_composite``, ``salesforce_sosl``, ``salesforce_bulk2``,
``salesforce_bulk_ingest`` and ``salesforce_bulk1``; ``/limits`` lists the org limits of ``salesforce_limits``.
"""

from __future__ import annotations

import itertools
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
from werkzeug.routing import BaseConverter, Map, Rule
from werkzeug.wrappers import Response

from passerelle_sandbox.clock import canonical, parse_instant, salesforce_datetime
from passerelle_sandbox.core import Call, ControlError, VendorApp, VendorError, json_response
from passerelle_sandbox.faults import FaultSpec
from passerelle_sandbox.ids import SALESFORCE_KEY_PREFIXES, SalesforceIdSequence, salesforce_id
from passerelle_sandbox.oauth import TokenRequest
from passerelle_sandbox.paging import offset_page
from passerelle_sandbox.rate_limits import Budget
from passerelle_sandbox.salesforce_auth import JWT_GRANT, SalesforceCredentials, token_signature
from passerelle_sandbox.salesforce_bulk1 import AsyncJob, BulkV1
from passerelle_sandbox.salesforce_bulk2 import Bulk2Queries, QueryJob
from passerelle_sandbox.salesforce_bulk_ingest import BulkIngest, IngestJob
from passerelle_sandbox.salesforce_limits import org_limits
from passerelle_sandbox.salesforce_schema import (
    SYSTEM_MANAGED,
    describe_field,
    field_def,
    infer_schema,
    normalize_values,
)
from passerelle_sandbox.salesforce_cases import PREFIXES as CASE_PREFIXES
from passerelle_sandbox.salesforce_cases import stamp_case, support_schemas
from passerelle_sandbox.salesforce_composite import CompositeResources
from passerelle_sandbox.salesforce_soap import SoapLogin
from passerelle_sandbox.salesforce_sosl import SoslSearch
from passerelle_sandbox.salesforce_tooling import ToolingFields
from passerelle_sandbox.salesforce_writes import SalesforceWrites, etag
from passerelle_sandbox.soql import CompiledQuery, ObjectSchema, SoqlError, compile_query, execute
from passerelle_sandbox.soql_aggregate import render_aggregate
from passerelle_sandbox.soql_relations import child_relationships, column_renderer, describe_child
from passerelle_sandbox.store import Collection, Stamps

log = logging.getLogger(__name__)

Record = dict[str, Any]
API_VERSION = "62.0"
DEFAULT_BATCH = 2000
MIN_BATCH = 200
MAX_CURSORS = 200
MAX_CURSOR_ROWS = 20_000_000
ID_LIMIT = 600_000
STAMPS = Stamps(modified="SystemModstamp", modified_by="LastModifiedById", deleted_flag="IsDeleted")
"""A delete keeps the row in place with ``IsDeleted`` (``queryAll`` sees it) and stamps ``SystemModstamp``."""
LOGIN_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")
RELEASES = {62.0: "Winter '25", 63.0: "Spring '25", 64.0: "Summer '25", 65.0: "Winter '26", 66.0: "Spring '26"}


class VersionConverter(BaseConverter):
    regex = r"v\d{1,3}\.\d"


class SoapVersionConverter(BaseConverter):
    regex = r"\d{1,3}\.\d"


def _rule(path: str, endpoint: str, methods: tuple[str, ...] = ("GET",), **defaults: Any) -> Rule:
    return Rule(path, endpoint=endpoint, methods=list(methods), defaults=defaults or None)


DATA = "/services/data/<version:version>"
ASYNC = "/services/async/<soapversion:version>"
INGEST_RESULTS = "any(successfulResults, failedResults, unprocessedrecords, unprocessedRecords)"


def sf_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> VendorError:
    return VendorError(status, [{"message": message, "errorCode": code}], headers)


@dataclass
class QueryCursor:
    locator: str
    object: str
    rows: list[Record]
    fields: list[tuple[str, bool]]
    batch_size: int
    created: datetime
    render: Callable[[Record], Record] | None = None  # relationship or aggregate rows


class SalesforceApp(SoapLogin, SalesforceWrites, CompositeResources, ToolingFields, Bulk2Queries, BulkIngest, BulkV1,
                    SoslSearch, VendorApp):
    vendor = "salesforce"
    public_endpoints = frozenset({"token", "versions", "soap_login"})
    url_map = Map(
        [
            _rule("/services/oauth2/token", "token", ("POST",)),
            _rule("/services/Soap/u/<soapversion:version>", "soap_login", ("POST",)),
            _rule("/services/data", "versions"),
            _rule(DATA, "resources"),
            _rule(f"{DATA}/limits", "limits"),
            _rule(f"{DATA}/search", "search"),
            _rule(f"{DATA}/sobjects", "describe_global"),
            _rule(f"{DATA}/sobjects/<sobject>", "sobject"),
            _rule(f"{DATA}/sobjects/<sobject>", "create", ("POST",)),
            _rule(f"{DATA}/sobjects/<sobject>/describe", "describe"),
            _rule(f"{DATA}/sobjects/<sobject>/updated", "updated"),
            _rule(f"{DATA}/sobjects/<sobject>/deleted", "deleted"),
            _rule(f"{DATA}/sobjects/<sobject>/<record_id>", "record"),
            _rule(f"{DATA}/sobjects/<sobject>/<record_id>", "update_record", ("PATCH",)),
            _rule(f"{DATA}/sobjects/<sobject>/<record_id>", "delete_record", ("DELETE",)),
            _rule(f"{DATA}/sobjects/<sobject>/<field>/<value>", "external_record"),
            _rule(f"{DATA}/sobjects/<sobject>/<field>/<value>", "upsert", ("PATCH",)),
            _rule(f"{DATA}/composite/sobjects", "collection_create", ("POST",)),
            _rule(f"{DATA}/composite/sobjects", "collection_update", ("PATCH",)),
            _rule(f"{DATA}/composite/sobjects", "collection_delete", ("DELETE",)),
            _rule(f"{DATA}/composite/sobjects/<sobject>/<field>", "collection_upsert", ("PATCH",)),
            _rule(f"{DATA}/composite", "composite", ("POST",)),
            _rule(f"{DATA}/composite/batch", "composite_batch", ("POST",)),
            _rule(f"{DATA}/composite/tree/<sobject>", "composite_tree", ("POST",)),
            _rule(f"{DATA}/tooling/sobjects/CustomField", "tooling_create_field", ("POST",)),
            _rule(f"{DATA}/jobs/query", "bulk_query_create", ("POST",)),
            _rule(f"{DATA}/jobs/query", "bulk_query_list"),
            _rule(f"{DATA}/jobs/query/<job_id>", "bulk_query_job"),
            _rule(f"{DATA}/jobs/query/<job_id>", "bulk_query_abort", ("PATCH",)),
            _rule(f"{DATA}/jobs/query/<job_id>", "bulk_query_delete", ("DELETE",)),
            _rule(f"{DATA}/jobs/query/<job_id>/results", "bulk_query_results"),
            _rule(f"{DATA}/jobs/ingest", "ingest_create", ("POST",)),
            _rule(f"{DATA}/jobs/ingest", "ingest_list"),
            _rule(f"{DATA}/jobs/ingest/<job_id>", "ingest_job"),
            _rule(f"{DATA}/jobs/ingest/<job_id>", "ingest_state", ("PATCH",)),
            _rule(f"{DATA}/jobs/ingest/<job_id>", "ingest_delete", ("DELETE",)),
            _rule(f"{DATA}/jobs/ingest/<job_id>/batches", "ingest_upload", ("PUT",)),
            _rule(f"{DATA}/jobs/ingest/<job_id>/<{INGEST_RESULTS}:kind>", "ingest_results"),
            _rule(f"{ASYNC}/job", "async_job_create", ("POST",)),
            _rule(f"{ASYNC}/job/<job_id>", "async_job"),
            _rule(f"{ASYNC}/job/<job_id>", "async_job_state", ("POST",)),
            _rule(f"{ASYNC}/job/<job_id>/batch", "async_batch_create", ("POST",)),
            _rule(f"{ASYNC}/job/<job_id>/batch", "async_batch_list"),
            _rule(f"{ASYNC}/job/<job_id>/batch/<batch_id>", "async_batch"),
            _rule(f"{ASYNC}/job/<job_id>/batch/<batch_id>/request", "async_batch_request"),
            _rule(f"{ASYNC}/job/<job_id>/batch/<batch_id>/result", "async_batch_result"),
            _rule(f"{ASYNC}/job/<job_id>/batch/<batch_id>/result/<result_id>", "async_query_result"),
            _rule(f"{DATA}/query", "query", all_rows=False),
            _rule(f"{DATA}/queryAll", "query", all_rows=True),
            _rule(f"{DATA}/query/<locator>", "query_more"),
            _rule(f"{DATA}/queryAll/<locator>", "query_more"),
        ],
        converters={"version": VersionConverter, "soapversion": SoapVersionConverter},
        strict_slashes=False,
    )

    def __init__(self, dataset: dict[str, Any], credentials: SalesforceCredentials) -> None:
        self.sf_credentials = credentials
        self._api_calls = Budget(lambda: int(self.config["daily_api_limit"]))
        self._locators = itertools.count(1)
        self._bulk_serial = itertools.count(1)
        self.cursors: OrderedDict[str, QueryCursor] = OrderedDict()
        super().__init__(dataset)

    # ----------------------------------------------------------------------------- setup

    def default_config(self) -> dict[str, Any]:
        return {
            "daily_api_limit": 100_000,
            "enforce_api_limit": True,
            "session_timeout_seconds": 7200.0,
            "query_locator_ttl_seconds": 2 * 86_400.0,
            "recycle_bin_days": 15.0,
            "rotate_refresh_token": False,
            "external_id_fields": {"Account": ["SIREN__c", "SIRET__c"], "Product2": ["ProductCode"]},
            "bulk_query_polls_in_progress": 0,
            "bulk_query_failure": None,
            "bulk_ingest_polls_in_progress": 0,
        }

    def load(self) -> None:
        section = self.dataset.get("salesforce", {})
        self.org_id: str = section.get("org_id") or salesforce_id("00D", "5g", 62**5)
        self.objects: dict[str, Collection] = {}
        self.schemas: dict[str, ObjectSchema] = {}
        self.ids: dict[str, SalesforceIdSequence] = {}
        for name, records in section.get("objects", {}).items():
            store = {record["Id"]: dict(record) for record in records}
            schema = infer_schema(name, store.values())
            normalize_values(schema, store.values())
            self.schemas[name] = schema
            self.objects[name] = Collection(STAMPS, self.clock, key="Id", lock=self.lock)
            self.objects[name].load(store.values())
            self.ids[name] = SalesforceIdSequence(SALESFORCE_KEY_PREFIXES.get(name, "a0X"), self.objects[name])
        for name, schema in support_schemas().items():
            if name not in self.schemas:  # every org has them, with or without records
                self.schemas[name] = schema
                self.objects[name] = Collection(STAMPS, self.clock, key="Id", lock=self.lock)
                self.ids[name] = SalesforceIdSequence(CASE_PREFIXES[name], self.objects[name])
        users = self.objects.get("User", {})
        self.user_id = next(iter(users), None) or salesforce_id("005", "5g", 62**5)
        self.cursors = OrderedDict()
        self._bulk_jobs: dict[str, QueryJob] = {}
        self._ingest_jobs: dict[str, IngestJob] = {}
        self._async_jobs: dict[str, AsyncJob] = {}
        self._rng = random.Random(f"{self.dataset.get('seed')}:salesforce:sandbox")

    def on_reset(self) -> None:
        self._api_calls.clear()

    @property
    def login_url(self) -> str:
        return self.base_url

    def public_credentials(self) -> dict[str, str]:
        return self.sf_credentials.as_dict(self.login_url)

    # -------------------------------------------------------------------------- pipeline

    def authenticate(self, call: Call) -> Any:
        if call.path.startswith("/services/async/"):
            return self.async_principal(call)
        header = call.request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() in ("bearer", "oauth") and value.strip():
            state, token = self.tokens.check(value.strip())
            if state == "valid" and token is not None and token.data.get("kind") == "access":
                return token.data
        raise sf_error(401, "INVALID_SESSION_ID", "Session expired or invalid", {"WWW-Authenticate": "Token"})

    @property
    def _api_used(self) -> int:
        return int(self._api_calls.used())

    def limit_info(self, used: int | None = None) -> str:
        limit = int(self.config["daily_api_limit"])
        return f"api-usage={self._api_used if used is None else used}/{limit}"

    def enforce_limits(self, call: Call) -> None:
        with self._api_calls.lock:  # every call counts, refused or not
            admitted = self._api_calls.take(count_rejected=True)
            used = self._api_used
        if self.config["enforce_api_limit"] and not admitted:
            raise sf_error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.",
                           {"Sforce-Limit-Info": self.limit_info(used)})

    def fault_response(self, call: Call, fault: FaultSpec) -> Response:
        if fault.kind == "rate_limit":
            limit = int(self.config["daily_api_limit"])
            used = max(self._api_used, limit + 1)
            return sf_error(403, fault.error_code or "REQUEST_LIMIT_EXCEEDED",
                            fault.message or "TotalRequests Limit exceeded.",
                            {"Sforce-Limit-Info": self.limit_info(used)}).response()
        status = fault.status or 500
        defaults = {
            400: ("QUERY_TIMEOUT", "Your query request was running for too long."),
            500: ("UNKNOWN_EXCEPTION", "An unexpected error occurred. Please include this ErrorId if you contact "
                                      "support: 1185704381-52806 (-1349464376)"),
            502: ("SERVER_UNAVAILABLE", "Bad Gateway"),
            503: ("SERVER_UNAVAILABLE", "Service temporarily unavailable"),
            504: ("SERVER_UNAVAILABLE", "Gateway Timeout"),
        }
        code, message = defaults.get(status, ("UNKNOWN_EXCEPTION", f"HTTP {status}"))
        return sf_error(status, fault.error_code or code, fault.message or message).response()

    def not_found(self, call: Call) -> Response:
        return sf_error(404, "NOT_FOUND", "The requested resource does not exist").response()

    def method_not_allowed(self, call: Call, allowed: list[str]) -> Response:
        message = f"HTTP Method '{call.request.method}' not allowed. Allowed are {','.join(allowed)}"
        return sf_error(405, "METHOD_NOT_ALLOWED", message).response()

    def internal_error(self, call: Call) -> Response:
        return sf_error(500, "UNKNOWN_EXCEPTION", "An unexpected error occurred.").response()

    def decorate(self, call: Call, response: Response) -> None:
        path = call.request.path
        if path.startswith("/services/data/v"):
            response.headers.setdefault("Sforce-Limit-Info", self.limit_info())
        response.headers.setdefault("Cache-Control", "no-cache,must-revalidate,max-age=0,no-store,private")

    def strip_id(self, payload: Any) -> bool:
        records = payload.get("records") if isinstance(payload, dict) else None
        for record in records or []:
            if isinstance(record, dict) and "Id" in record:
                del record["Id"]
                return True
        return False

    # ---------------------------------------------------------------------------- OAuth

    def on_token(self, call: Call) -> Response:
        grants = {"refresh_token": self._refresh_grant, JWT_GRANT: self._jwt_grant,
                  "client_credentials": self._client_credentials_grant}
        return TokenRequest.read(call.request).dispatch(
            grants, lambda _: _oauth_error("unsupported_grant_type", "grant type not supported"))

    def _check_client(self, client_id: str | None, client_secret: str | None) -> None:
        creds = self.sf_credentials
        if client_id != creds.client_id:
            raise _oauth_error("invalid_client_id", "client identifier invalid")
        if client_secret != creds.client_secret:
            raise _oauth_error("invalid_client", "invalid client credentials")

    def _client_credentials_grant(self, request: TokenRequest) -> Response:
        """The client id and secret from HTTP Basic (as this flow sends them) or the form."""
        self._check_client(request.client_id, request.client_secret)
        return self._token_response(refresh=False)

    def _refresh_grant(self, request: TokenRequest) -> Response:
        self._check_client(request.get("client_id"), request.get("client_secret"))  # the form's
        refresh = request.get("refresh_token")
        if refresh != self.sf_credentials.refresh_token and not self._rotated_refresh_ok(refresh):
            raise _oauth_error("invalid_grant", "expired access/refresh token")
        return self._token_response(refresh=self.config["rotate_refresh_token"])

    def _rotated_refresh_ok(self, refresh: str) -> bool:
        state, token = self.tokens.check(refresh)
        return state == "valid" and token is not None and token.data.get("kind") == "refresh"

    def _jwt_grant(self, request: TokenRequest) -> Response:
        assertion, creds = request.get("assertion"), self.sf_credentials
        audiences = sorted({self.login_url, self.login_url.rstrip("/"), *LOGIN_AUDIENCES})
        try:
            claims = jwt.decode(
                assertion, creds.public_key_pem, algorithms=["RS256"], audience=audiences,
                options={"require": ["iss", "sub", "aud", "exp"]},
            )
        except jwt.InvalidAudienceError:
            raise _oauth_error("invalid_grant", "audience is invalid") from None
        except jwt.ExpiredSignatureError:
            raise _oauth_error("invalid_grant", "expired authorization code") from None
        except jwt.PyJWTError:
            raise _oauth_error("invalid_grant", "invalid assertion") from None
        if claims.get("iss") != creds.client_id:
            raise _oauth_error("invalid_client_id", "client identifier invalid")
        if claims.get("sub") != creds.username:
            raise _oauth_error("invalid_grant", "user hasn't approved this consumer")
        return self._token_response(refresh=False, include_signature=False)

    def _token_response(self, refresh: bool, include_signature: bool = True) -> Response:
        ttl = self.config["session_timeout_seconds"]
        access = self.tokens.issue(f"{self.org_id[:15]}!AQ", ttl=ttl, user_id=self.user_id, kind="access")
        identity = f"{self.login_url}/id/{self.org_id}/{self.user_id}"
        issued_at = str(int(time.time() * 1000))
        body: dict[str, Any] = {
            "access_token": access,
            "instance_url": self.base_url,
            "id": identity,
            "token_type": "Bearer",
            "issued_at": issued_at,
            "scope": "api refresh_token",
        }
        if include_signature:
            body["signature"] = token_signature(self.sf_credentials.client_secret, identity, issued_at)
        if refresh:
            body["refresh_token"] = self.tokens.issue("5Aep861", kind="refresh")
        return json_response(body)

    # ------------------------------------------------------------------------ resources

    def on_versions(self, call: Call) -> Response:
        versions = [
            {"label": RELEASES.get(float(n), f"Release {n}.0"), "url": f"/services/data/v{n}.0", "version": f"{n}.0"}
            for n in range(31, 67)
        ]
        return json_response(versions)

    def on_resources(self, call: Call, version: str) -> Response:
        base = f"/services/data/{version}"
        names = ("sobjects", "query", "queryAll", "limits", "search", "composite")
        return json_response({name: f"{base}/{name}" for name in names})

    def on_limits(self, call: Call, version: str) -> Response:
        return json_response(org_limits(int(self.config["daily_api_limit"]), self._api_used))

    def _schema(self, name: str) -> ObjectSchema:
        for obj, schema in self.schemas.items():
            if obj.lower() == name.lower():
                return schema
        raise sf_error(404, "NOT_FOUND", "The requested resource does not exist")

    def _object_summary(self, schema: ObjectSchema, version: str) -> dict[str, Any]:
        base = f"/services/data/{version}/sobjects/{schema.name}"
        return {
            "name": schema.name,
            "label": schema.name,
            "labelPlural": schema.name + "s",
            "keyPrefix": next(iter(self.objects[schema.name]), SALESFORCE_KEY_PREFIXES.get(schema.name, "a0X"))[:3],
            "custom": schema.name.endswith("__c"),
            "queryable": True, "retrieveable": True, "replicateable": True, "searchable": True,
            "createable": True, "updateable": True, "deletable": True, "undeletable": True,
            "urls": {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"},
        }

    def on_describe_global(self, call: Call, version: str) -> Response:
        with self.lock:
            sobjects = [self._object_summary(schema, version) for schema in self.schemas.values()]
        return json_response({"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": sobjects})

    def on_sobject(self, call: Call, version: str, sobject: str) -> Response:
        with self.lock:
            schema = self._schema(sobject)
            return json_response({"objectDescribe": self._object_summary(schema, version), "recentItems": []})

    def on_describe(self, call: Call, version: str, sobject: str) -> Response:
        with self.lock:
            schema = self._schema(sobject)
            body = self._object_summary(schema, version)
            external = set(self.external_id_fields(schema.name))
            body["fields"] = [describe_field(definition) | ({"externalId": True} if definition.name in external else {})
                              for definition in schema.fields.values()]
            body["childRelationships"] = [describe_child(r) for r in child_relationships(schema.name, self.schemas)]
        return json_response(body)

    def on_record(self, call: Call, version: str, sobject: str, record_id: str) -> Response:
        with self.lock:
            schema = self._schema(sobject)
            record = self.objects[schema.name].get(record_id)
            if record is None or record.get("IsDeleted"):
                raise sf_error(404, "NOT_FOUND", "The requested resource does not exist")
            wanted = call.request.args.get("fields")
            names = [schema.fields[n].name for n in schema.fields] if not wanted else [
                self._field_name(schema, name.strip()) for name in wanted.split(",") if name.strip()
            ]
            fields = [(name, schema.fields[name].type == "datetime") for name in names]
            headers = {"ETag": etag(record)} if schema.name == "Account" else None
            return json_response(self._render(schema.name, version, record, fields), headers=headers)

    def _field_name(self, schema: ObjectSchema, name: str) -> str:
        definition = schema.field(name)
        if definition is None:
            raise sf_error(400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {schema.name}")
        return definition.name

    # ------------------------------------------------------------------------- replication

    def _window(self, call: Call) -> tuple[datetime, datetime]:
        args = call.request.args
        try:
            start = parse_instant(args["start"])
            end = parse_instant(args["end"])
        except KeyError as exc:
            raise sf_error(400, "MISSING_ARGUMENT", f"{exc.args[0]} not specified") from None
        except ValueError as exc:
            raise sf_error(400, "INVALID_REPLICATION_DATE", str(exc)) from None
        start, end = start.replace(second=0, microsecond=0), end.replace(second=0, microsecond=0)
        if end <= start:
            raise sf_error(400, "INVALID_REPLICATION_DATE", "startDate must chronologically precede endDate")
        return start, end

    def on_updated(self, call: Call, version: str, sobject: str) -> Response:
        start, end = self._window(call)
        now = self.clock.now()
        if start < now - timedelta(days=30):
            raise sf_error(400, "INVALID_REPLICATION_DATE", "startDate cannot be more than 30 days ago")
        latest = min(end, now.replace(second=0, microsecond=0))
        low, high = canonical(start), canonical(latest)
        with self.lock:
            schema = self._schema(sobject)
            ids = [r["Id"] for r in self.objects[schema.name].changed_between(low, high) if not r.get("IsDeleted")]
        if len(ids) > ID_LIMIT:
            raise sf_error(400, "EXCEEDED_ID_LIMIT", "record limit reached. narrow the time window")
        return json_response({"ids": ids, "latestDateCovered": salesforce_datetime(high)})

    def on_deleted(self, call: Call, version: str, sobject: str) -> Response:
        start, end = self._window(call)
        now = self.clock.now()
        days = self.config["recycle_bin_days"]
        earliest = canonical((now - timedelta(days=days)).replace(second=0, microsecond=0)) if days else None
        latest = min(end, now.replace(second=0, microsecond=0))
        low, high = canonical(start), canonical(latest)
        with self.lock:
            schema = self._schema(sobject)
            deleted = [
                {"id": t.id, "deletedDate": salesforce_datetime(t.deleted_at)}
                for t in self.objects[schema.name].deleted_between(max(low, earliest or low), high)
            ]
        if len(deleted) > ID_LIMIT:
            raise sf_error(400, "EXCEEDED_ID_LIMIT", "record limit reached. narrow the time window")
        body: dict[str, Any] = {"deletedRecords": deleted, "latestDateCovered": salesforce_datetime(high)}
        if earliest is not None:
            body["earliestDateAvailable"] = salesforce_datetime(earliest)
        return json_response(body)

    # ------------------------------------------------------------------------------ query

    def _keep(self, all_rows: bool) -> Any:
        """Which stored rows a query sees: live ones, or (queryAll) also those still in the recycle bin."""
        if not all_rows:
            return lambda r: not r.get("IsDeleted")
        days = self.config["recycle_bin_days"]
        if not days:
            return None
        cutoff = canonical(self.clock.now() - timedelta(days=days))
        return lambda r: not r.get("IsDeleted") or r["SystemModstamp"] >= cutoff

    @staticmethod
    def _batch_size(call: Call) -> int:
        options = call.request.headers.get("Sforce-Query-Options", "")
        for option in options.split(","):
            name, _, value = option.strip().partition("=")
            if name.strip().lower() == "batchsize" and value.strip().isdigit():
                return max(MIN_BATCH, min(DEFAULT_BATCH, int(value.strip())))
        return DEFAULT_BATCH

    def on_query(self, call: Call, version: str, all_rows: bool) -> Response:
        text = call.request.args.get("q")
        if text is None:
            raise sf_error(400, "MALFORMED_QUERY", "A query string has to be specified")
        with self.lock:
            try:
                compiled = compile_query(text, self.schemas, self.clock.now(), self.objects)
            except SoqlError as exc:
                raise sf_error(400, exc.code, exc.message) from None
            keep = self._keep(all_rows)
            rows = execute(compiled, self.objects[compiled.object].values(), keep)
            if compiled.count_only:
                return json_response({"totalSize": len(rows), "done": True, "records": []})
            schema = self.schemas[compiled.object]
            fields = [(name, schema.fields[name].type == "datetime") for name in compiled.fields]
            render = self._row_renderer(compiled, version, keep)
            cursor = QueryCursor(self._new_locator(), compiled.object, rows, fields, self._batch_size(call),
                                 self.clock.now(), render)
            if len(rows) > cursor.batch_size:
                self._remember(cursor)
        return self._page(version, cursor, 0)

    def _row_renderer(self, compiled: CompiledQuery, version: str,
                      keep: Callable[[Record], bool] | None) -> Callable[[Record], Record] | None:
        plan = compiled.aggregate
        if plan is not None:
            return lambda row: render_aggregate(plan, row)
        if compiled.columns is None:
            return None
        plain = lambda obj, record, fields: self._render(obj, version, record, fields)  # noqa: E731
        return column_renderer(compiled.object, compiled, self.objects, plain, keep, execute)

    def on_query_more(self, call: Call, version: str, locator: str) -> Response:
        name, _, offset_text = locator.rpartition("-")
        with self.lock:
            cursor = self.cursors.get(name)
            ttl = self.config["query_locator_ttl_seconds"]
            if cursor is not None and ttl is not None:
                if (self.clock.now() - cursor.created).total_seconds() > ttl:
                    del self.cursors[name]
                    cursor = None
        if cursor is None or not offset_text.isdigit() or int(offset_text) > len(cursor.rows):
            raise sf_error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._page(version, cursor, int(offset_text))

    def _new_locator(self) -> str:
        return salesforce_id("01g", "5g", 62**6 + next(self._locators))

    def _remember(self, cursor: QueryCursor) -> None:
        self.cursors[cursor.locator] = cursor
        while len(self.cursors) > MAX_CURSORS or (
            len(self.cursors) > 1 and sum(len(c.rows) for c in self.cursors.values()) > MAX_CURSOR_ROWS
        ):
            self.cursors.popitem(last=False)

    def _page(self, version: str, cursor: QueryCursor, offset: int) -> Response:
        page = offset_page(cursor.rows, offset, cursor.batch_size)
        if cursor.render is not None:
            with self.lock:
                records = [cursor.render(r) for r in page.items]
        else:
            records = [self._render(cursor.object, version, r, cursor.fields) for r in page.items]
        body: dict[str, Any] = {"totalSize": page.total, "done": not page.has_more}
        if page.has_more:
            body["nextRecordsUrl"] = f"/services/data/{version}/query/{cursor.locator}-{page.end}"
        body["records"] = records
        return json_response(body)

    @staticmethod
    def _render(obj: str, version: str, record: Record, fields: list[tuple[str, bool]]) -> Record:
        url = f"/services/data/{version}/sobjects/{obj}/{record.get('Id')}"
        out: Record = {"attributes": {"type": obj, "url": url}}
        for name, is_datetime in fields:
            value = record.get(name)
            if is_datetime and value is not None:
                value = value[:-1] + "+0000" if value[-1:] == "Z" else salesforce_datetime(value)
            out[name] = value
        return out

    # ---------------------------------------------------------------------- control hooks

    def control_objects(self) -> list[str]:
        return list(self.objects)

    def _control_record(self, obj: str, record_id: str) -> Record:
        record = self.objects[obj].get(record_id)
        if record is None:
            raise ControlError(404, f"no {obj} with Id {record_id}")
        return record

    def control_list(self, obj: str, include_deleted: bool) -> list[Record]:
        return [dict(r) for r in self.objects[obj].values() if include_deleted or not r.get("IsDeleted")]

    def control_get(self, obj: str, record_id: str) -> Record:
        return {"id": record_id, "record": dict(self._control_record(obj, record_id))}

    def _apply(self, obj: str, record: Record, fields: dict[str, Any]) -> None:
        schema = self.schemas[obj]
        for name, value in fields.items():
            definition = schema.field(name)
            if definition is None:
                definition = field_def(obj, name, value)
                schema.add(definition)
            if definition.name in SYSTEM_MANAGED:
                raise ControlError(400, f"{definition.name} is maintained by the platform and cannot be set")
            if definition.type == "datetime" and value is not None:
                try:
                    value = canonical(parse_instant(str(value)))
                except ValueError as exc:
                    raise ControlError(400, f"{definition.name}: {exc}") from None
            record[definition.name] = value

    def control_create(self, obj: str, body: dict[str, Any]) -> Record:
        now = self.now_text()
        record: Record = {name: None for name in self.schemas[obj].fields}
        record["Id"] = self._unique_id(obj)
        self._apply(obj, record, body.get("fields", {}))
        record.update({"CreatedDate": now, "LastModifiedDate": now, "SystemModstamp": now, "IsDeleted": False})
        if obj == "Case":
            stamp_case(record, True, now, len(self.objects[obj]) + 1001)
        self.objects[obj].insert(record, at=now)
        return {"id": record["Id"], "record": dict(record)}

    def control_update(self, obj: str, record_id: str, body: dict[str, Any]) -> Record:
        record = self._control_record(obj, record_id)
        if record.get("IsDeleted"):
            raise ControlError(404, f"{obj} {record_id} is deleted (ENTITY_IS_DELETED)")
        self._apply(obj, record, body.get("fields", {}))
        now = self.now_text()
        if obj == "Case":
            stamp_case(record, False, now, 0)
        self.objects[obj].touch(record["Id"], at=now)
        if not body.get("system_only"):
            record["LastModifiedDate"] = now
        return {"id": record_id, "record": dict(record)}

    def control_delete(self, obj: str, record_id: str) -> Record:
        record = self._control_record(obj, record_id)
        if record.get("IsDeleted"):
            raise ControlError(404, f"{obj} {record_id} is already deleted (ENTITY_IS_DELETED)")
        self.objects[obj].delete(record["Id"])
        return {"id": record_id, "record": dict(record)}

    def _unique_id(self, obj: str) -> str:
        while True:
            candidate = self.ids[obj]()
            if candidate not in self.objects[obj]:
                return candidate

    def control_bulk(self, obj: str, create: int, touch: int, fields: dict[str, Any]) -> dict[str, Any]:
        now = self.now_text()
        store = self.objects[obj]
        live = [r for r in store.values() if not r.get("IsDeleted")]
        if touch > len(live):
            raise ControlError(400, f"cannot touch {touch} {obj} records: only {len(live)} exist")
        touched = self._rng.sample(live, touch) if touch else []
        template = dict(live[0]) if live else {name: None for name in self.schemas[obj].fields}
        created_ids: list[str] = []
        for _ in range(create):
            record = self._synthetic(obj, template, next(self._bulk_serial), now)
            store.insert(record, at=now)
            created_ids.append(record["Id"])
        if fields:
            for record in touched:
                self._apply(obj, record, fields)
        for record in touched:
            record["LastModifiedDate"] = now
            store.touch(record["Id"], at=now)
        touched_ids = [r["Id"] for r in touched]
        result: dict[str, Any] = {"object": obj, "stamp": now, "created": create, "touched": touch}
        if create + touch <= 10_000:
            result["created_ids"], result["touched_ids"] = created_ids, touched_ids
        return result

    def _synthetic(self, obj: str, template: Record, serial: int, now: str) -> Record:
        record = dict(template)
        record["Id"] = self._unique_id(obj)
        label = f"{serial:07d}"
        if "Name" in record:
            record["Name"] = f"Sandbox Bulk {obj} {label}"
        if "LastName" in record:
            record["FirstName"], record["LastName"] = "Bulk", f"Contact {label}"
        if "Email" in record:
            record["Email"] = f"bulk.{obj.lower()}.{label}@example.com"
        if "Username" in record:
            record["Username"] = f"bulk.{label}@example.com"
        if "SIREN__c" in record:
            body = f"{(70_000_000 + serial) % 100_000_000:08d}"
            siren = body + luhn_digit(body)
            record["SIREN__c"] = siren
            if "SIRET__c" in record:
                siret = siren + "0001"
                record["SIRET__c"] = siret + luhn_digit(siret)
            if "VAT_Number__c" in record:
                record["VAT_Number__c"] = f"FR{(12 + 3 * (int(siren) % 97)) % 97:02d}{siren}"
            if record.get("Electronic_Address__c"):
                record["Electronic_Address__c"] = siren
        record.update({"CreatedDate": now, "LastModifiedDate": now, "SystemModstamp": now, "IsDeleted": False})
        return record


_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)


def luhn_digit(body: str) -> str:
    """Luhn check digit of ``body`` (SIREN and SIRET use it); inlined because bulk makes millions."""
    digits = body[::-1]
    total = sum(_DOUBLED[ord(c) - 48] for c in digits[0::2]) + sum(ord(c) - 48 for c in digits[1::2])
    return str(-total % 10)


def _oauth_error(error: str, description: str) -> VendorError:
    return VendorError(400, {"error": error, "error_description": description})
