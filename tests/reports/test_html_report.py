"""The HTML compliance report of a period: one self-contained file with every section, the period's figures
and one inline SVG per chart, built from a warehouse holding hand-made invoices; French by default (what a
browser shows of it: tests/reports/test_report_in_browser.py)."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import psycopg2.extensions
import pytest

from passerelle.reports.html import write_report
from passerelle.reports.readiness import rebuild_customer_readiness
from tests.reports import add_event, add_invoice, add_payment, add_validation, utc

START, END, AS_OF = date(2026, 3, 1), date(2026, 3, 31), date(2026, 4, 5)
EVIL = "<script>alert('x')</script> & Fils"
SECTIONS = {"summary": "Synthèse", "readiness": "Préparation des clients", "validation": "Validation des factures",
            "vat": "TVA", "ereporting": "Transmissions d&#39;e-reporting (flux 10)",
            "calendar": "Calendrier des déclarations", "lifecycle": "Statuts du cycle de vie",
            "set-aside": "Enregistrements sources écartés au chargement"}
B2B, B2BINT, B2C = "Entreprise en France (B2B)", "Entreprise hors de France (B2BINT)", "Particulier (B2C)"
REGIME, STANDARD = "Réel normal mensuel", "Taux normal"


def euros(text: str) -> str:
    """``1 050,00 €`` as the page writes it (narrow no-break space, no-break space before the sign)."""
    return text.replace(" ", "\u202f") + "\u00a0€"


def percent(text: str) -> str:
    return text + "\u202f%"


def seed_customers(conn: Any) -> None:
    common = {"source_system": "salesforce", "customer_type": "B2B", "siren": "732829320", "siret": "73282932000074",
              "vat_number": "FR44732829320", "billing_street": "12 rue de la Paix", "billing_city": "Paris",
              "billing_postcode": "75002", "billing_country_code": "FR", "einvoicing_address": "732829320"}
    customers = [
        {**common, "customer_key": "salesforce:ok", "source_id": "ok", "legal_name": "Dupont Conseil SAS"},
        {**common, "customer_key": "salesforce:bad", "source_id": "bad", "legal_name": EVIL, "einvoicing_address": None},
        {**common, "customer_key": "hubspot:person", "source_system": "hubspot", "source_id": "person",
         "legal_name": "Camille Martin", "customer_type": "B2C", "siren": None, "siret": None, "vat_number": None,
         "einvoicing_address": None, "billing_street": None},
    ]
    with conn.cursor() as cur:
        for row in customers:
            cur.execute(f"INSERT INTO staging.customers ({', '.join(row)}) VALUES ({', '.join(['%s'] * len(row))})",
                        list(row.values()))
    conn.commit()
    rebuild_customer_readiness(conn)


def seed_invoices(conn: Any) -> None:
    add_invoice(conn, "F2026-000001", date(2026, 3, 10),
                [("S", "20.00", "1000.00", "200.00"), ("S", "5.50", "200.00", "11.00")])
    add_event(conn, "F2026-000001", 200, utc(date(2026, 3, 10)))
    add_invoice(conn, "F2026-000002", date(2026, 3, 15), [("S", "20.00", "500.00", "100.00")], rule="B2C",
                vat_point="payment")
    payment = add_payment(conn, "F2026-000002", date(2026, 3, 20), "300.00")
    add_event(conn, "F2026-000002", 200, utc(date(2026, 3, 15)))
    add_event(conn, "F2026-000002", 212, utc(date(2026, 3, 20)), source="payments", payment_id=payment)
    add_invoice(conn, "F2026-000003", date(2026, 3, 18), [("G", "0.00", "1000.00", "0.00")], rule="B2BINT",
                currency="CHF", eur_per_unit="1.050000", tax_total_eur="0.00")
    add_invoice(conn, "F2026-000004", date(2026, 3, 25), [("S", "20.00", "100.00", "20.00")], type_code="381",
                preceding="F2026-000001")
    add_invoice(conn, "F2026-000005", date(2026, 4, 2), [("S", "20.00", "9999.00", "1999.80")])  # next period


def seed_validations(conn: Any) -> None:
    fatal = ("br-fr", "BR-FR-11_BT-47", "fatal", "BT-47 <SIREN> de l'acheteur obligatoire")
    add_validation(conn, "jan-1", "cii", date(2026, 1, 31), "r1", utc(date(2026, 2, 1)))
    add_validation(conn, "feb-1", "cii", date(2026, 2, 28), "r2", utc(date(2026, 3, 1)))
    add_validation(conn, "feb-2", "cii", date(2026, 2, 28), "r2", utc(date(2026, 3, 1)), [fatal])
    for key, findings in (("mar-1", ()), ("mar-2", ()), ("mar-3", (fatal,))):
        add_validation(conn, key, "cii", END, "r3", utc(date(2026, 4, 1)), findings)
    for key in ("mar-1", "mar-2"):
        add_validation(conn, key, "facturx", END, "r3", utc(date(2026, 4, 1)))


def seed_ereporting(conn: Any) -> None:
    with conn.cursor() as cur:
        cur.execute("""
            INSERT INTO marts.ereporting_transmissions (transmission_id, flux, regime, period_start, period_end,
                                                        due_date, path, records, valid, fatal_findings, run_id)
            VALUES ('ER-2026-03-D1-103', '10.1+10.3', 'reel_normal_mensuel', '2026-03-01', '2026-03-10', '2026-03-20',
                    'ereporting/ER-2026-03-D1-103.xml', 2, true, 0, 'r3'),
                   ('ER-2026-03-P-104', '10.4', 'reel_normal_mensuel', '2026-03-01', '2026-03-31', '2026-04-10',
                    'ereporting/ER-2026-03-P-104.xml', 1, false, 3, 'r3')""")
        cur.execute("""
            INSERT INTO marts.filing_calendar (regime, kind, period_start, period_end, due_date)
            VALUES ('reel_normal_mensuel', 'transactions', '2026-03-01', '2026-03-10', '2026-03-20'),
                   ('reel_normal_mensuel', 'transactions', '2026-03-11', '2026-03-20', '2026-03-31'),
                   ('reel_normal_mensuel', 'payments', '2026-03-01', '2026-03-31', '2026-04-10'),
                   ('reel_normal_mensuel', 'payments', '2026-05-01', '2026-05-31', '2026-06-10')""")
    conn.commit()


def section_of(page: str, anchor: str) -> str:
    match = re.search(rf'<section id="{anchor}">(.*?)</section>', page, re.S)
    assert match, anchor
    return match.group(1)


def row_with(part: str, *cells: str) -> bool:
    """Some table row of ``part`` holds ``cells``, in this order (other cells may come between)."""
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", part, re.S):
        remaining = iter(re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S))
        if all(any(found == cell for found in remaining) for cell in cells):
            return True
    return False


def test_report_of_a_period(warehouse_conn: Any, tmp_path: Path) -> None:
    seed_customers(warehouse_conn)
    seed_invoices(warehouse_conn)
    seed_validations(warehouse_conn)
    seed_ereporting(warehouse_conn)

    path = write_report(warehouse_conn, START, END, tmp_path / "reports", as_of=AS_OF)

    assert path == tmp_path / "reports" / "compliance-report_2026-03-01_2026-03-31.html"
    assert path.stat().st_mode & 0o777 == 0o600 and not list(path.parent.glob(".*partial"))
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no partial file left behind
    page = path.read_text(encoding="utf-8")
    for anchor, title in SECTIONS.items():
        assert f"<h2>{title}</h2>" in section_of(page, anchor)

    # Self-contained: nothing fetched, nothing run.
    assert re.search(r"https?:", page) is None
    assert "<script" not in page and "<link" not in page and " src=" not in page
    # One inline SVG per chart, each in its figure.
    charts = re.findall(r"<figure><svg[^>]*aria-label=\"([^\"]+)\" data-chart=\"([^\"]+)\"", page)
    assert [name for _, name in charts] == ["readiness", "validation-trend", "vat-by-rate", "lifecycle"]
    assert charts[0][0] == "Clients prêts et non prêts à facturer, par classification."  # said in French
    assert page.count("<svg") == 4 and page.count("</svg>") == 4

    readiness = section_of(page, "readiness")
    assert row_with(readiness, B2B, "2", "1", "1", "0") and row_with(readiness, B2C, "1", "0", "1", "0")
    assert row_with(readiness, "Total", "3", "1", "2", "0")
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; Fils" in readiness
    assert "<li>adresse de facturation électronique (BT-49)\u00a0: manquante</li>" in readiness
    assert "<li>rue de facturation\u00a0: manquante</li>" in readiness
    assert "Dupont Conseil SAS" not in readiness  # ready customers are not listed

    validation = section_of(page, "validation")
    assert row_with(validation, "CII", "3", "2", "1", percent("66,7"))
    assert row_with(validation, "Factur-X", "2", "2", "0", percent("100,0"))
    assert row_with(validation, "BR-FR-11_BT-47", "Bloquante", "Règles françaises (BR-FR)", "1", "1",
                    "BT-47 &lt;SIREN&gt; de l&#39;acheteur obligatoire")
    assert "sur les 3 dernières périodes de facturation" in validation  # January, February, March

    vat = section_of(page, "vat")
    # 20 %: 1000 − 100 (credit note), one invoice and one credit note; the CHF export at 1.05; April's invoice
    # is another period. The total counts F2026-000001 (two rates) once: 3 invoices, 1 credit note.
    assert row_with(vat, "mars 2026", B2B, STANDARD, percent("20"), "Débits", "1", "1", euros("900,00"),
                    euros("180,00"))
    assert row_with(vat, "mars 2026", B2B, STANDARD, percent("5,5"), "Débits", "1", "0", euros("200,00"),
                    euros("11,00"))
    assert row_with(vat, "mars 2026", B2BINT, "Exportation hors UE", percent("0"), "Débits", "1", "0",
                    euros("1 050,00"), euros("0,00"))
    assert row_with(vat, "mars 2026", B2C, STANDARD, percent("20"), "Encaissements", "1", "0", euros("500,00"),
                    euros("100,00"))
    assert row_with(vat, "Total", "3", "1", euros("2 650,00"), euros("291,00"))
    assert row_with(vat, "mars 2026", B2C, STANDARD, percent("20"), "1", euros("300,00"), euros("250,00"),
                    euros("50,00"))  # VAT due on receipts
    assert "9\u202f999,00" not in vat

    summary = section_of(page, "summary")
    assert "<dd>1 sur 3</dd>" in summary and "<dd>4 sur 5</dd>" in summary
    assert f"<dd>{euros('191,00')}</dd>" in summary and f"<dd>{euros('50,00')}</dd>" in summary  # debits; receipts
    assert "<dd>1 sur 2</dd>" in summary and "<dt>Déclarations en retard</dt><dd>1</dd>" in summary

    ereporting = section_of(page, "ereporting")
    assert row_with(ereporting, "ER-2026-03-D1-103", "10.1 et 10.3 – transactions", "Transactions", REGIME,
                    "du 01/03/2026 au 10/03/2026", "20/03/2026", "2")
    assert row_with(ereporting, "ER-2026-03-P-104", "10.4 – paiements des ventes aux particuliers", "Paiements")
    assert re.search(r"ER-2026-03-P-104.*?<span class=\"bad\">Non</span>.*?>3<", ereporting, re.S)

    calendar = section_of(page, "calendar")
    assert row_with(calendar, "Transactions", "du 01/03/2026 au 10/03/2026", "20/03/2026")
    assert re.search(r"au 10/03/2026</td><td>20/03/2026</td><td><span class=\"good\">Transmise", calendar)
    assert re.search(r"au 20/03/2026</td><td>31/03/2026</td><td><span class=\"bad\">En retard", calendar)
    assert "10/04/2026</td><td>À faire</td>" in calendar  # its only transmission failed validation, not yet due
    assert "10/06/2026" not in calendar

    lifecycle = section_of(page, "lifecycle")
    assert row_with(lifecycle, "Pas encore de statut", "2") and row_with(lifecycle, "200 Déposée", "1")
    assert row_with(lifecycle, "212 Encaissée", "1") and row_with(lifecycle, "Total", "4")

    # The reads ran in their own read-only snapshot, ended: the connection is idle again.
    assert warehouse_conn.info.transaction_status == psycopg2.extensions.TRANSACTION_STATUS_IDLE


def test_report_of_an_empty_warehouse_says_what_is_missing(warehouse_conn: Any, tmp_path: Path) -> None:
    page = write_report(warehouse_conn, START, END, tmp_path, as_of=AS_OF).read_text(encoding="utf-8")
    assert "<svg" not in page and re.search(r"https?:", page) is None
    assert "marts.customer_readiness est vide" in section_of(page, "readiness")
    assert "Aucune facture émise et aucun paiement reçu" in section_of(page, "vat")
    assert "Aucune transmission ne couvre cette période ni n&#39;y arrive à échéance." in section_of(page, "ereporting")


def test_a_period_ending_before_it_starts_is_refused(warehouse_conn: Any, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="period_end 2026-02-28 is before period_start 2026-03-01"):
        write_report(warehouse_conn, START, date(2026, 2, 28), tmp_path)
    assert not any(tmp_path.iterdir())


def test_records_set_aside_at_load_are_counted_in_the_report(warehouse_conn: Any, tmp_path: Path) -> None:
    """What the sources sent but the warehouse could not store is missing from every figure: the report says
    how much, per source, stream and reason, from raw.quarantined_records as the loader filled it."""
    from datetime import datetime, timedelta, timezone

    from passerelle import exact_json
    from passerelle.load.raw_loader import load_window
    from passerelle.records import Page, Record, Window

    day = datetime(2026, 3, 2, tzinfo=timezone.utc)
    items = exact_json.loads(b'[{"Id": "ok1", "v": 1.5}, {"Id": "bad1", "v": NaN}, {"Id": "bad2", "v": NaN},'
                             b' {"Id": "bad3", "name": "x\\u0000y"}, {"Id": "ok2", "v": 2}]')
    records = [Record(str(item["Id"]), day + timedelta(minutes=i), item) for i, item in enumerate(items)]
    stats = load_window(warehouse_conn, source="salesforce", stream="Account", window=Window(day, day + timedelta(days=1)),
                        pages=[Page(records, location="test")], run_id="report-test")
    assert (stats.inserted, stats.unloadable) == (2, 3)

    page = write_report(warehouse_conn, START, END, tmp_path, as_of=AS_OF).read_text(encoding="utf-8")
    part = section_of(page, "set-aside")
    assert row_with(part, "salesforce", "Account",
                    "payload is not JSON-serialisable: NaN is not a JSON number (jsonb cannot store it)", "2")
    assert row_with(part, "salesforce", "Account", "payload contains a NUL character, which jsonb cannot store", "1")
    assert "<dt>Enregistrements sources écartés au chargement (non stockables)</dt><dd>3</dd>" in page


def test_a_report_without_records_set_aside_says_so(warehouse_conn: Any, tmp_path: Path) -> None:
    page = write_report(warehouse_conn, START, END, tmp_path, as_of=AS_OF).read_text(encoding="utf-8")
    assert "Tous les enregistrements envoyés par les sources ont pu être stockés." in section_of(page, "set-aside")
