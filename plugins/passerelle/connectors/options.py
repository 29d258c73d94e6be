"""The extras a source's Airflow Connection accepts, as typed models checked before any request is made.

A mistyped extra (``"page_sise": 50``) would otherwise be ignored and a bad value (``"timeout": "1m"``)
would fail deep inside a run, or not at all. :func:`validated` checks the Connection's extras against
the source's model at the start of the extract and raises one :class:`ConnectionOptionsError` line naming
the source, the Connection, each option at fault, its value (masked when secret) and what is expected.

Every source accepts :class:`ConnectionOptions`; a source's own extras are a subclass, named by its
:class:`~passerelle.connectors.spec.SourceSpec` (``options=``) or, failing that, by :data:`SOURCE_OPTIONS`. A
JSON ``null`` counts as unset. Values arriving as text (Connections written as URIs carry every extra as
a string) are converted when unambiguous: ``"60"`` for a number, ``"a,b"`` for a list.
"""

from __future__ import annotations

import datetime
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from passerelle.connectors.config import SourceConfig, looks_secret
from passerelle.connectors.paging import DEFAULT_MAX_RESPONSE_MB
from passerelle.connectors.retry import RetrySettings, connection_secrets
from passerelle.errors import SourceError
from passerelle.setting_messages import problems

_RETRY = RetrySettings()


class ConnectionOptionsError(SourceError):
    """A Connection extra is unknown or holds a value of the wrong type: fix the Connection, not the source."""

    default_check = "the Connection's extras (`python -m passerelle.settings --markdown` lists those accepted)"


class ConnectionOptions(BaseModel):
    """Extras every source accepts."""

    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True, str_strip_whitespace=True)

    ca_bundle: str | None = Field(
        None, description="A CA bundle (file or directory) to trust: a corporate proxy's, the sandbox's.",
        json_schema_extra={"default_text": "the system's trust store"},
    )
    lookback_minutes: float | None = Field(
        None, ge=0, description="How far before the watermark each window starts again, for late-arriving changes.",
        json_schema_extra={"default_text": "the source's (15; Salesforce 10)"},
    )
    retry_attempts: int = Field(_RETRY.attempts, ge=1, description="Attempts of one API call before giving up.")
    retry_initial_wait: float = Field(
        _RETRY.initial_wait, gt=0, description="First backoff wait in seconds (doubles, with jitter).",
    )
    retry_max_wait: float = Field(_RETRY.max_wait, gt=0, description="Longest backoff wait in seconds.")
    max_response_mb: float = Field(
        DEFAULT_MAX_RESPONSE_MB, gt=0, description="Largest API response read, in MB (a bigger one fails the window).",
    )

    @model_validator(mode="before")
    @classmethod
    def _null_is_unset(cls, data: Any) -> Any:
        return {k: v for k, v in data.items() if v is not None} if isinstance(data, dict) else data

    @field_validator("ca_bundle")
    @classmethod
    def _existing_bundle(cls, value: str | None) -> str | None:
        if value is not None and not Path(value).exists():
            raise ValueError("expected an existing CA bundle file or directory on the workers")
        return value


class OAuthAppOptions(ConnectionOptions):
    """An OAuth app instead of a static token: refreshed at the vendor's token endpoint."""

    client_id: str | None = Field(
        None, description="OAuth app client id.", json_schema_extra={"default_text": "the Connection's login"},
    )
    client_secret: SecretStr | None = Field(None, description="OAuth app client secret.")
    refresh_token: SecretStr | None = Field(
        None, description="OAuth refresh token; when set, used instead of the static token in the password.",
    )


