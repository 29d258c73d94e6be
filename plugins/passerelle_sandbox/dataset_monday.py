"""The monday.com account served by the sandbox, derived deterministically from the CRM dataset.

One board per won deal (Salesforce ``Closed Won`` opportunities, HubSpot ``closedwon`` deals), plus
an internal board, an ambiguously named one and an archived one. Every board follows the column
convention the connector documents (:mod:`passerelle.connectors.sources.monday`):

- ``status`` (status: ``À faire`` / ``En cours`` / ``Terminé``), ``person`` (people), ``date_done``
  (date: completion date), ``crm_deal`` (text: ``salesforce:<Opportunity Id>`` /
  ``hubspot:<deal id>``), ``billable`` (checkbox titled ``Facturable``), ``time_tracking``
  (time tracking: total seconds plus the history of sessions) and ``hours`` (numbers titled ``Heures``:
  hours logged by hand, for items not timed with the tracker; empty in this dataset);
- groups ``topics`` (``Tâches``) and ``milestones`` (``Jalons``).

``links`` records the truth for identity resolution: ``explicit`` boards carry ``crm_deal`` on their
items, ``name`` boards only contain the customer's name, ``missing`` boards belong to no customer,
``ambiguous`` boards name a word shared by several customers. Timestamps are monday's
``2026-02-27T10:15:02Z``; activity logs carry monday's 17-digit ``created_at`` (100 ns units).
"""

from __future__ import annotations

import json
import random
from typing import Any

from passerelle_sandbox.dataset_time import DAY_MS, iso_ms, parse_iso
from passerelle_sandbox.dataset_pm import won_deals as crm_won_deals

Record = dict[str, Any]
HOUR_MS = 3_600_000
MAX_BOARDS_PER_CRM = 14
API_TOKEN = (
    "eyJhbGciOiJIUzI1NiJ9.eyJ0aWQiOjQyMTM3MDAwMSwiYWFpIjoxMSwidWlkIjo1NTUwMDAwMSwiaWFkIjoiMjAyNi0wMS0wNVQxMDowMDow"
    "MC4wMDBaIiwicGVyIjoibWU6d3JpdGUiLCJhY3RpZCI6OTkxMjM0NSwicmduIjoiZXVjMSJ9.sandbox-monday-personal-token"
)
ACCOUNT_ID = 9912345
STATUSES = ("À faire", "En cours", "Terminé")
COLUMNS = (
    ("name", "Nom", "name"),
    ("status", "Statut", "status"),
    ("person", "Responsable", "people"),
    ("date_done", "Date de fin", "date"),
    ("crm_deal", "Affaire CRM", "text"),
    ("billable", "Facturable", "checkbox"),
    ("time_tracking", "Suivi du temps", "time_tracking"),
    ("hours", "Heures", "numbers"),
)
GROUPS = (("topics", "Tâches", "#579bfc"), ("milestones", "Jalons", "#a25ddc"))
PEOPLE = (
    ("Camille Lefèvre", "camille.lefevre"), ("Julien Moreau", "julien.moreau"), ("Sophie Garnier", "sophie.garnier"),
    ("Thomas Roux", "thomas.roux"), ("Léa Fontaine", "lea.fontaine"), ("Hugo Bertrand", "hugo.bertrand"),
    ("Manon Chevalier", "manon.chevalier"), ("Nicolas Girard", "nicolas.girard"),
)
TASKS = (
    "Atelier de cadrage", "Recueil des besoins", "Paramétrage", "Reprise des données", "Recette utilisateurs",
    "Formation des équipes", "Mise en production", "Documentation", "Support au démarrage", "Revue de code",
)
MILESTONES = ("Jalon 1 – Cadrage validé", "Jalon 2 – Recette", "Jalon 3 – Mise en production")


def iso_s(ms: int) -> str:
    """monday's ISO8601DateTime: UTC, second precision, ``Z``."""
    return iso_ms(ms)[:19] + "Z"


def log_stamp(ms: int) -> str:
    """Activity-log ``created_at``: 100-nanosecond units since the epoch, as a string."""
    return str(ms * 10_000)


def won_deals(crm: dict[str, Any]) -> list[Record]:
    """Won deals of both CRMs with their customer's name, oldest id first within each CRM."""
    return crm_won_deals(crm, MAX_BOARDS_PER_CRM)


