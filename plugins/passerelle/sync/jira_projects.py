"""A won deal's project in Jira: an epic in the route's Jira project, one task per deal line under it.

Jira has no idempotency key, so the link's key is stamped as a label of the epic and of its tasks (a label
is matched exactly by JQL, ``labels = "<key>"``; a description is only matched by words). The epic also
carries the label ``passerelle-affaire``, by which the Jira extract's ``deal_epics`` stream finds the epics that
deliver deals (staging makes each one a project, its tasks and their worklogs included). The epic also
carries the deal as the issue property ``passerelle.crm`` (``{"crm", "dealId"}``, the shape of the project
property the Jira extract reads) and its description the deal's summary with the key line.

Jira's search index lags behind its writes: an epic made a moment ago may not be found by JQL yet. So the
epic's id is recorded on the link as soon as Jira answers, and every lookup passes the recorded id in
``reconcileIssues``, which makes Jira answer that issue as it is now rather than as indexed.

The epic is assigned to the Jira user whose email is the deal owner's (user search by email; a site that hides
emails matches no one, which is reported, not failed) and is due on the route's due date. Jira has no standard
start date field (Jira Software's "Start date" is a site-specific custom field), so none is set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

from passerelle.connectors.sources.jira import CRM_PROPERTY as DEAL_PROPERTY, DEAL_EPIC_LABEL
from passerelle.sync import links
from passerelle.sync.keys import stamped
from passerelle.sync.links import Link
from passerelle.sync.project_owners import OwnerMatch
from passerelle.sync.vendor_calls import VendorWriter

API = "/rest/api/3"
EPIC = "Epic"
TASK = "Task"
PAGE = 100


def rich_text(text: str) -> dict[str, Any]:
    """Jira's document format (API v3), one paragraph per line."""
    return {"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": line}] if line else []}
        for line in text.splitlines()]}


def plain_text(document: Any) -> str:
    """The text of a Jira document (API v3), one line per paragraph: what :func:`rich_text` wrote."""
    if not isinstance(document, dict):
        return document if isinstance(document, str) else ""
    return "\n".join("".join(node.get("text", "") for node in block.get("content") or [] if isinstance(node, dict))
                     for block in document.get("content") or [] if isinstance(block, dict))


def jql_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass
class JiraProjects:
    """Find, create and furnish the epic of a deal through the Jira Cloud REST API (v3)."""

    writer: VendorWriter
    owners: OwnerMatch = field(init=False)

    def __post_init__(self) -> None:
        self.owners = OwnerMatch(self.writer, f"{API}/user/search", self._user_of)

    def _user_of(self, email: str, link_id: int) -> str | None:
        """The active account whose email is ``email`` (the search matches prefixes: the email is compared whole)."""
        users = self.writer.read(f"{API}/user/search", operation="read_users", link_id=link_id, query=email)
        return next((str(u["accountId"]) for u in users if isinstance(u, dict) and u.get("active")
                     and (u.get("emailAddress") or "").lower() == email), None)

    def search(self, jql: str, link_id: int | None, reconcile: list[str],
               fields: str = "summary,labels,issuetype,parent") -> Iterator[dict[str, Any]]:
        """The issues JQL matches, every page (``reconcile``: ids answered as they are now, indexed or not)."""
        token: str | None = None
        while True:
            params: dict[str, Any] = {"jql": jql, "fields": fields, "maxResults": PAGE}
            if reconcile:
                params["reconcileIssues"] = ",".join(reconcile)
            if token:
                params["nextPageToken"] = token
            body = self.writer.read(f"{API}/search/jql", link_id=link_id, **params)
            yield from body.get("issues") or []
            token = body.get("nextPageToken")
            if not token or body.get("isLast"):
                return

    def recorded(self, link_id: int | None) -> list[str]:
        """The issue id noted on the link as soon as Jira answered its create (none yet: empty)."""
        with self.writer.conn.cursor() as cur:
            cur.execute("SELECT pending_ref FROM sync.links WHERE link_id = %s", (link_id,))
            row = cur.fetchone()
        self.writer.conn.rollback()
        return [row[0]] if row and row[0] else []

    def find(self, idem_key: str, link_id: int) -> list[dict[str, Any]]:
        """The epics labelled with the key (the one this link recorded included, indexed or not)."""
        jql = f"labels = {jql_string(idem_key)} AND issuetype = {EPIC}"
        return list(self.search(jql, link_id, self.recorded(link_id)))

    def create(self, project: dict[str, Any], link: Link) -> dict[str, Any]:
        crm, deal_id = project["deal_link"].split(":", 1)
        fields: dict[str, Any] = {
            "project": {"key": project["container"]}, "issuetype": {"name": EPIC}, "summary": project["name"][:255],
            "description": rich_text(stamped(project["summary"], project["idem_key"])),
            "labels": [project["idem_key"], DEAL_EPIC_LABEL]}
        if project.get("due_date"):
            fields["duedate"] = project["due_date"]
        owner = self.owners.user(project.get("owner"), link.link_id)
        if owner:
            fields["assignee"] = {"accountId": owner}
        made = self.writer.write("POST", f"{API}/issue", operation="create_project", link_id=link.link_id,
                                 json={"fields": fields, "properties": [
                                     {"key": DEAL_PROPERTY, "value": {"crm": crm, "dealId": deal_id}}]})
        links.note_pending(self.writer.conn, link.link_id, str(made["id"]))
        return made

    def furnish(self, epic: dict[str, Any], project: dict[str, Any], link_id: int) -> int:
        """One task per deal line under the epic, unless a task of that summary already carries the key."""
        jql = f"labels = {jql_string(project['idem_key'])} AND issuetype != {EPIC}"
        have = {(i.get("fields") or {}).get("summary") for i in self.search(jql, link_id, [])}
        added = 0
        for line in project["lines"]:
            if line["title"] in have:
                continue
            fields = {"project": {"key": project["container"]}, "issuetype": {"name": TASK},
                      "summary": line["title"][:255], "description": rich_text(line["detail"]),
                      "parent": {"key": epic["key"]}, "labels": [project["idem_key"]]}
            self.writer.write("POST", f"{API}/issue", operation="create_task", link_id=link_id, json={"fields": fields})
            have.add(line["title"])
            added += 1
        return added

    def url(self, epic: dict[str, Any]) -> str | None:
        return f"{self.writer.api.base_url}/browse/{epic['key']}"
