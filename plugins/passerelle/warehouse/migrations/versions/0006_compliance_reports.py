"""Compliance reports: customer readiness, VAT summaries, validation and lifecycle views, e-reporting.

``marts.customer_readiness`` is a table rebuilt by ``include/sql/reports/customer_readiness.sql``.
The other reports are views over the invoice marts and ``billing``, so BI tools always read them in
step with the invoices, payments and statuses they summarise, with nothing to refresh. The French
identifier checks are SQL functions in ``reference`` (the readiness model and BI queries share them);
they follow python-stdnum rule for rule, which the report tests compare on thousands of numbers.
``marts.ereporting_transmissions`` and ``marts.filing_calendar`` are filled by the e-reporting runs.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

from __future__ import annotations

from typing import NamedTuple

from alembic import op

from passerelle.warehouse.ddl import Column, Table, create_statements, literal

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels = None
depends_on = None

REGIMES = ("reel_normal_mensuel", "reel_normal_trimestriel", "reel_simplifie", "franchise")
# One transmission carries transactions or payments, never both (G6.29); unitary and aggregated data of
# the same kind may share it (10.1+10.3, 10.2+10.4).
FLUXES = ("10.1", "10.2", "10.3", "10.4", "10.1+10.3", "10.2+10.4")


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(literal(value) for value in values)


TABLES = [
    Table("reference.lifecycle_statuses", "Invoice lifecycle status codes (CDAR, BR-FR-CDV-CL-06) with their French "
                                          "labels (XP Z12-014 Annex B).", [
        Column("status_code", "integer PRIMARY KEY", "Status code (MDT-105 ProcessConditionCode)."),
        Column("label", "text NOT NULL", "French label, as the platforms show it."),
        Column("set_by", "text", "Who sets it: platform of the issuer (PA-E) or receiver (PA-R), buyer, seller."),
        Column("mandatory", "boolean NOT NULL", "Must be sent to the PPF (200, 210, 212 when VAT is due on "
                                                "receipt, 213)."),
    ]),
    Table("marts.customer_readiness", "Whether each customer can be invoiced electronically, and if not what is "
                                      "missing; staged and quarantined customers alike (rebuilt each run).", [
        Column("customer_key", "text PRIMARY KEY", "Customer (staging.customers, or its quarantine entry)."),
        Column("source_system", "text NOT NULL", "CRM the customer comes from."),
        Column("legal_name", "text", "Registered name."),
        Column("customer_type", "text", "Customer type as the CRM says (B2B, B2B_INTL, B2C or NULL)."),
        Column("classification", "text NOT NULL CHECK (classification IN ('B2B', 'B2BINT', 'B2C'))",
               "Processing rule invoices will carry: B2C for individuals, B2BINT for companies outside France "
               "(B2B_INTL or a foreign billing country), B2B otherwise (a NULL type with a SIREN is a company)."),
        Column("billing_country_code", "char(2)", "Billing country (ISO 3166-1 alpha-2)."),
        Column("is_eu", "boolean", "The billing country is in the EU (NULL: unknown country)."),
        Column("siren", "text", "SIREN as staged."),
        Column("siret", "text", "SIRET as staged."),
        Column("vat_number", "text", "VAT number as staged."),
        Column("siren_valid", "boolean", "9 digits with a valid Luhn key (NULL: no SIREN)."),
        Column("siret_valid", "boolean", "14 digits, valid key (Luhn, or the La Poste rule) and valid SIREN part "
                                         "(NULL: no SIRET)."),
        Column("siret_matches_siren", "boolean", "The SIRET starts with the SIREN (NULL: one of them missing)."),
        Column("vat_valid", "boolean", "French numbers checked in SQL as python-stdnum does; others take stdnum's "
                                       "verdict recorded by the quality suite (NULL: no VAT number)."),
        Column("vat_matches_siren", "boolean", "The VAT number is FR + key + SIREN, key = (12 + 3 × (SIREN mod 97)) "
                                               "mod 97 (NULL: no SIREN or no VAT number)."),
        Column("expected_vat_number", "text", "French VAT number computed from the SIREN."),
        Column("address_complete", "boolean NOT NULL", "Billing street, postcode, city and a known country."),
        Column("einvoicing_address_present", "boolean NOT NULL", "An electronic invoicing address (BT-49) is set."),
        Column("in_quarantine", "boolean NOT NULL", "The customer has open quality.quarantine entries: it is held "
                                                    "out of staging and cannot be invoiced."),
        Column("quarantine_rules", "text[] NOT NULL", "Rules of those open entries."),
        Column("missing", "text[] NOT NULL", "What is missing or invalid, one item per problem naming the field."),
        Column("ready", "boolean NOT NULL", "Nothing missing and not quarantined. B2B needs a valid SIREN, a "
                                            "complete address and an e-invoicing address; B2BINT an address and, in "
                                            "the EU, a VAT number; B2C an address."),
        Column("open_deals", "integer NOT NULL", "Deals not closed (staged or quarantined)."),
        Column("won_deals", "integer NOT NULL", "Deals won (staged or quarantined)."),
        Column("built_at", "timestamptz NOT NULL DEFAULT now()", "When the row was computed."),
    ]),
    Table("marts.ereporting_transmissions", "E-reporting files (Flux 10) written for the platform, one row per "
                                            "transmission.", [
        Column("transmission_id", "text PRIMARY KEY", "TT-1 transmission identifier (at most 50 characters)."),
        Column("flux", f"text NOT NULL CHECK (flux IN ({_in(FLUXES)}))",
               "10.1 unitary transactions, 10.2 unitary payments, 10.3 aggregated B2C transactions, 10.4 "
               "aggregated B2C payments; 10.1+10.3 or 10.2+10.4 when one transmission carries both."),
        Column("regime", f"text NOT NULL CHECK (regime IN ({_in(REGIMES)}))", "Seller VAT regime setting the calendar."),
        Column("period_start", "date NOT NULL", "First day reported."),
        Column("period_end", "date NOT NULL", "Last day reported."),
        Column("due_date", "date NOT NULL", "Day the transmission is due."),
        Column("path", "text NOT NULL", "File under the output folder."),
        Column("records", "integer NOT NULL CHECK (records >= 0)", "Invoices, payments or aggregates it carries."),
        Column("valid", "boolean NOT NULL", "Passed the Flux 10 XSD and schematron without a fatal finding."),
        Column("fatal_findings", "integer NOT NULL DEFAULT 0", "Fatal findings of that validation."),
        Column("created_at", "timestamptz NOT NULL DEFAULT now()", "When written."),
        Column("run_id", "text NOT NULL", "Run that wrote it."),
    ], constraints=("CHECK (period_end >= period_start)",)),
    Table("marts.filing_calendar", "E-reporting periods and due dates per VAT regime (from "
                                   "passerelle.ereporting.calendar).", [
        Column("regime", f"text NOT NULL CHECK (regime IN ({_in(REGIMES)}))", "Seller VAT regime."),
        Column("kind", "text NOT NULL CHECK (kind IN ('transactions', 'payments'))",
               "transactions (Flux 10.1/10.3) or payments (Flux 10.2/10.4)."),
        Column("period_start", "date NOT NULL", "First day of the period."),
        Column("period_end", "date NOT NULL", "Last day of the period."),
        Column("due_date", "date NOT NULL", "Day the data is due at the platform."),
    ], constraints=("PRIMARY KEY (regime, kind, period_start)", "CHECK (period_end >= period_start)")),
]

STATUSES = [
    (200, "Déposée", "PA-E", True), (201, "Émise par la plateforme", "PA-E", False),
    (202, "Reçue par la plateforme", "PA-R", False), (203, "Mise à disposition", "PA-R", False),
    (204, "Prise en charge", "buyer", False), (205, "Approuvée", "buyer", False),
    (206, "Approuvée partiellement", "buyer", False), (207, "En litige", "buyer", False),
    (208, "Suspendue", "buyer", False), (209, "Complétée", "seller", False), (210, "Refusée", "buyer", True),
    (211, "Paiement transmis", "buyer", False), (212, "Encaissée", "seller", True), (213, "Rejetée", "PA", True),
    (214, "Visée", None, False), (220, "Annulée", None, False), (221, "Erreur de routage", None, False),
    (224, "Demande de paiement direct", None, False), (225, "Affacturée", None, False),
    (226, "Affacturée confidentiel", None, False), (227, "Changement de compte à payer", None, False),
    (228, "Non affacturée", None, False), (501, "Irrecevable", None, False),
]


class Function(NamedTuple):
    """An immutable SQL function with its documentation (a NamedTuple: Alembic loads this file outside
    ``sys.modules``, where dataclasses cannot resolve their annotations).

    The body is one expression with no subquery and the function is not STRICT, so the planner inlines it
    into the calling query: about a microsecond a row, where a subquery made each call cost ~90 µs.
    NULL in gives NULL out through the body itself.
    """

    signature: str
    returns: str
    comment: str
    body: str

    def statements(self) -> list[str]:
        return [
            f"CREATE FUNCTION {self.signature} RETURNS {self.returns}\n"
            f"    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT {self.body} $$",
            f"COMMENT ON FUNCTION {self.signature} IS {literal(self.comment)}",
        ]


def _digit(value: str, position: int) -> str:
    return f"(ascii(substr({value}, {position}, 1)) - 48)"


def _luhn_sum(value: str, length: int) -> str:
    """Luhn sum of a ``length``-digit string, spelled out digit by digit: every second digit from the right is
    doubled and its digits added (translate maps d to that sum: 0 2 4 6 8 1 3 5 7 9)."""
    terms = []
    for position in range(1, length + 1):
        doubled = (length - position) % 2 == 1
        terms.append(f"(ascii(translate(substr({value}, {position}, 1), '0123456789', '0246813579')) - 48)"
                     if doubled else _digit(value, position))
    return " + ".join(terms)


def _digit_sum(value: str, length: int) -> str:
    return " + ".join(_digit(value, position) for position in range(1, length + 1))


TVA_ALPHABET = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # stdnum.fr.tva's key characters (no I, no O)
_C0 = f"(strpos('{TVA_ALPHABET}', substr(vat_number, 3, 1)) - 1)"
_C1 = f"(strpos('{TVA_ALPHABET}', substr(vat_number, 4, 1)) - 1)"
_TVA_CHECK = f"(CASE WHEN substr(vat_number, 3, 1) ~ '[0-9]' THEN {_C0} * 24 + {_C1} - 10 ELSE {_C0} * 34 + {_C1} - 100 END)"

# Identifier checks, rule for rule those of python-stdnum (fr.siren, fr.siret, fr.tva) on compact values.
# Each guards its casts behind the shape test in a CASE, so text of another shape gives false, never an error.
FUNCTIONS = [
    Function("reference.siren_valid(siren text)", "boolean",
             "SIREN: 9 digits with a valid Luhn key (stdnum.fr.siren); NULL for NULL.", f"""
        CASE WHEN siren IS NULL THEN NULL
             WHEN siren ~ '^[0-9]{{9}}$' THEN ({_luhn_sum("siren", 9)}) % 10 = 0
             ELSE false END"""),
    Function("reference.siret_valid(siret text)", "boolean",
             "SIRET: 14 digits, Luhn key (La Poste establishments 356000000…: digit sum a multiple of 5) and a "
             "valid SIREN part (stdnum.fr.siret); NULL for NULL.", f"""
        CASE WHEN siret IS NULL THEN NULL
             WHEN siret !~ '^[0-9]{{14}}$' THEN false
             WHEN NOT reference.siren_valid(left(siret, 9)) THEN false
             WHEN left(siret, 9) = '356000000' AND siret <> '35600000000048'
             THEN ({_digit_sum("siret", 14)}) % 5 = 0
             ELSE ({_luhn_sum("siret", 14)}) % 10 = 0 END"""),
    Function("reference.fr_vat_number(siren text)", "text",
             "French VAT number of a SIREN: 'FR' + key + SIREN, key = (12 + 3 × (SIREN mod 97)) mod 97 on two "
             "digits (NULL unless 9 digits).", """
        CASE WHEN siren ~ '^[0-9]{9}$' THEN
             'FR' || lpad(((12 + 3 * (siren::bigint % 97)) % 97)::text, 2, '0') || siren END"""),
    Function("reference.fr_vat_valid(vat_number text)", "boolean",
             "French VAT number 'FR' + 2-character key + 9 digits: numeric key from the SIREN, or the older "
             "alphanumeric key; the 9 digits must be a valid SIREN unless they start with 000 (Monaco) "
             "(stdnum.fr.tva); NULL for NULL.", f"""
        CASE WHEN vat_number IS NULL THEN NULL
             WHEN vat_number !~ '^FR[0-9A-HJ-NP-Z]{{2}}[0-9]{{9}}$' THEN false
             WHEN substr(vat_number, 5, 3) <> '000' AND NOT reference.siren_valid(right(vat_number, 9)) THEN false
             WHEN substr(vat_number, 3, 2) ~ '^[0-9]{{2}}$'
             THEN substr(vat_number, 3, 2)::integer = (right(vat_number, 9) || '12')::bigint % 97
             ELSE (right(vat_number, 9)::bigint + 1 + {_TVA_CHECK} / 11) % 11 = {_TVA_CHECK} % 11 END"""),
]


class View(NamedTuple):
    """A view with its documentation; the column list names every output column in order."""

    name: str
    comment: str
    columns: list[tuple[str, str]]
    query: str

    def statements(self) -> list[str]:
        names = ", ".join(name for name, _ in self.columns)
        statements = [f"CREATE VIEW {self.name} ({names}) AS {self.query}",
                      f"COMMENT ON VIEW {self.name} IS {literal(self.comment)}"]
        statements += [f"COMMENT ON COLUMN {self.name}.{name} IS {literal(comment)}" for name, comment in self.columns]
        return statements


VIEWS = [
    View("marts.invoice_vat_eur", "VAT breakdown rows of every invoice in EUR, with the sign of the document: the "
                                  "base of the VAT summaries.", [
        ("invoice_number", "BT-1."),
        ("type_code", "BT-3: 380 invoice, 381 credit note."),
        ("sign", "1 for an invoice, -1 for a credit note (amounts here are unsigned, as on the document)."),
        ("issue_date", "BT-2."),
        ("processing_rule", "B2B, B2BINT or B2C."),
        ("vat_point", "BT-8: invoice (débits), delivery or payment (encaissements)."),
        ("currency", "BT-5."),
        ("grand_total", "BT-112, invoice currency."),
        ("vat_category", "BT-118."),
        ("vat_rate", "BT-119."),
        ("taxable_amount", "BT-116, invoice currency."),
        ("tax_amount", "BT-117, invoice currency."),
        ("taxable_eur", "BT-116 in EUR: as is for EUR invoices, else × eur_per_unit rounded to the cent."),
        ("tax_eur", "BT-117 in EUR: as is for EUR invoices, else BT-111 (tax_total_eur) shared in proportion to "
                    "BT-117, the rounding cent on the largest rate so the rates add up to BT-111."),
    ], """
        WITH shares AS (
            SELECT i.invoice_number, i.type_code, CASE WHEN i.type_code = '381' THEN -1 ELSE 1 END AS sign,
                   i.issue_date, i.processing_rule, i.vat_point, i.currency, i.grand_total, i.tax_total,
                   i.tax_total_eur, b.vat_category, b.vat_rate, b.taxable_amount, b.tax_amount,
                   CASE WHEN i.currency = 'EUR' THEN b.taxable_amount
                        ELSE round(b.taxable_amount * i.eur_per_unit, 2) END AS taxable_eur,
                   CASE WHEN i.currency = 'EUR' THEN b.tax_amount
                        WHEN i.tax_total_eur IS NULL THEN round(b.tax_amount * i.eur_per_unit, 2)
                        WHEN i.tax_total = 0 THEN 0
                        ELSE round(i.tax_total_eur * b.tax_amount / i.tax_total, 2) END AS tax_share_eur,
                   row_number() OVER (PARTITION BY i.invoice_number
                                      ORDER BY b.tax_amount DESC, b.vat_category, b.vat_rate) AS largest
              FROM marts.invoices AS i
              JOIN marts.invoice_vat_breakdown AS b ON b.invoice_number = i.invoice_number
        )
        SELECT invoice_number, type_code, sign, issue_date, processing_rule, vat_point, currency, grand_total,
               vat_category, vat_rate, taxable_amount, tax_amount, taxable_eur,
               tax_share_eur + CASE WHEN largest = 1 AND currency <> 'EUR' AND tax_total_eur IS NOT NULL
                                         AND tax_total <> 0
                                    THEN tax_total_eur - sum(tax_share_eur) OVER (PARTITION BY invoice_number)
                                    ELSE 0 END
          FROM shares"""),
    View("marts.vat_summary", "VAT invoiced per month of issue, processing rule, category, rate and VAT point, in "
                              "EUR; credit notes count and weigh negative.", [
        ("month", "First day of the month of issue (BT-2)."),
        ("processing_rule", "B2B, B2BINT or B2C."),
        ("vat_category", "BT-118."),
        ("vat_rate", "BT-119."),
        ("vat_point", "BT-8: invoice, delivery or payment."),
        ("vat_due_on", "debits (VAT due on the invoice), delivery (goods) or receipts (encaissements: due when "
                       "cashed, see marts.vat_due_on_receipts)."),
        ("invoices", "Invoices less credit notes carrying this category and rate."),
        ("credit_notes", "Credit notes among them."),
        ("taxable_eur", "Taxable base (BT-116) in EUR, credit notes deducted."),
        ("vat_eur", "VAT (BT-117) in EUR, credit notes deducted."),
    ], """
        SELECT date_trunc('month', issue_date)::date, processing_rule, vat_category, vat_rate, vat_point,
               CASE vat_point WHEN 'payment' THEN 'receipts' WHEN 'delivery' THEN 'delivery' ELSE 'debits' END,
               sum(sign)::integer, count(*) FILTER (WHERE sign < 0)::integer,
               sum(sign * taxable_eur), sum(sign * tax_eur)
          FROM marts.invoice_vat_eur
         GROUP BY 1, 2, 3, 4, 5, 6"""),
    View("marts.vat_due_on_receipts", "VAT cashed per month on invoices whose VAT is due on receipt "
                                      "(encaissements): each payment is split over the invoice's rates in "
                                      "proportion to its VAT breakdown (payment / BT-112 of every rate), in EUR at "
                                      "the invoice's rate; refunds of credit notes count negative.", [
        ("month", "First day of the month the money was received."),
        ("processing_rule", "B2B, B2BINT or B2C."),
        ("vat_category", "BT-118."),
        ("vat_rate", "BT-119."),
        ("payments", "Payments received."),
        ("invoices", "Invoices they paid."),
        ("cashed_eur", "Amount cashed for this rate, VAT included, in EUR."),
        ("taxable_eur", "Taxable base cashed, in EUR."),
        ("vat_eur", "VAT due for the month on what was cashed, in EUR (each payment rounded to the cent)."),
    ], """
        SELECT date_trunc('month', p.paid_on)::date, v.processing_rule, v.vat_category, v.vat_rate,
               count(DISTINCT p.payment_id)::integer, count(DISTINCT p.invoice_number)::integer,
               sum(v.sign * round((v.taxable_eur + v.tax_eur) * p.amount / v.grand_total, 2)),
               sum(v.sign * round(v.taxable_eur * p.amount / v.grand_total, 2)),
               sum(v.sign * round(v.tax_eur * p.amount / v.grand_total, 2))
          FROM billing.payments AS p
          JOIN marts.invoice_vat_eur AS v ON v.invoice_number = p.invoice_number
         WHERE v.vat_point = 'payment' AND v.grand_total > 0
         GROUP BY 1, 2, 3, 4"""),
    View("marts.invoice_latest_validations", "The latest validation of every invoice document (a draft held, "
                                             "fixed and validated again counts once, with its latest outcome).", [
        ("invoice_key", "Billing document."),
        ("invoice_number", "BT-1."),
        ("format", "cii, ubl or facturx."),
        ("billing_period_end", "Billing period (last day)."),
        ("fatal", "Fatal findings."),
        ("warnings", "Other findings."),
        ("passed", "No fatal finding."),
        ("run_id", "Run that validated."),
        ("validated_at", "When."),
    ], """
        SELECT DISTINCT ON (invoice_key, format, billing_period_end)
               invoice_key, invoice_number, format, billing_period_end, fatal, warnings, passed, run_id, validated_at
          FROM marts.invoice_validations
         ORDER BY invoice_key, format, billing_period_end, validated_at DESC"""),
    View("marts.invoice_validation_summary", "Invoice documents validated per billing period and format, with "
                                             "their latest outcome.", [
        ("billing_period_end", "Billing period (last day)."),
        ("format", "cii, ubl or facturx."),
        ("documents", "Documents validated."),
        ("passed", "Documents without a fatal finding."),
        ("failed", "Documents with at least one fatal finding."),
        ("pass_rate", "Passed documents in percent of those validated (one decimal)."),
        ("fatal_findings", "Fatal findings of those validations."),
        ("warnings", "Other findings."),
    ], """
        SELECT billing_period_end, format, count(*)::integer, count(*) FILTER (WHERE passed)::integer,
               count(*) FILTER (WHERE NOT passed)::integer,
               round(100.0 * count(*) FILTER (WHERE passed) / count(*), 1),
               sum(fatal)::integer, sum(warnings)::integer
          FROM marts.invoice_latest_validations
         GROUP BY billing_period_end, format"""),
    View("marts.invoice_rule_failures", "Findings per billing period, rule and severity, from the latest validation "
                                        "of every document.", [
        ("billing_period_end", "Billing period (last day)."),
        ("rule", "Official rule id, e.g. BR-CO-15 or BR-FR-11_BT-47."),
        ("severity", "fatal, warning or information."),
        ("layer", "xsd, en16931 or br-fr."),
        ("findings", "Findings."),
        ("documents", "Documents with the finding."),
        ("message", "One of the messages, as an example."),
    ], """
        SELECT l.billing_period_end, f.rule, f.severity, f.layer, count(*)::integer,
               count(DISTINCT (f.invoice_key, f.format))::integer, min(f.message)
          FROM marts.invoice_findings AS f
          JOIN marts.invoice_latest_validations AS l
            ON l.invoice_key = f.invoice_key AND l.format = f.format AND l.run_id = f.run_id
         GROUP BY l.billing_period_end, f.rule, f.severity, f.layer"""),
    View("marts.invoice_lifecycle", "Every invoice with its latest lifecycle status, what was paid and what is "
                                    "outstanding; for an invoice cashed (212) the amount cashed per VAT rate, split "
                                    "in proportion to its VAT breakdown as the 212 status must carry it "
                                    "(BR-FR-CDV-14).", [
        ("invoice_number", "BT-1."),
        ("type_code", "BT-3."),
        ("issue_date", "BT-2."),
        ("customer_key", "Customer."),
        ("buyer_name", "BT-44."),
        ("processing_rule", "B2B, B2BINT or B2C."),
        ("vat_point", "BT-8."),
        ("currency", "BT-5."),
        ("grand_total", "BT-112."),
        ("due_payable", "BT-115."),
        ("due_date", "BT-9."),
        ("status_code", "Latest status (billing.lifecycle_events), NULL when none yet."),
        ("status_label", "Its French label (reference.lifecycle_statuses)."),
        ("status_at", "When it was reached."),
        ("status_reason", "Reason code and text of a refusal or rejection."),
        ("amount_paid", "Received so far (billing.payments), invoice currency."),
        ("outstanding", "BT-115 less what was received."),
        ("last_paid_on", "Day of the latest payment."),
        ("cashed_by_rate", "For an invoice with a 212 status: [{vat_category, vat_rate, cashed_amount, "
                           "taxable_amount, tax_amount}] of what was received, invoice currency, the rounding cent "
                           "of cashed_amount on the largest rate so the rates add up to the amount received; NULL "
                           "otherwise."),
    ], """
        SELECT i.invoice_number, i.type_code, i.issue_date, i.customer_key, i.buyer_name, i.processing_rule,
               i.vat_point, i.currency, i.grand_total, i.due_payable, i.due_date,
               e.status_code, s.label, e.event_at, NULLIF(concat_ws(' ', e.reason_code, e.reason), ''),
               coalesce(p.paid, 0), i.due_payable - coalesce(p.paid, 0), p.last_paid_on, c.cashed
          FROM marts.invoices AS i
          LEFT JOIN LATERAL (
                SELECT status_code, event_at, reason_code, reason FROM billing.lifecycle_events AS le
                 WHERE le.invoice_number = i.invoice_number ORDER BY event_at DESC, event_id DESC LIMIT 1) AS e ON true
          LEFT JOIN reference.lifecycle_statuses AS s ON s.status_code = e.status_code
          LEFT JOIN LATERAL (
                SELECT sum(amount) AS paid, max(paid_on) AS last_paid_on FROM billing.payments AS bp
                 WHERE bp.invoice_number = i.invoice_number) AS p ON true
          LEFT JOIN LATERAL (
                SELECT jsonb_agg(jsonb_build_object(
                           'vat_category', adjusted.vat_category, 'vat_rate', adjusted.vat_rate,
                           'cashed_amount', adjusted.cashed, 'taxable_amount', adjusted.taxable,
                           'tax_amount', adjusted.tax)
                           ORDER BY adjusted.vat_rate DESC NULLS LAST, adjusted.vat_category) AS cashed
                  FROM (SELECT share.*, share.cashed_share + CASE WHEN share.largest = 1
                                                                  THEN p.paid - sum(share.cashed_share) OVER ()
                                                                  ELSE 0 END AS cashed
                          FROM (SELECT b.vat_category, b.vat_rate,
                                       round((b.taxable_amount + b.tax_amount) * p.paid / i.grand_total, 2)
                                           AS cashed_share,
                                       round(b.taxable_amount * p.paid / i.grand_total, 2) AS taxable,
                                       round(b.tax_amount * p.paid / i.grand_total, 2) AS tax,
                                       row_number() OVER (ORDER BY b.taxable_amount + b.tax_amount DESC,
                                                                   b.vat_category, b.vat_rate) AS largest
                                  FROM marts.invoice_vat_breakdown AS b
                                 WHERE b.invoice_number = i.invoice_number AND p.paid IS NOT NULL
                                   AND i.grand_total > 0
                                   AND EXISTS (SELECT FROM billing.lifecycle_events AS cashed_event
                                                WHERE cashed_event.invoice_number = i.invoice_number
                                                  AND cashed_event.status_code = 212)) AS share) AS adjusted
          ) AS c ON true"""),
]

INDEXES = [
    "CREATE INDEX ereporting_transmissions_period ON marts.ereporting_transmissions (period_start, period_end)",
    "CREATE INDEX filing_calendar_due ON marts.filing_calendar (due_date)",
]


def upgrade() -> None:
    bind = op.get_bind()
    statements = []
    for table in TABLES:
        statements += create_statements(table)
    for function in FUNCTIONS:
        statements += function.statements()
    for view in VIEWS:
        statements += view.statements()
    for statement in statements + INDEXES:
        # psycopg2 reads % as a placeholder even without parameters; the modulo operator is %%.
        bind.exec_driver_sql(statement.replace("%", "%%"))
    bind.exec_driver_sql(
        "INSERT INTO reference.lifecycle_statuses VALUES " + ",".join(["(%s,%s,%s,%s)"] * len(STATUSES)),
        tuple(value for row in STATUSES for value in row),
    )
    for statement in (
        "GRANT SELECT ON ALL TABLES IN SCHEMA marts TO passerelle_bi",
        "GRANT SELECT ON ALL TABLES IN SCHEMA reference TO passerelle_bi",
    ):
        bind.exec_driver_sql(statement)


def downgrade() -> None:
    raise NotImplementedError("warehouse migrations are forward-only: write a new revision instead")