def shared_word(crm: dict[str, Any]) -> str:
    """A first word several customers share (``Transports``): names built on it are ambiguous."""
    names = [a["Name"] for a in crm.get("salesforce", {}).get("objects", {}).get("Account", [])]
    names += [c["properties"].get("name") or "" for c in crm.get("hubspot", {}).get("objects", {}).get("companies", [])]
    groups: dict[str, int] = {}
    for name in names:
        if name:
            groups[name.split()[0]] = groups.get(name.split()[0], 0) + 1
    candidates = sorted(word for word, count in groups.items() if count >= 2)
    return candidates[0] if candidates else "Groupe"


class MondayBuilder:
    """Accumulates the account; each ``board`` call writes one project, its items and their history."""

    def __init__(self, seed: Any, clock_ms: int) -> None:
        self.rng = random.Random(f"{seed}:monday")
        self.clock_ms = clock_ms
        self.out: Record = {"account_id": ACCOUNT_ID, "api_token": API_TOKEN, "users": [], "boards": [],
                            "items": [], "activity_logs": [], "links": []}
        self.next_board = 1_830_000_000
        self.next_item = 1_840_000_000
        self.next_session = 71_000_000
        self.me = self._user("Passerelle Intégration", "integration", clock_ms - 400 * DAY_MS, admin=True)
        self.people = [self._user(name, login, clock_ms - self.rng.randint(200, 900) * DAY_MS) for name, login in PEOPLE]

    def _user(self, name: str, login: str, created_ms: int, admin: bool = False) -> Record:
        user = {"id": str(55_500_000 + len(self.out["users"]) + 1), "name": name, "email": f"{login}@example.fr",
                "title": "Consultant" if not admin else "Intégration", "enabled": True, "is_admin": admin,
                "is_guest": False, "time_zone_identifier": "Europe/Paris", "created_at": iso_s(created_ms)}
        self.out["users"].append(user)
        return user

    def _ms(self, low: int, high: int) -> int:
        return self.rng.randint(low, max(low, high))

    def _log(self, board: Record, event: str, ms: int, user: Record, item: Record) -> None:
        data = {"board_id": int(board["id"]), "group_id": item["group_id"], "pulse_id": int(item["id"]),
                "pulse_name": item["name"]}
        self.out["activity_logs"].append({
            "id": f"{self.rng.getrandbits(128):032x}"[:8] + "-" + f"{self.rng.getrandbits(64):016x}"[:4],
            "board_id": board["id"], "event": event, "entity": "pulse",
            "data": json.dumps(data, separators=(",", ":"), ensure_ascii=False),
            "created_at": log_stamp(ms), "user_id": user["id"], "account_id": str(ACCOUNT_ID),
        })

    def board(self, name: str, deal: Record | None, kind: str, billable: bool, state: str = "active") -> Record:
        created = self.clock_ms - self._ms(70, 110) * DAY_MS - self._ms(0, DAY_MS)
        self.next_board += self.rng.randint(1_000, 90_000)
        board = {
            "id": str(self.next_board), "name": name, "state": state, "board_kind": "public",
            "description": f"Projet client — {deal['deal']}" if deal and kind == "explicit" else None,
            "workspace_id": "4100001", "created_at": iso_s(created), "updated_at": iso_s(created),
            "owner_ids": [self.me["id"]],
            "columns": [{"id": cid, "title": title, "type": ctype} for cid, title, ctype in COLUMNS],
            "groups": [{"id": gid, "title": title, "color": color, "position": str(65536 * (i + 1)),
                        "archived": False, "deleted": False} for i, (gid, title, color) in enumerate(GROUPS)],
        }
        self.out["boards"].append(board)
        team = self.rng.sample(self.people, 3)
        tag = f"{deal['crm']}:{deal['deal_id']}" if deal and kind == "explicit" else None
        last = created
        for title in self.rng.sample(TASKS, self.rng.randint(4, 7)):
            last = max(last, self._item(board, "topics", title, created, team, tag, billable))
        for title in MILESTONES[: self.rng.randint(2, 3)]:
            last = max(last, self._item(board, "milestones", title, created, team, tag, billable, milestone=True))
        board["updated_at"] = iso_s(max(last, created))
        self.out["links"].append({"project_id": board["id"], "crm": deal["crm"] if deal and kind in ("explicit", "name")
                                  else None, "deal_id": deal["deal_id"] if deal and kind in ("explicit", "name")
                                  else None, "kind": kind})
        return board

    def _item(self, board: Record, group: str, name: str, board_created: int, team: list[Record], tag: str | None,
              billable: bool, milestone: bool = False) -> int:
        start = self.clock_ms - 60 * DAY_MS
        created = self._ms(max(board_created, start - 5 * DAY_MS), self.clock_ms - 10 * DAY_MS)
        self.next_item += self.rng.randint(5, 4_000)
        person = self.rng.choice(team)
        status = self.rng.choice((0, 1, 2, 2)) if not milestone else self.rng.choice((0, 2))
        sessions: list[Record] = []
        cursor = max(created, start)
        if not milestone:
            for _ in range(self.rng.randint(1, 4)):
                begin = self._ms(cursor, self.clock_ms - 2 * DAY_MS)
                begin -= begin % 60_000
                end = begin + self.rng.randint(2, 32) * 900_000
                worker = self.rng.choice(team)
                self.next_session += self.rng.randint(1, 500)
                sessions.append({"id": str(self.next_session), "started_user_id": worker["id"],
                                 "ended_user_id": worker["id"], "started_at": iso_s(begin), "ended_at": iso_s(end),
                                 "manually_entered_start_date": False, "manually_entered_end_date": False,
                                 "status": "active"})
                cursor = end
        done_ms = self._ms(cursor, self.clock_ms - DAY_MS) if status == 2 else None
        updated = max(created, cursor, done_ms or 0) + self._ms(0, HOUR_MS)
        values: Record = {
            "status": {"index": status, "label": STATUSES[status]},
            "person": {"personsAndTeams": [{"id": int(person["id"]), "kind": "person"}]},
            "date_done": {"date": iso_s(done_ms)[:10]} if done_ms else None,
            "crm_deal": tag,
            "billable": {"checked": "true"} if billable and not milestone else None,
        }
        if sessions:
            values["time_tracking"] = {"running": False, "sessions": sessions}
        item = {"id": str(self.next_item), "name": name, "board_id": board["id"], "group_id": group, "state": "active",
                "created_at": iso_s(created), "updated_at": iso_s(updated), "creator_id": self.me["id"],
                "column_values": {k: v for k, v in values.items() if v is not None}}
        self.out["items"].append(item)
        self._log(board, "create_pulse", created, self.me, item)
        return updated

    def remove(self, item: Record, state: str, ms: int) -> None:
        board = next(b for b in self.out["boards"] if b["id"] == item["board_id"])
        item["state"], item["updated_at"] = state, iso_s(ms)
        self._log(board, "delete_pulse" if state == "deleted" else "archive_pulse", ms, self.me, item)