class SalesforceOptions(ConnectionOptions):
    auth_flow: Literal["refresh_token", "jwt_bearer"] | None = Field(
        None, description="OAuth flow of the connected app (login = consumer key).",
        json_schema_extra={"default_text": "`jwt_bearer` when `private_key_path` is set, else `refresh_token`"},
    )
    refresh_token: SecretStr | None = Field(None, description="Refresh-token flow: the refresh token.")
    private_key_path: str | None = Field(None, description="JWT bearer flow: the PEM private key of the app's certificate.")
    username: str | None = Field(None, description="JWT bearer flow: the integration user.")
    audience: str | None = Field(
        None, description="JWT bearer flow: the token audience.", json_schema_extra={"default_text": "the Connection's host"},
    )
    api_version: str = Field(
        "62.0", pattern=r"^\d+\.\d+$", description="REST API version.",
        json_schema_extra={"expected": "a Salesforce API version such as 62.0", "type": "version (`62.0`)"},
    )
    batch_size: int = Field(2000, ge=200, le=2000, description="Records per query page (Sforce-Query-Options).")
    timeout: float = Field(60.0, gt=0, description="Seconds to wait for each answer.")
    bulk_threshold: int = Field(
        10_000, ge=0, description="A window of more rows than this (deleted ones included) is read by a Bulk API 2.0 "
        "queryAll job instead of REST paging.",
    )
    use_bulk: bool = Field(
        True, description="False reads every window by REST paging and skips the COUNT() query that chooses "
        "between REST and Bulk API 2.0 on each window.",
    )
    bulk_page_size: int = Field(
        10_000, ge=1, le=50_000, description="Records per Bulk API 2.0 result page (maxRecords).",
    )
    bulk_timeout: float = Field(3600.0, gt=0, description="Seconds a Bulk API 2.0 job may run before it is aborted.")


class HubSpotOptions(OAuthAppOptions):
    timeout: float = Field(60.0, gt=0, description="Seconds to wait for each answer.")


class AsanaOptions(OAuthAppOptions):
    workspace_gid: str | None = Field(
        None, description="Read only this workspace.", json_schema_extra={"default_text": "every workspace of the token"},
    )
    time_entries_rescan_days: int = Field(
        14, ge=0, description="Days of time entries read again before each window, for late edits.",
    )
    time_entries_since: datetime.date = Field(
        datetime.date(2000, 1, 1), description="First day of time entries read by the first run.",
    )


class JiraOptions(ConnectionOptions):
    page_size: int = Field(100, ge=1, description="Issues per search page.")
    users_page_size: int = Field(1000, ge=1, le=1000, description="Users per page.")
    issue_census_every_hours: float = Field(
        0, ge=0, description="Hours between issue censuses (deletions); 0 = every run.",
    )
    census_max_missing_ratio: float = Field(
        0.5, ge=0, le=1, description="Largest share of known issues a census may find missing before it refuses.",
    )


class MondayOptions(ConnectionOptions):
    api_version: str = Field(
        "2025-07", pattern=r"^\d{4}-\d{2}$", description="API-Version header.",
        json_schema_extra={"expected": "a monday.com API version such as 2025-07", "type": "version (`2025-07`)"},
    )
    page_size: int = Field(500, ge=1, le=500, description="Items per page.")


