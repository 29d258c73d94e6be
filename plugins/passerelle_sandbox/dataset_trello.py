"""The Trello workspace served by the sandbox, derived deterministically from the CRM dataset.

One board per won deal (Salesforce ``Closed Won`` opportunities, HubSpot ``closedwon`` deals), plus
an internal board and an ambiguously named one. Trello has no time tracking, milestones nor CRM
link, so boards follow the convention the connector documents (:mod:`passerelle.connectors.sources.trello`):

- lists ``À faire``, ``En cours``, ``Terminé`` (task status), ``Jalons`` (milestones, label ``Jalon``)
  and ``Temps`` (time entries);
- board custom fields ``CRM deal`` (text ``salesforce:<Opportunity Id>`` / ``hubspot:<deal id>``),
  ``Billable`` (checkbox), ``Hours`` (number) and ``Date worked`` (date);
- a time entry is a card of the ``Temps`` list: its member is the person, ``Date worked`` the day,
  ``Hours`` the duration and ``Billable`` the flag.

``links`` records the truth for identity resolution: ``explicit`` boards carry ``CRM deal`` on
their cards, ``name`` boards only contain the customer's name, ``missing`` boards belong to no
customer, ``ambiguous`` boards name a word shared by several customers. The history is written as
board actions (``createCard``, ``updateCard``, ``deleteCard``...), newest activity at most 60 days
before the dataset clock; every id is an ObjectId stamped with its creation time.
"""

from __future__ import annotations

import random
from typing import Any

from passerelle_sandbox.dataset_time import DAY_MS, iso_ms, parse_iso
from passerelle_sandbox.trello_ids import ObjectIds
from passerelle_sandbox.dataset_pm import won_deals as crm_won_deals

Record = dict[str, Any]
HOUR_MS = 3_600_000
LISTS = ("À faire", "En cours", "Terminé", "Jalons", "Temps")
TODO, DOING, DONE, MILESTONES, TIME = LISTS
FIELDS = (("CRM deal", "text"), ("Billable", "checkbox"), ("Hours", "number"), ("Date worked", "date"))
MAX_BOARDS_PER_CRM = 16
PEOPLE = (
    ("Camille Lefèvre", "camillelefevre"), ("Julien Moreau", "julienmoreau"), ("Sophie Garnier", "sophiegarnier"),
    ("Thomas Roux", "thomasroux"), ("Léa Fontaine", "leafontaine"), ("Hugo Bertrand", "hugobertrand"),
    ("Manon Chevalier", "manonchevalier"), ("Nicolas Girard", "nicolasgirard"),
)
TASKS = (
    "Atelier de cadrage", "Recueil des besoins", "Paramétrage", "Reprise des données", "Recette utilisateurs",
    "Formation des équipes", "Mise en production", "Documentation", "Support au démarrage", "Revue de code",
)
MILESTONE_NAMES = ("Jalon 1 – Cadrage validé", "Jalon 2 – Recette", "Jalon 3 – Mise en production")
CHECK_ITEMS = ("Préparer", "Valider avec le client", "Livrer", "Archiver les livrables")
API_KEY = "3f6c1e8a9b2d4c7e8f0a1b2c3d4e5f60"
API_TOKEN = "ATTA7e3c9d1f5b2a4e6c8d0f1a3b5c7d9e1f2a4b6c8d0e2f4a6b8c0d2e4f6a8b0c2d4e6f81C0FFEE"


def won_deals(crm: dict[str, Any]) -> list[Record]:
    """Won deals of both CRMs with their customer's name, oldest id first within each CRM."""
    return crm_won_deals(crm, MAX_BOARDS_PER_CRM)


def customer_names(crm: dict[str, Any]) -> list[str]:
    sf = [a["Name"] for a in crm.get("salesforce", {}).get("objects", {}).get("Account", [])]
    hs = [c["properties"].get("name") or "" for c in crm.get("hubspot", {}).get("objects", {}).get("companies", [])]
    return sf + hs