def build_monday_dataset(crm: dict[str, Any]) -> dict[str, Any]:
    """The monday.com account for a CRM dataset (same seed and clock → same bytes)."""
    clock_ms = parse_iso(crm["clock"])
    builder = MondayBuilder(crm.get("seed"), clock_ms)
    deals = won_deals(crm)
    for i, deal in enumerate(deals):
        kind = "name" if i % 5 == 3 else "explicit"
        name = f"{deal['deal']}" if kind == "explicit" else f"Projet {deal['customer']}"
        builder.board(name, deal, kind, billable=True)
    builder.board("Projet interne – Outillage et veille", None, "missing", billable=False)
    builder.board(f"Déploiement {shared_word(crm)}", None, "ambiguous", billable=True)
    archived = builder.board("Projet pilote 2025 (clos)", None, "missing", billable=False, state="archived")
    archived["updated_at"] = iso_s(clock_ms - 20 * DAY_MS)
    items = builder.out["items"]
    removed = builder.rng.sample([i for i in items if i["board_id"] != archived["id"]], 4)
    for n, item in enumerate(removed):
        builder.remove(item, "deleted" if n % 2 == 0 else "archived", clock_ms - builder.rng.randint(3, 30) * DAY_MS)
    builder.out["activity_logs"].sort(key=lambda log: (log["board_id"], int(log["created_at"])))
    return builder.out


def monday_section(dataset: dict[str, Any]) -> dict[str, Any]:
    """``dataset["monday"]`` when present, else built from the CRM part."""
    section = dataset.get("monday")
    return section if isinstance(section, dict) else build_monday_dataset(dataset)