class TrelloOptions(ConnectionOptions):
    board_ids: tuple[str, ...] = Field(
        (), description="Read only these boards.", json_schema_extra={"default_text": "every board of the token's member"},
    )
    page_size: int = Field(1000, ge=1, le=1000, description="Actions per call.")

    @field_validator("board_ids", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value


class FolkOptions(ConnectionOptions):
    page_size: int = Field(100, ge=1, le=100, description="Records per page.")
    timeout: float = Field(60.0, gt=0, description="Seconds to wait for each answer.")
    max_missing_ratio: float = Field(
        0.5, ge=0, le=1, description="Largest share of known records a listing may miss before it is refused.",
    )


class EntraAppOptions(ConnectionOptions):
    """An app registration signing in with client credentials against Entra ID (Dataverse, Microsoft Graph)."""

    tenant_id: str = Field(
        ..., min_length=1, description="Entra ID tenant (directory) id of the organisation.",
        json_schema_extra={"default_text": "required"},
    )
    authority_host: str = Field(
        "https://login.microsoftonline.com", pattern=r"^https://[^/]+/?$",
        description="Entra ID login host (a sovereign cloud's, e.g. `https://login.microsoftonline.us`).",
        json_schema_extra={"expected": "an https:// host such as https://login.microsoftonline.com",
                           "type": "URL (`https://<host>`)"},
    )


class DynamicsOptions(EntraAppOptions):
    page_size: int = Field(5000, ge=1, le=5000, description="Records per page (`Prefer: odata.maxpagesize`).")
    census_max_missing_ratio: float = Field(
        0.5, ge=0, le=1, description="Largest share of the records the warehouse holds that a new change-tracking "
                                     "baseline (after a lost delta token) may miss before it is refused.",
    )
    timeout: float = Field(60.0, gt=0, description="Seconds to wait for each answer.")


class PlannerOptions(EntraAppOptions):
    graph_resource: str = Field(
        "https://graph.microsoft.com", pattern=r"^https://[^/]+$",
        description="Microsoft Graph's resource id, asked for as `<resource>/.default` (a national cloud's "
                    "e.g. `https://graph.microsoft.us`).",
        json_schema_extra={"expected": "an https:// host such as https://graph.microsoft.com",
                           "type": "URL (`https://<host>`)"},
    )
    page_size: int = Field(999, ge=1, le=999, description="Users and groups per page (`$top`; Planner lists "
                                                          "page on their own).")
    timeout: float = Field(60.0, gt=0, description="Seconds to wait for each answer.")
    max_missing_ratio: float = Field(
        0.5, ge=0, le=1, description="Largest share of known records a listing may miss before it is refused.",
    )


class QuickBooksOptions(ConnectionOptions):
    realm_id: str = Field(
        ..., min_length=1, description="The company (realm) id, as the app's authorisation answered it.",
        json_schema_extra={"default_text": "required"},
    )
    refresh_token: SecretStr | None = Field(
        None, description="The first refresh token of the app's chain; the latest lives in audit.oauth_refresh_tokens.",
    )
    token_url: str = Field(
        "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer", pattern=r"^https://[^/]+(/.*)?$",
        description="Intuit's OAuth token endpoint.",
        json_schema_extra={"expected": "an https:// URL", "type": "URL"},
    )
    page_size: int = Field(1000, ge=1, le=1000, description="Objects per query page (`MAXRESULTS`).")
    timeout: float = Field(60.0, gt=0, description="Seconds to wait for each answer.")


SOURCE_OPTIONS: dict[str, type[ConnectionOptions]] = {
    "salesforce": SalesforceOptions,
    "hubspot": HubSpotOptions,
    "asana": AsanaOptions,
    "jira": JiraOptions,
    "monday": MondayOptions,
    "trello": TrelloOptions,
    "folk": FolkOptions,
    "dynamics": DynamicsOptions,
    "project_for_the_web": DynamicsOptions,
    "planner": PlannerOptions,
    "quickbooks": QuickBooksOptions,
}


def options_for(source: str) -> type[ConnectionOptions]:
    """The model of ``source``'s extras: its own, or the common one."""
    return SOURCE_OPTIONS.get(source, ConnectionOptions)


def validated(config: SourceConfig, model: type[ConnectionOptions], source: str, conn_id: str) -> SourceConfig:
    """``config`` bound to its checked, typed extras, or one :class:`ConnectionOptionsError` line."""
    try:
        options = model.model_validate(config.extra)
    except ValidationError as error:
        lines = problems(error, model, label=lambda name: f"extra {name}", given=config.extra.get,
                         secret_name=looks_secret)
        raise ConnectionOptionsError("; ".join(lines)).attribute(source, conn_id, connection_secrets(config)) from None
    return replace(config, options=options)
