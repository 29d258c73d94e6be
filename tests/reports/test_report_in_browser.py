"""The compliance report as a reader sees it in headless Chromium: French by default (words, amounts, dates,
labels of every code), English when asked, no absolute path, no table wider than the page.

The warehouse holds the hand-made period of :mod:`tests.reports.test_html_report`; the figures expected on
the page are recomputed here from the warehouse's own rows (invoices, VAT breakdown rows, payments) and
written in the French or English format by this test, not by the report's code.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest

from passerelle.reports.html import write_report
from tests.browser import dom_text, render_dom, render_text
from tests.reports import add_payment
from tests.reports.test_html_report import (
    AS_OF, END, START, seed_customers, seed_ereporting, seed_invoices, seed_validations,
)

CENT = Decimal("0.01")
LONG_ID = "ER-2026-03-D11-103-reel-normal-mensuel-transactions-internationales-et-ventes-aux-particuliers"
# Words of the English report that must never reach a French reader (headings, column names, code labels).
ENGLISH = ("Summary", "Customer readiness", "Customers ready", "Invoice validation", "VAT invoiced", "Taxable base",
           "Credit notes", "Filing calendar", "Lifecycle statuses", "Due date", "Pass rate", "Overdue", "overdue",
           "Transmitted", "transmitted", "Nothing to file", "nothing to file", "To do", "No status yet",
           "no status yet", "Debits", "debits", "receipts", "Standard rate", "Payments", "Unmatched", "Outstanding",
           "Records", "payments", "missing", "Kind", "Valid", "Yes", "No", "of", "and", "March", "Month", "Rate", "Status")
FRENCH = ("Synthèse", "Préparation des clients", "TVA facturée", "Base imposable", "Avoirs", "Calendrier",
          "Échéance", "En retard", "Transmise", "Rien à déclarer", "Débits", "Encaissements", "Taux normal",
          "Paiements", "Reste dû", "Oui", "Non", "sur", "mars", "Mois", "Taux", "Statut", "Réel normal mensuel")
RAW_CODES = ("reel_normal_mensuel", "reel_normal_trimestriel", "reel_simplifie", "franchise",
             "facturx", "br-fr", "10.1+10.3")
WORD = re.compile(r"\w(?:[\w.'-]*\w)?")  # a table name (billing.payments) is one word
ABSOLUTE = re.compile(r"(?<![\w.:/])/(?:[\w.-]+/)+[\w.-]*|file:|[A-Za-z]:\\")
# Page script measuring, in the browser's layout, every table wider than the column it sits in.
MEASURE = """<script>
const wide = [...document.querySelectorAll("table")].filter(
  (table) => table.getBoundingClientRect().width > table.parentElement.getBoundingClientRect().width + 1);
