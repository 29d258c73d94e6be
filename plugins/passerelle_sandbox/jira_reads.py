"""Jira emulator: what hangs off one issue. Worklogs, comments, transitions and the changelog.

- ``GET /issue/{key}/worklog`` pages with ``startAt``/``maxResults`` (default 5000), oldest first,
  filtered by ``startedAfter``/``startedBefore`` (epoch ms);
- ``GET /issue/{key}/comment`` answers ``{comments, startAt, maxResults, total}``, ``orderBy=-created``
  reverses it;
- ``GET /issue/{key}/transitions``: the workflow is global (any status to any other), one transition
  per target status;
- ``GET /issue/{key}/changelog`` pages ``values`` oldest first; ``expand=changelog`` on an issue embeds
  ``{startAt, maxResults, total, histories}``. Only writes through the API make history here: the
  author is the API user, which is how a two-way sync recognises its own changes.
"""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Response

from passerelle_sandbox.core import Call, json_response
from passerelle_sandbox.dataset_jira import STATUSES
from passerelle_sandbox.jira_common import Record, jira_error, rich_text, rule
from passerelle_sandbox.paging import offset_page
from passerelle_sandbox.store import Collection

TRANSITIONS = {"11": "To Do", "21": "In Progress", "31": "In Review", "41": "Done"}
ISSUE_MISSING = "Issue does not exist or you do not have permission to see it."

READ_RULES = [
    rule("/rest/api/3/issue/<id_or_key>/worklog", "issue_worklogs"),
    rule("/rest/api/3/issue/<id_or_key>/worklog/<worklog_id>", "issue_worklog"),
    rule("/rest/api/3/issue/<id_or_key>/comment", "issue_comments"),
    rule("/rest/api/3/issue/<id_or_key>/comment/<comment_id>", "issue_comment"),
    rule("/rest/api/3/issue/<id_or_key>/transitions", "issue_transitions"),
    rule("/rest/api/3/issue/<id_or_key>/changelog", "issue_changelog"),
]