def shared_word(names: list[str]) -> tuple[str, list[str]]:
    """A first word several customers share (``Transports``), and those customers."""
    groups: dict[str, list[str]] = {}
    for name in names:
        if name:
            groups.setdefault(name.split()[0], []).append(name)
    candidates = sorted((w, n) for w, n in groups.items() if len(n) >= 2)
    return candidates[0] if candidates else ("Groupe", [])


class TrelloBuilder:
    """Accumulates the workspace; each ``board`` call writes one project and its history."""

    def __init__(self, seed: Any, clock_ms: int) -> None:
        self.rng = random.Random(f"{seed}:trello")
        self.ids = ObjectIds(f"{seed}:trello:ids")
        self.clock_ms = clock_ms
        self.out: Record = {key: [] for key in ("members", "boards", "lists", "customFields", "labels", "cards",
                                                 "checklists", "actions", "links")}
        self.me = self._member("Passerelle Intégration", "passerelle_integration", clock_ms - 400 * DAY_MS)
        self.people = [self._member(name, user, clock_ms - self.rng.randint(200, 900) * DAY_MS) for name, user in PEOPLE]
        self.out["member_me"] = self.me["id"]
        self.short = 0

    def _member(self, full_name: str, username: str, created_ms: int) -> Record:
        initials = "".join(part[0] for part in full_name.split()[:2]).upper()
        member = {"id": self.ids.at_ms(created_ms), "fullName": full_name, "username": username, "initials": initials,
                  "memberType": "normal", "confirmed": True, "avatarUrl": None}
        self.out["members"].append(member)
        return member

    def _ms(self, low: int, high: int) -> int:
        return self.rng.randint(low, max(low, high))

    def _action(self, kind: str, ms: int, creator: Record, board: Record, **data: Any) -> Record:
        action = {
            "id": self.ids.at_ms(ms), "idMemberCreator": creator["id"], "type": kind, "date": iso_ms(ms),
            "data": {**data, "board": {"id": board["id"], "name": board["name"], "shortLink": board["shortLink"]}},
            "appCreator": None, "limits": {},
            "memberCreator": {k: creator[k] for k in ("id", "fullName", "username", "initials")},
        }
        self.out["actions"].append(action)
        return action

    def _short_link(self) -> str:
        return "".join(self.rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789") for _ in range(8))

    def board(self, name: str, crm_link: str | None, start_ms: int) -> Record:
        rng = self.rng
        team = [self.me, *rng.sample(self.people, rng.randint(2, 4))]
        lead = team[1]
        short = self._short_link()
        board = {
            "id": self.ids.at_ms(start_ms), "name": name, "desc": "", "closed": False, "idOrganization": None,
            "shortLink": short, "url": f"https://trello.com/b/{short}/{_slug(name)}", "shortUrl": f"https://trello.com/b/{short}",
            "dateLastActivity": None, "dateLastView": None, "idMemberCreator": lead["id"],
            "prefs": {"permissionLevel": "private", "background": "blue"}, "idMembers": [m["id"] for m in team],
        }
        self.out["boards"].append(board)
        self._action("createBoard", start_ms, lead, board)
        for member in team:
            self._action("addMemberToBoard", start_ms + 1000, lead, board, idMember=member["id"],
                         member={"id": member["id"], "name": member["fullName"]})
        lists: dict[str, Record] = {}
        for pos, list_name in enumerate(LISTS, 1):
            ms = start_ms + 2000 + pos * 1000
            lists[list_name] = {"id": self.ids.at_ms(ms), "name": list_name, "closed": False, "idBoard": board["id"],
                                "pos": pos * 16384, "subscribed": False}
            self._action("createList", ms, lead, board, list={"id": lists[list_name]["id"], "name": list_name})
        self.out["lists"].extend(lists.values())
        fields: dict[str, Record] = {}
        for pos, (field_name, kind) in enumerate(FIELDS, 1):
            ms = start_ms + 10_000 + pos * 1000
            fields[field_name] = {"id": self.ids.at_ms(ms), "idModel": board["id"], "modelType": "board",
                                  "fieldGroup": f"{board['id'][:12]}{pos:012x}", "name": field_name, "pos": pos * 16384,
                                  "type": kind, "display": {"cardFront": True}, "isSuggestedField": False}
            self._action("createCustomField", ms, lead, board,
                         customField={"id": fields[field_name]["id"], "name": field_name, "type": kind})
        self.out["customFields"].extend(fields.values())
        label = {"id": self.ids.at_ms(start_ms + 20_000), "idBoard": board["id"], "name": "Jalon", "color": "purple"}
        self.out["labels"].append(label)
        end_ms = self.clock_ms - HOUR_MS
        context = {"board": board, "lists": lists, "fields": fields, "team": team, "crm": crm_link, "label": label}
        for task in rng.sample(TASKS, rng.randint(4, 7)):
            self._task(context, task, self._ms(start_ms + HOUR_MS, start_ms + 20 * DAY_MS), end_ms)
        for milestone in MILESTONE_NAMES[: rng.randint(2, 3)]:
            self._milestone(context, milestone, self._ms(start_ms + HOUR_MS, start_ms + 5 * DAY_MS), end_ms)
        first_day = max(start_ms + DAY_MS, self.clock_ms - 60 * DAY_MS) // DAY_MS
        last_day = (self.clock_ms - DAY_MS) // DAY_MS
        for _ in range(rng.randint(6, 14)):
            self._time_entry(context, rng.randint(first_day, last_day))
        board_actions = [a for a in self.out["actions"] if a["data"]["board"]["id"] == board["id"]]
        board["dateLastActivity"] = max(a["date"] for a in board_actions)
        return board

    def _card(self, ctx: Record, name: str, list_name: str, ms: int, creator: Record, **fields: Any) -> Record:
        self.short += 1
        short = self._short_link()
        card = {
            "id": self.ids.at_ms(ms), "idBoard": ctx["board"]["id"], "idList": ctx["lists"][list_name]["id"],
            "name": name, "desc": "", "closed": False, "due": None, "dueComplete": False, "start": None,
            "dateLastActivity": iso_ms(ms), "idMembers": [], "idLabels": [], "labels": [], "idChecklists": [],
            "idShort": self.short, "pos": self.short * 16384, "shortLink": short,
            "url": f"https://trello.com/c/{short}/{self.short}-{_slug(name)}", "customFieldItems": [], **fields,
        }
        self.out["cards"].append(card)
        self._action("createCard", ms, creator, ctx["board"], card=self._card_ref(card),
                     list={"id": card["idList"], "name": list_name})
        if ctx["crm"]:
            self._set_field(ctx, card, "CRM deal", {"text": ctx["crm"]}, ms + 1000, creator)
        return card

    @staticmethod
    def _card_ref(card: Record) -> Record:
        return {"id": card["id"], "name": card["name"], "idShort": card["idShort"], "shortLink": card["shortLink"]}

    def _touch(self, card: Record, ms: int) -> None:
        card["dateLastActivity"] = max(card["dateLastActivity"], iso_ms(ms))

    def _set_field(self, ctx: Record, card: Record, field_name: str, value: Record, ms: int, creator: Record) -> None:
        definition = ctx["fields"][field_name]
        item = {"id": self.ids.at_ms(ms), "value": value, "idCustomField": definition["id"], "idModel": card["id"],
                "modelType": "card"}
        card["customFieldItems"].append(item)
        self._action("updateCustomFieldItem", ms, creator, ctx["board"], card=self._card_ref(card),
                     customField={"id": definition["id"], "name": field_name, "type": definition["type"]},
                     customFieldItem=dict(item), old={"value": None})
        self._touch(card, ms)

    def _assign(self, ctx: Record, card: Record, member: Record, ms: int, creator: Record) -> None:
        card["idMembers"].append(member["id"])
        self._action("addMemberToCard", ms, creator, ctx["board"], card=self._card_ref(card), idMember=member["id"],
                     member={"id": member["id"], "name": member["fullName"]})
        self._touch(card, ms)

    def _move(self, ctx: Record, card: Record, list_name: str, ms: int, creator: Record) -> None:
        before = next(name for name, lst in ctx["lists"].items() if lst["id"] == card["idList"])
        card["idList"] = ctx["lists"][list_name]["id"]
        self._action("updateCard", ms, creator, ctx["board"], card={**self._card_ref(card), "idList": card["idList"]},
                     old={"idList": ctx["lists"][before]["id"]},
                     listBefore={"id": ctx["lists"][before]["id"], "name": before},
                     listAfter={"id": card["idList"], "name": list_name})
        self._touch(card, ms)

    def _complete(self, ctx: Record, card: Record, ms: int, creator: Record) -> None:
        card["dueComplete"] = True
        self._action("updateCard", ms, creator, ctx["board"], card={**self._card_ref(card), "dueComplete": True},
                     old={"dueComplete": False})
        self._touch(card, ms)

    def _task(self, ctx: Record, name: str, created: int, end_ms: int) -> None:
        rng, team = self.rng, ctx["team"]
        creator = team[1]
        due = iso_ms((created // DAY_MS + rng.randint(5, 40)) * DAY_MS + 17 * HOUR_MS)
        card = self._card(ctx, name, TODO, created, creator, due=due)
        self._assign(ctx, card, rng.choice(team[1:]), created + 2000, creator)
        if rng.random() < 0.35:
            self._checklist(ctx, card, created + 3000, end_ms, creator)
        status = rng.random()
        if status < 0.75:
            started = self._ms(created + HOUR_MS, min(end_ms, created + 15 * DAY_MS))
            self._move(ctx, card, DOING, started, creator)
            if status < 0.5:
                finished = self._ms(started + HOUR_MS, min(end_ms, started + 20 * DAY_MS))
                self._move(ctx, card, DONE, finished, creator)
                self._complete(ctx, card, finished + 1000, creator)
        fate = rng.random()
        if fate < 0.06:
            closed_at = self._ms(created + DAY_MS, end_ms)
            self._action("updateCard", closed_at, creator, ctx["board"], card={**self._card_ref(card), "closed": True},
                         old={"closed": False})
            card["closed"] = True
            self._touch(card, closed_at)
        elif fate < 0.1:
            deleted_at = self._ms(max(card_time(card), created + DAY_MS), end_ms)
            self._action("deleteCard", deleted_at, creator, ctx["board"],
                         card={"id": card["id"], "idShort": card["idShort"]},
                         list={"id": card["idList"], "name": next(n for n, l in ctx["lists"].items() if l["id"] == card["idList"])})
            self.out["cards"].remove(card)
            self.out["checklists"] = [c for c in self.out["checklists"] if c["idCard"] != card["id"]]

    def _checklist(self, ctx: Record, card: Record, ms: int, end_ms: int, creator: Record) -> None:
        checklist = {"id": self.ids.at_ms(ms), "name": "Checklist", "idBoard": ctx["board"]["id"], "idCard": card["id"],
                     "pos": 16384, "checkItems": []}
        self._action("addChecklistToCard", ms, creator, ctx["board"], card=self._card_ref(card),
                     checklist={"id": checklist["id"], "name": checklist["name"]})
        for pos, item_name in enumerate(CHECK_ITEMS[: self.rng.randint(2, 4)], 1):
            item = {"id": self.ids.at_ms(ms + pos), "name": item_name, "state": "incomplete", "idChecklist": checklist["id"],
                    "pos": pos * 16384, "due": None, "idMember": None}
            checklist["checkItems"].append(item)
            if self.rng.random() < 0.5:
                done = self._ms(ms + HOUR_MS, end_ms)
                item["state"] = "complete"
                self._action("updateCheckItemStateOnCard", done, creator, ctx["board"], card=self._card_ref(card),
                             checklist={"id": checklist["id"], "name": checklist["name"]},
                             checkItem={"id": item["id"], "name": item_name, "state": "complete"})
                self._touch(card, done)
        card["idChecklists"].append(checklist["id"])
        self.out["checklists"].append(checklist)
        self._touch(card, ms)

    def _milestone(self, ctx: Record, name: str, created: int, end_ms: int) -> None:
        rng, label = self.rng, ctx["label"]
        creator = ctx["team"][1]
        due_ms = min(end_ms + 30 * DAY_MS, created + rng.randint(10, 60) * DAY_MS)
        card = self._card(ctx, name, MILESTONES, created, creator, due=iso_ms(due_ms // DAY_MS * DAY_MS + 17 * HOUR_MS),
                          idLabels=[label["id"]], labels=[dict(label)])
        self._set_field(ctx, card, "Billable", {"checked": "true"}, created + 2000, creator)
        if due_ms < end_ms and rng.random() < 0.7:
            self._complete(ctx, card, self._ms(due_ms - DAY_MS, min(end_ms, due_ms + DAY_MS)), creator)

    def _time_entry(self, ctx: Record, day: int) -> None:
        rng = self.rng
        person = rng.choice(ctx["team"][1:])
        hours = rng.choice((0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 6, 7, 7.5))
        billable = rng.random() < 0.8
        ms = min(day * DAY_MS + rng.randint(17 * HOUR_MS, 20 * HOUR_MS), self.clock_ms - HOUR_MS)
        name = f"{iso_ms(day * DAY_MS)[:10]} · {person['fullName']} · {_number(hours)} h"
        card = self._card(ctx, name, TIME, ms, person)
        self._assign(ctx, card, person, ms + 2000, person)
        self._set_field(ctx, card, "Date worked", {"date": iso_ms(day * DAY_MS)}, ms + 3000, person)
        self._set_field(ctx, card, "Hours", {"number": _number(hours)}, ms + 4000, person)
        self._set_field(ctx, card, "Billable", {"checked": "true" if billable else "false"}, ms + 5000, person)


def card_time(card: Record) -> int:
    return parse_iso(card["dateLastActivity"])


def _number(value: float) -> str:
    return f"{value:g}"


def _slug(text: str) -> str:
    return "-".join("".join(c if c.isalnum() else " " for c in text.lower()).split())[:40]


def build_trello_dataset(crm: dict[str, Any]) -> dict[str, Any]:
    """The Trello workspace for a CRM dataset (same CRM and seed → same bytes)."""
    clock_ms = parse_iso(crm["clock"])
    builder = TrelloBuilder(crm.get("seed"), clock_ms)
    rng = builder.rng
    out = builder.out
    for index, deal in enumerate(won_deals(crm)):
        start = clock_ms - rng.randint(45, 80) * DAY_MS + rng.randint(8 * HOUR_MS, 18 * HOUR_MS)
        explicit = index % 5 != 3
        link = f"{deal['crm']}:{deal['deal_id']}" if explicit else None
        project = deal["deal"].split(" - ", 1)[-1] if " - " in deal["deal"] else deal["deal"]
        board = builder.board(f"{deal['customer']} – {project}", link, start)
        out["links"].append({"project_id": board["id"], "crm": deal["crm"], "deal_id": deal["deal_id"],
                             "kind": "explicit" if explicit else "name"})
    for name in ("Interne – Formation continue", "Avant-vente – Prospects divers"):
        board = builder.board(name, None, clock_ms - rng.randint(45, 80) * DAY_MS)
        out["links"].append({"project_id": board["id"], "crm": None, "deal_id": None, "kind": "missing"})
    word, candidates = shared_word(customer_names(crm))
    board = builder.board(f"{word} – Audit e-invoicing", None, clock_ms - rng.randint(45, 80) * DAY_MS)
    out["links"].append({"project_id": board["id"], "crm": None, "deal_id": None, "kind": "ambiguous",
                         "candidates": sorted(candidates)})
    out["actions"].sort(key=lambda a: a["id"])
    out["credentials"] = {"key": API_KEY, "token": API_TOKEN}
    return out