document.body.insertAdjacentHTML("beforeend", `<p id="measured">overflowing tables: ${wide.length}</p>`);
</script>"""


def french(value: Decimal, currency: str = "€") -> str:
    """12 495,00 € (narrow no-break space between thousands, no-break space before the currency)."""
    return f"{value:,.2f}".replace(",", "\u202f").replace(".", ",") + "\u00a0" + currency


def english(value: Decimal) -> str:
    return f"-€{-value:,.2f}" if value < 0 else f"€{value:,.2f}"


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def warehouse_figures(conn: Any) -> dict[str, Any]:
    """VAT per (rate, VAT point) and in total, in EUR, of the documents issued in the period; what each invoice
    still owes: from marts.invoices, marts.invoice_vat_breakdown and billing.payments as stored."""
    with conn.cursor() as cur:
        cur.execute("""SELECT i.invoice_number, i.type_code, i.currency, i.eur_per_unit, i.tax_total_eur, i.vat_point,
                              b.vat_rate, b.taxable_amount, b.tax_amount
                         FROM marts.invoices i JOIN marts.invoice_vat_breakdown b USING (invoice_number)
                        WHERE i.issue_date BETWEEN %s AND %s ORDER BY 1""", (START, END))
        rows = cur.fetchall()
        cur.execute("""SELECT i.invoice_number, i.due_payable - coalesce(sum(p.amount), 0)
                         FROM marts.invoices i LEFT JOIN billing.payments p USING (invoice_number)
                        WHERE i.type_code = '380' GROUP BY 1""")
        owed = dict(cur.fetchall())
    base: dict[tuple, Decimal] = defaultdict(Decimal)
    vat: dict[tuple, Decimal] = defaultdict(Decimal)
    rows_of = defaultdict(int)
    for number, *_ in rows:
        rows_of[number] += 1
    for number, type_code, currency, eur_per_unit, tax_total_eur, vat_point, rate, taxable, tax in rows:
        sign = -1 if type_code == "381" else 1
        if currency != "EUR":
            assert rows_of[number] == 1  # one row: the document's EUR VAT total is that row's
            taxable, tax = cents(taxable * eur_per_unit), tax_total_eur
        key = (rate, vat_point)
        base[key] += sign * taxable
        vat[key] += sign * tax
    return {"base": dict(base), "vat": dict(vat), "owed": owed,
            "total_base": sum(base.values(), Decimal(0)), "total_vat": sum(vat.values(), Decimal(0)),
            "vat_debits": sum((v for (_, point), v in vat.items() if point != "payment"), Decimal(0))}


@pytest.fixture
def report_dir(warehouse_conn: Any, tmp_path: Path) -> Path:
    """The period of test_html_report, part of an invoice paid, and a (failed) transmission stored with an
    absolute path under the output folder and a long name."""
    seed_customers(warehouse_conn)
    seed_invoices(warehouse_conn)
    seed_validations(warehouse_conn)
    seed_ereporting(warehouse_conn)
    add_payment(warehouse_conn, "F2026-000001", date(2026, 3, 28), "411.00")
    with warehouse_conn.cursor() as cur:
        cur.execute("""
            INSERT INTO marts.ereporting_transmissions (transmission_id, flux, regime, period_start, period_end,
                                                        due_date, path, records, valid, fatal_findings, run_id)
            VALUES (%s, '10.1+10.3', 'reel_normal_mensuel', '2026-03-11', '2026-03-20', '2026-03-31', %s, 4, false, 2,
                    'r3')""", (LONG_ID, str(tmp_path / "output" / "ereporting" / f"{LONG_ID}.xml")))
    warehouse_conn.commit()
    return tmp_path / "output" / "reports"


def lines_of(text: str, heading: str, next_heading: str) -> list[str]:
    """The lines of the page between two headings."""
    lines = text.splitlines()
    start = lines.index(heading)
    return lines[start + 1:lines.index(next_heading, start + 1)]


def test_french_by_default(warehouse_conn: Any, report_dir: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("PASSERELLE_REPORT_LANGUAGE", raising=False)
    path = write_report(warehouse_conn, START, END, report_dir, as_of=AS_OF)
    text = render_text(path)
    figures = warehouse_figures(warehouse_conn)

    assert text.startswith("Rapport de conformité du 1 mars 2026 au 31 mars 2026\n"
                           "Chiffres au 5 avril 2026, tirés des tables de l'entrepôt")
    for heading in ("Synthèse", "Préparation des clients", "Validation des factures", "TVA",
                    "Transmissions d'e-reporting (flux 10)", "Calendrier des déclarations", "Statuts du cycle de vie",
                    "Paiements", "Enregistrements sources écartés au chargement"):
        assert f"\n{heading}\n" in text, heading
    words = set(re.findall(WORD, text))
    assert not [word for word in ENGLISH if (word in words if " " not in word else word in text)]
    assert not [code for code in RAW_CODES if re.search(rf"(?<![\w.-]){re.escape(code)}(?![\w.-])", text)]
    assert not ABSOLUTE.findall(text) and str(tmp_path) not in render_dom(path)
    assert f"../ereporting/{LONG_ID}.xml" in text  # relative to the report's folder

    readiness = lines_of(text, "Préparation des clients", "Validation des factures")
    assert {"adresse de facturation électronique (BT-49)\u00a0: manquante", "rue de facturation\u00a0: manquante"} \
        <= set(readiness)
    summary = lines_of(text, "Synthèse", "Préparation des clients")
    assert summary[summary.index("TVA facturée, exigible aux débits ou à la livraison") + 1] == \
        french(figures["vat_debits"])
    assert summary[summary.index("Clients prêts à facturer") + 1] == "1 sur 3"
    assert summary[summary.index("Déclarations en retard") + 1] == "1"

    vat = lines_of(text, "TVA facturée, par mois d'émission (BT-2)", "TVA exigible sur les encaissements, par date "
                                                                     "d'encaissement")
    assert ("mars 2026\tEntreprise en France (B2B)\tTaux normal\t20\u202f%\tDébits\t1\t1\t"
            f"{french(figures['base'][(Decimal('20.00'), 'invoice')])}\t"
            f"{french(figures['vat'][(Decimal('20.00'), 'invoice')])}") in vat
    assert ("mars 2026\tEntreprise en France (B2B)\tTaux normal\t5,5\u202f%\tDébits\t1\t0\t"
            f"{french(figures['base'][(Decimal('5.50'), 'invoice')])}\t"
            f"{french(figures['vat'][(Decimal('5.50'), 'invoice')])}") in vat
    assert any(line.startswith("mars 2026\tEntreprise hors de France (B2BINT)\tExportation hors UE\t0\u202f%\tDébits")
               and line.endswith(french(figures["base"][(Decimal("0.00"), "invoice")]) + "\t" + french(Decimal(0)))
               for line in vat)
    assert f"Total\t\t\t\t\t3\t1\t{french(figures['total_base'])}\t{french(figures['total_vat'])}" in vat
    assert "1\u202f050,00\u00a0€" in text and "9\u202f999" not in text  # the CHF export in EUR; April is not

    calendar = lines_of(text, "Calendrier des déclarations", "Statuts du cycle de vie")
    assert "Réel normal mensuel\tTransactions\tdu 01/03/2026 au 10/03/2026\t20/03/2026\tTransmise" in calendar
    assert "Réel normal mensuel\tTransactions\tdu 11/03/2026 au 20/03/2026\t31/03/2026\tEn retard" in calendar
    assert "Réel normal mensuel\tPaiements\tdu 01/03/2026 au 31/03/2026\t10/04/2026\tÀ faire" in calendar
    lifecycle = lines_of(text, "Statuts du cycle de vie", "Paiements")
    assert {"Pas encore de statut\t2", "200 Déposée\t1", "212 Encaissée\t1", "Total\t4"} <= set(lifecycle)

    payments = lines_of(text, "Paiements", "Enregistrements sources écartés au chargement")
    overdue = payments[payments.index("En retard\u00a0: 3 factures"):]
    for number, total, paid, due in (("F2026-000001", "1411.00", "411.00", "10/03/2026"),
                                     ("F2026-000002", "600.00", "300.00", "15/03/2026")):
        assert (f"{number}\tDupont Industries SARL\t{french(Decimal(total))}\t{french(Decimal(paid))}\t"
                f"{french(figures['owed'][number])}\t{due}") in overdue
    assert f"F2026-000003\tDupont Industries SARL\t{french(figures['owed']['F2026-000003'], 'CHF')}" in "\n".join(overdue)
    assert overdue[1] == (f"Reste dû\u00a0: {french(figures['owed']['F2026-000003'], 'CHF')}, "
                          f"{french(figures['owed']['F2026-000001'] + figures['owed']['F2026-000002'])}")


def test_english_when_asked(warehouse_conn: Any, report_dir: Path, monkeypatch) -> None:
    monkeypatch.setenv("PASSERELLE_REPORT_LANGUAGE", "en")
    text = render_text(write_report(warehouse_conn, START, END, report_dir, as_of=AS_OF))
    figures = warehouse_figures(warehouse_conn)
    assert text.startswith("Compliance report 1 March 2026 to 31 March 2026\n")
    words = set(re.findall(WORD, text))
    assert not [word for word in FRENCH if (word in words if " " not in word else word in text)]
    assert not [code for code in RAW_CODES if re.search(rf"(?<![\w.-]){re.escape(code)}(?![\w.-])", text)]
    summary = lines_of(text, "Summary", "Customer readiness")
    assert summary[summary.index("VAT invoiced, due on debits or delivery") + 1] == english(figures["vat_debits"])
    assert f"Total\t\t\t\t\t3\t1\t{english(figures['total_base'])}\t{english(figures['total_vat'])}" in text
    assert ("March 2026\tBusiness in France (B2B)\tStandard rate\t20%\tDebits (on invoice)\t1\t1\t"
            f"{english(figures['base'][(Decimal('20.00'), 'invoice')])}") in text
    assert "Standard regime, monthly\tTransactions\t11/03/2026 to 20/03/2026\t31/03/2026\tOverdue" in text
    assert "No status yet\t2" in text and "212 Cashed\t1" in text
    assert f"Outstanding: {english(figures['owed']['F2026-000001'] + figures['owed']['F2026-000002'])}" in text


def test_long_values_wrap_inside_the_page(warehouse_conn: Any, report_dir: Path, tmp_path: Path) -> None:
    """Measured by Chromium's layout in an 800-pixel window: no table is wider than its section."""
    page = write_report(warehouse_conn, START, END, report_dir, as_of=AS_OF, language="fr").read_text("utf-8")
    measured = tmp_path / "measured.html"
    measured.write_text(page.replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    assert "overflowing tables: 0" in dom_text(render_dom(measured))
    unwrapped = tmp_path / "unwrapped.html"  # the measure can fail: without the wrapping rules it finds the table
    unwrapped.write_text(re.sub(r"overflow-wrap: anywhere;|word-break: break-all;", "", page)
                         .replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    assert "overflowing tables: 0" not in dom_text(render_dom(unwrapped))


def test_an_empty_warehouse_reads_in_french(warehouse_conn: Any, tmp_path: Path) -> None:
    text = render_text(write_report(warehouse_conn, START, END, tmp_path, as_of=AS_OF, language="fr"))
    assert "Aucune facture émise et aucun paiement reçu dans cette période." in text
    assert "Aucune transmission ne couvre cette période ni n'y arrive à échéance." in text
    assert "Paiements non rapprochés\u00a0: aucun, tous les paiements de la comptabilité sont rapprochés." in text
    assert "TVA facturée, exigible aux débits ou à la livraison\n0,00\u00a0€" in text