class JiraReadsMixin:
    """Handlers for an issue's worklogs, comments, transitions and history."""

    base_url: str
    issues: Collection
    projects: dict[str, Record]
    worklogs: Collection
    lock: Any

    def load_issue_children(self) -> None:
        self.comments: dict[str, list[Record]] = {}
        self.histories: dict[str, list[Record]] = {}

    def visible_issue(self, id_or_key: str) -> Record:
        for issue in self.issues.values():
            if id_or_key in (issue["id"], issue["key"]) and not self.projects[issue["projectId"]].get("deleted"):
                return issue
        raise jira_error(404, ISSUE_MISSING)

    @staticmethod
    def _int_arg(call: Call, name: str, default: int) -> int:
        try:
            return int(call.request.args.get(name, default))
        except ValueError:
            raise jira_error(400, f"{name} must be an integer") from None

    # ------------------------------------------------------------------------ renderers

    def render_comment(self, issue: Record, comment: Record) -> Record:
        return {"self": f"{self.api_root}/issue/{issue['id']}/comment/{comment['id']}",  # type: ignore[attr-defined]
                "id": comment["id"], "author": self.user_ref(comment["author"]),  # type: ignore[attr-defined]
                "body": rich_text(comment["body"]), "updateAuthor": self.user_ref(comment["updateAuthor"]),  # type: ignore[attr-defined]
                "created": self.stamp(comment["created"]), "updated": self.stamp(comment["updated"]),  # type: ignore[attr-defined]
                "jsdPublic": True}

    def render_history(self, history: Record) -> Record:
        return {"id": history["id"], "author": self.user_ref(history["author"]),  # type: ignore[attr-defined]
                "created": self.stamp(history["created"]), "items": [dict(i) for i in history["items"]]}  # type: ignore[attr-defined]

    def render_transition(self, transition_id: str) -> Record:
        status = next(s for s in STATUSES if s[1] == TRANSITIONS[transition_id])
        return {"id": transition_id, "name": status[1], "to": self.render_status(status),  # type: ignore[attr-defined]
                "hasScreen": False, "isGlobal": True, "isInitial": False, "isAvailable": True,
                "isConditional": False, "isLooped": False}

    def changelog_page(self, issue: Record) -> Record:
        histories = [self.render_history(h) for h in self.histories.get(issue["id"], [])]
        return {"startAt": 0, "maxResults": len(histories), "total": len(histories), "histories": histories}

    def available_transitions(self, issue: Record) -> list[str]:
        return [t for t, status in TRANSITIONS.items() if status != issue["status"]]

    # ------------------------------------------------------------------------- handlers

    def on_issue_worklogs(self, call: Call, id_or_key: str) -> Response:
        start = max(0, self._int_arg(call, "startAt", 0))
        size = max(0, min(self._int_arg(call, "maxResults", 5000), 5000))
        after = self._int_arg(call, "startedAfter", -1)
        before = self._int_arg(call, "startedBefore", 2**62)
        with self.lock:
            issue = self.visible_issue(id_or_key)
            mine = sorted((w for w in self.worklogs.values() if w["issueId"] == issue["id"]
                           and after <= w["started"] < before), key=lambda w: (w["created"], int(w["id"])))
            page = [self.render_worklog(w, False) for w in mine[start: start + size]]  # type: ignore[attr-defined]
        return json_response({"startAt": start, "maxResults": size, "total": len(mine), "worklogs": page})

    def on_issue_worklog(self, call: Call, id_or_key: str, worklog_id: str) -> Response:
        with self.lock:
            issue = self.visible_issue(id_or_key)
            worklog = self.worklogs.get(worklog_id)
            if worklog is None or worklog["issueId"] != issue["id"]:
                raise jira_error(404, f"Cannot find worklog with id: {worklog_id}")
            return json_response(self.render_worklog(worklog, False))  # type: ignore[attr-defined]

    def on_issue_comments(self, call: Call, id_or_key: str) -> Response:
        start = max(0, self._int_arg(call, "startAt", 0))
        size = max(0, min(self._int_arg(call, "maxResults", 5000), 5000))
        with self.lock:
            issue = self.visible_issue(id_or_key)
            comments = sorted(self.comments.get(issue["id"], []), key=lambda c: (c["created"], int(c["id"])),
                              reverse=call.request.args.get("orderBy", "created").startswith("-"))
            page = [self.render_comment(issue, c) for c in comments[start: start + size]]
        return json_response({"comments": page, "self": call.request.base_url, "maxResults": size,
                              "total": len(comments), "startAt": start})

    def on_issue_comment(self, call: Call, id_or_key: str, comment_id: str) -> Response:
        with self.lock:
            issue = self.visible_issue(id_or_key)
            comment = next((c for c in self.comments.get(issue["id"], []) if c["id"] == comment_id), None)
            if comment is None:
                raise jira_error(404, "Can not find a comment for the id: " + comment_id + ".")
            return json_response(self.render_comment(issue, comment))

    def on_issue_transitions(self, call: Call, id_or_key: str) -> Response:
        wanted = call.request.args.get("transitionId")
        with self.lock:
            issue = self.visible_issue(id_or_key)
            ids = [t for t in self.available_transitions(issue) if wanted in (None, t)]
        return json_response({"expand": "transitions", "transitions": [self.render_transition(t) for t in ids]})

    def on_issue_changelog(self, call: Call, id_or_key: str) -> Response:
        start = max(0, self._int_arg(call, "startAt", 0))
        size = max(1, min(self._int_arg(call, "maxResults", 100), 100))
        with self.lock:
            issue = self.visible_issue(id_or_key)
            page = offset_page(self.histories.get(issue["id"], []), start, size)
            values = [self.render_history(h) for h in page.items]
        return json_response({"self": call.request.url, "maxResults": size, "startAt": start, "total": page.total,
                              "isLast": not page.has_more, "values": values})
