"""Every word the compliance report shows, in French and English: the one catalogue of its texts and labels.

Templates never hold prose: they ask :func:`text` for a sentence and :func:`label` for the human name of a
code the warehouse stores (a VAT regime, a flow, a lifecycle status, a mismatch reason...). A code this
catalogue does not know is shown as stored rather than hidden, so a new value reaches the reader at once.
"""

from __future__ import annotations

import re
from typing import get_args

from passerelle.settings import ReportLanguage as Language

LANGUAGES: tuple[Language, ...] = get_args(Language)

# Human labels of the codes stored in the warehouse, per kind of code: code -> (French, English).
LABELS: dict[str, dict[str, tuple[str, str]]] = {
    "regime": {
        "reel_normal_mensuel": ("Réel normal mensuel", "Standard regime, monthly"),
        "reel_normal_trimestriel": ("Réel normal trimestriel", "Standard regime, quarterly"),
        "reel_simplifie": ("Réel simplifié", "Simplified regime"),
        "franchise": ("Franchise en base de TVA", "VAT exemption threshold (franchise)"),
    },
    "kind": {
        "transactions": ("Transactions", "Transactions"),
        "payments": ("Paiements", "Payments"),
    },
    "flux": {
        "10.1": ("10.1 – transactions B2B internationales", "10.1 – international B2B transactions"),
        "10.2": ("10.2 – paiements B2B internationaux", "10.2 – international B2B payments"),
        "10.3": ("10.3 – ventes aux particuliers", "10.3 – sales to individuals"),
        "10.4": ("10.4 – paiements des ventes aux particuliers", "10.4 – payments of sales to individuals"),
        "10.1+10.3": ("10.1 et 10.3 – transactions", "10.1 and 10.3 – transactions"),
        "10.2+10.4": ("10.2 et 10.4 – paiements", "10.2 and 10.4 – payments"),
    },
    "rule": {  # processing rule (BAR note), also the readiness classification
        "B2B": ("Entreprise en France (B2B)", "Business in France (B2B)"),
        "B2BINT": ("Entreprise hors de France (B2BINT)", "Business outside France (B2BINT)"),
        "B2C": ("Particulier (B2C)", "Individual (B2C)"),
    },
    "category": {  # UNTDID 5305
        "S": ("Taux normal", "Standard rate"),
        "Z": ("Taux zéro", "Zero rate"),
        "E": ("Exonérée", "Exempt"),
        "AE": ("Autoliquidation", "Reverse charge"),
        "K": ("Livraison intracommunautaire", "Intra-EU supply"),
        "G": ("Exportation hors UE", "Export outside the EU"),
        "O": ("Hors champ de la TVA", "Outside the scope of VAT"),
    },
    "due_on": {
        "debits": ("Débits", "Debits (on invoice)"),
        "delivery": ("Livraison", "Delivery"),
        "receipts": ("Encaissements", "Receipts"),
    },
    "format": {
        "facturx": ("Factur-X", "Factur-X"),
        "cii": ("CII", "CII"),
        "ubl": ("UBL", "UBL"),
    },
    "severity": {
        "fatal": ("Bloquante", "Fatal"),
        "warning": ("Avertissement", "Warning"),
        "information": ("Information", "Information"),
    },
    "layer": {
        "xsd": ("Schéma XSD", "XSD schema"),
        "en16931": ("EN 16931", "EN 16931"),
        "br-fr": ("Règles françaises (BR-FR)", "French rules (BR-FR)"),
        "factur-x": ("Conteneur Factur-X", "Factur-X container"),
    },
    "status": {  # MDT-105 lifecycle statuses (XP Z12-014 Annex B)
        "none": ("Pas encore de statut", "No status yet"),
        "200": ("200 Déposée", "200 Submitted"),
        "201": ("201 Émise par la plateforme", "201 Issued by the platform"),
        "202": ("202 Reçue par la plateforme", "202 Received by the platform"),
        "203": ("203 Mise à disposition", "203 Made available"),
        "204": ("204 Prise en charge", "204 Being processed"),
        "205": ("205 Approuvée", "205 Approved"),
        "206": ("206 Approuvée partiellement", "206 Partly approved"),
        "207": ("207 En litige", "207 Disputed"),
        "208": ("208 Suspendue", "208 Suspended"),
        "209": ("209 Complétée", "209 Completed"),
        "210": ("210 Refusée", "210 Refused"),
        "211": ("211 Paiement transmis", "211 Payment sent"),
        "212": ("212 Encaissée", "212 Cashed"),
        "213": ("213 Rejetée", "213 Rejected"),
        "214": ("214 Visée", "214 Endorsed"),
        "220": ("220 Annulée", "220 Cancelled"),
        "221": ("221 Erreur de routage", "221 Routing error"),
        "224": ("224 Demande de paiement direct", "224 Direct payment requested"),
        "225": ("225 Affacturée", "225 Factored"),
        "226": ("226 Affacturée confidentiel", "226 Factored (confidential)"),
        "227": ("227 Changement de compte à payer", "227 Payee account changed"),
        "228": ("228 Non affacturée", "228 Not factored"),
        "501": ("501 Irrecevable", "501 Inadmissible"),
    },
    "filing": {
        "transmitted": ("Transmise", "Transmitted"),
        "nothing": ("Rien à déclarer", "Nothing to file"),
        "overdue": ("En retard", "Overdue"),
        "todo": ("À faire", "To do"),
    },
    "yes_no": {
        "yes": ("Oui", "Yes"),
        "no": ("Non", "No"),
    },
    "reason": {  # why a payment of the books was left unmatched (marts.unmatched_payments.reason_code)
        "unknown_document": ("Document inconnu de la comptabilité", "Document unknown to the books"),
        "foreign_number": ("Numéro propre à la comptabilité", "Number of the books' own"),
        "unknown_number": ("Numéro jamais émis par Passerelle", "Number never issued by Passerelle"),
        "not_an_invoice": ("Pas une facture", "Not an invoice"),
        "customer_differs": ("Client différent de l'acheteur", "Customer differs from the buyer"),
        "currency_differs": ("Devise différente", "Currency differs"),
        "total_differs": ("Montant total différent", "Total amount differs"),
        "exceeds_due": ("Dépasse le reste dû", "Exceeds the amount outstanding"),
        "netting_ambiguous": ("Compensation d'avoir ambiguë", "Credit note netting ambiguous"),
        "unapplied": ("Non affecté", "Unapplied"),
        "deleted_after_212": ("Supprimé après statut 212", "Deleted after status 212"),
        "changed_after_212": ("Modifié après statut 212", "Changed after status 212"),
    },
}

# The report's sentences and headings: key -> (French, English); ``{name}`` fields are filled by :func:`text`.
TEXTS: dict[str, tuple[str, str]] = {
    "title": ("Rapport de conformité du {start} au {end}", "Compliance report {start} to {end}"),
    "as_of": ("Chiffres au {day}, tirés des tables de l'entrepôt (marts.customer_readiness et vues du rapport).",
              "Figures as of {day}, from the warehouse marts (marts.customer_readiness and the report views)."),
    "total": ("Total", "Total"),
    "none": ("—", "—"),
    "colon": (" : ", ": "),
    # summary
    "summary": ("Synthèse", "Summary"),
    "s_ready": ("Clients prêts à facturer", "Customers ready to invoice"),
    "s_validation": ("Documents de facture validés sans erreur", "Invoice documents passing validation"),
    "s_issued": ("Factures et avoirs émis", "Invoices and credit notes issued"),
    "s_vat_debits": ("TVA facturée, exigible aux débits ou à la livraison",
                     "VAT invoiced, due on debits or delivery"),
    "s_vat_receipts": ("TVA exigible sur les encaissements reçus", "VAT due on receipts cashed"),
    "s_transmissions": ("Transmissions d'e-reporting valides", "E-reporting transmissions valid"),
    "s_overdue": ("Déclarations en retard", "Filings overdue"),
    "s_set_aside": ("Enregistrements sources écartés au chargement (non stockables)",
                    "Source records set aside at load (unstorable)"),
    "x_of_y": ("{x} sur {y}", "{x} of {y}"),
    "x_and_y": ("{x} et {y}", "{x} and {y}"),
    # readiness
    "readiness": ("Préparation des clients", "Customer readiness"),
    "readiness_empty": ("marts.customer_readiness est vide : aucun client en staging, ou la table n'a jamais été "
                        "construite.", "marts.customer_readiness is empty: no customer staged yet, or the table was "
                        "never built."),
    "readiness_note": ("État actuel de chaque client, en staging ou en quarantaine (calculé le {built}).",
                       "Current state of every customer, staged or quarantined (built {built})."),
    "never": ("jamais", "never"),
    "classification": ("Classification", "Classification"),
    "customers": ("Clients", "Customers"),
    "ready": ("Prêts", "Ready"),
    "not_ready": ("Non prêts", "Not ready"),
    "in_quarantine": ("En quarantaine", "In quarantine"),
    "chart_customers": ("clients", "customers"),
    "chart_ready": ("prêts", "ready"),
    "chart_not_ready": ("non prêts", "not ready"),
    "readiness_caption": ("Clients prêts et non prêts à facturer, par classification.",
                          "Customers ready and not ready to invoice, per classification."),
    "not_ready_title": ("Clients non prêts", "Customers not ready"),
    "customer": ("Client", "Customer"),
    "name": ("Nom", "Name"),
    "missing": ("Manquant ou invalide", "What is missing or invalid"),
    "quarantined": ("En quarantaine", "Quarantined"),
    "won_deals": ("Affaires gagnées", "Won deals"),
    "open_deals": ("Affaires en cours", "Open deals"),
    # validation
    "validation": ("Validation des factures", "Invoice validation"),
    "validated_title": ("Documents validés, par période de facturation", "Documents validated, by billing period"),
    "validated_note": ("Brouillons et documents des périodes de facturation qui se terminent dans la période du "
                       "rapport, chacun avec sa dernière validation ; un avoir appartient à la période de facturation "
                       "de la facture qu'il corrige.",
                       "Drafts and documents of the billing periods ending in the report's period, each with its "
                       "latest validation; a credit note belongs to the billing period of the invoice it credits."),
    "validated_empty": ("Aucun document de facture validé pour une période de facturation se terminant dans cette "
                        "période.", "No invoice document was validated for a billing period ending in this period."),
    "format": ("Format", "Format"),
    "documents": ("Documents", "Documents"),
    "passed": ("Valides", "Passed"),
    "failed": ("En erreur", "Failed"),
    "pass_rate": ("Taux de validité", "Pass rate"),
    "chart_pass_rate": ("taux de validité (%)", "pass rate (%)"),
    "trend_caption": ("Taux de validité par format sur les {n} dernières périodes de facturation.",
                      "Pass rate per format over the last {n} billing periods."),
    "trend_caption_one": ("Taux de validité par format sur la dernière période de facturation.",
                          "Pass rate per format over the last billing period."),
    "rules_title": ("Règles les plus souvent en échec", "Top failing rules"),
    "rule": ("Règle", "Rule"),
    "severity": ("Gravité", "Severity"),
    "layer": ("Niveau", "Layer"),
    "findings": ("Constats", "Findings"),
    "example": ("Exemple de message", "Example message"),
    # VAT
    "vat": ("TVA", "VAT"),
    "vat_empty": ("Aucune facture émise et aucun paiement reçu dans cette période.",
                  "No invoice issued and no payment received in this period."),
    "vat_title": ("TVA facturée, par mois d'émission (BT-2)", "VAT invoiced, by month of issue (BT-2)"),
    "vat_note": ("Factures et avoirs émis du {start} au {end}, par mois d'émission, en euros ; un avoir compte à sa "
                 "propre date d'émission, ses montants en négatif. Un document à plusieurs taux figure sur chacune "
                 "de ses lignes ; le total compte chaque document une fois.",
                 "Invoices and credit notes issued from {start} to {end}, per month of issue, in euros; a credit "
                 "note counts on its own issue date, its amounts negative. A document with several rates appears "
                 "in each of its rows; the total counts each document once."),
    "month": ("Mois", "Month"),
    "rule_col": ("Règle de traitement", "Processing rule"),
    "category": ("Catégorie", "Category"),
    "rate": ("Taux", "Rate"),
    "due_on": ("TVA exigible sur", "VAT due on"),
    "invoices": ("Factures", "Invoices"),
    "credit_notes": ("Avoirs", "Credit notes"),
    "taxable": ("Base imposable", "Taxable base"),
    "vat_amount": ("TVA", "VAT"),
    "chart_vat": ("TVA (€)", "VAT (€)"),
    "vat_caption": ("TVA facturée par mois d'émission, empilée par taux (en euros, avoirs déduits).",
                    "VAT invoiced per month of issue, stacked by rate (euros, credit notes deducted)."),
    "receipts_title": ("TVA exigible sur les encaissements, par date d'encaissement",
                       "VAT due on receipts, by date of receipt"),
    "receipts_note": ("Paiements reçus dans la période sur des documents dont la TVA est exigible à l'encaissement, "
                      "par mois d'encaissement, en euros : chaque paiement réparti sur les taux du document comme le "
                      "portent le statut 212 et les flux 10.2/10.4 ; remboursements d'avoirs en négatif. Un paiement "
                      "sur plusieurs taux figure sur chacune de ses lignes ; le total compte chaque paiement une fois.",
                      "Payments received in the period on documents whose VAT is due on receipt, per month of "
                      "receipt, in euros: each payment split over the document's VAT rates as status 212 and Flux "
                      "10.2/10.4 carry it; refunds on credit notes negative. A payment over several rates appears in "
                      "each of its rows; the total counts each payment once."),
    "payments_col": ("Paiements", "Payments"),
    "cashed": ("Encaissé", "Cashed"),
    # e-reporting
    "ereporting": ("Transmissions d'e-reporting (flux 10)", "E-reporting transmissions (Flux 10)"),
    "ereporting_empty": ("Aucune transmission ne couvre cette période ni n'y arrive à échéance.",
                         "No transmission covers or falls due in this period."),
    "transmission": ("Transmission", "Transmission"),
    "flux": ("Flux", "Flow"),
    "kind": ("Nature", "Kind"),
    "regime": ("Régime de TVA", "VAT regime"),
    "period": ("Période", "Period"),
    "period_value": ("du {start} au {end}", "{start} to {end}"),
    "due_date": ("Échéance", "Due date"),
    "valid": ("Valide", "Valid"),
    "fatal_findings": ("Erreurs bloquantes", "Fatal findings"),
    "file": ("Fichier", "File"),
    # calendar
    "calendar": ("Calendrier des déclarations", "Filing calendar"),
    "calendar_empty": ("Aucune période d'e-reporting ne chevauche cette période ni n'y arrive à échéance "
                       "(marts.filing_calendar).", "No e-reporting period overlaps or falls due in this period "
                       "(marts.filing_calendar)."),
    "status": ("Statut", "Status"),
    # lifecycle
    "lifecycle": ("Statuts du cycle de vie", "Lifecycle statuses"),
    "lifecycle_empty": ("Aucune facture ni aucun avoir émis dans cette période.",
                        "No invoice or credit note issued in this period."),
    "lifecycle_title": ("Documents émis, par date d'émission (BT-2)", "Documents issued, by issue date (BT-2)"),
    "lifecycle_note": ("Dernier statut de chaque facture et avoir émis dans la période, chacun une fois "
                       "(billing.lifecycle_events).", "Latest status of each invoice and credit note issued in the "
                       "period, each once (billing.lifecycle_events)."),
    "chart_documents": ("documents", "documents"),
    "lifecycle_caption": ("Documents émis dans la période, par dernier statut.",
                          "Documents issued in the period per latest lifecycle status."),
    # payments
    "payments": ("Paiements", "Payments"),
    "payments_note": ("Factures émises jusqu'à la fin de la période, selon les encaissements enregistrés "
                      "(billing.payments) ; paiements de la comptabilité non rapprochés (marts.unmatched_payments), "
                      "jamais attribués au hasard.", "Invoices issued up to the end of the period, as the recorded "
                      "payments settle them (billing.payments); payments of the books left unmatched "
                      "(marts.unmatched_payments), never attributed at random."),
    "ledger_customers": ("Clients de la comptabilité : {linked} rapprochés d'un client du CRM, {left} à examiner "
                         "(staging.ledger_customer_exceptions).", "Customers of the books: {linked} linked to a CRM "
                         "customer, {left} left to review (staging.ledger_customer_exceptions)."),
    "paid": ("Payées", "Paid"),
    "paid_empty": ("Aucune facture soldée dans la période.", "No invoice settled in the period."),
    "partly_paid": ("Partiellement payées", "Partly paid"),
    "partly_paid_empty": ("Aucune facture partiellement payée.", "No invoice partly paid."),
    "overdue": ("En retard", "Overdue"),
    "overdue_empty": ("Aucune facture échue impayée.", "No unpaid invoice past its due date."),
    "invoice_count": ("{n} facture", "{n} invoice"),
    "invoices_count": ("{n} factures", "{n} invoices"),
    "first_listed": ("les {n} premières listées", "the first {n} listed"),
    "invoice": ("Facture", "Invoice"),
    "buyer": ("Acheteur", "Buyer"),
    "currency": ("Devise", "Currency"),
    "due_payable": ("Montant dû", "Amount due"),
    "amount_paid": ("Encaissé", "Paid"),
    "outstanding": ("Reste dû", "Outstanding"),
    "last_payment": ("Dernier paiement", "Last payment"),
    "unmatched": ("Paiements non rapprochés", "Unmatched payments"),
    "unmatched_empty": ("aucun, tous les paiements de la comptabilité sont rapprochés.",
                        "none, every payment of the books is matched."),
    "payment": ("Paiement", "Payment"),
    "payment_line": ("{system} {payment} ligne {line}", "{system} {payment} line {line}"),
    "date": ("Date", "Date"),
    "amount": ("Montant", "Amount"),
    "books_customer": ("Client (comptabilité)", "Customer (books)"),
    "document": ("Document", "Document"),
    "reason": ("Motif", "Reason"),
    "detail": ("Détail", "Detail"),
    # set aside
    "set_aside": ("Enregistrements sources écartés au chargement", "Source records set aside at load"),
    "set_aside_empty": ("Tous les enregistrements envoyés par les sources ont pu être stockés.",
                        "Every record the sources sent could be stored."),
    "set_aside_note": ("Enregistrements qu'une source a envoyés et que l'entrepôt ne peut stocker tels quels "
                       "(caractère NUL, texte invalide, NaN, imbrication trop profonde). Ils sont conservés avec "
                       "leurs octets d'origine dans raw.quarantined_records et n'entrent dans aucun chiffre de ce "
                       "rapport tant que la source ne les a pas corrigés.",
                       "Records a source sent that the warehouse cannot store as sent (a NUL character, invalid "
                       "text, NaN, nesting too deep). They are held with their original bytes in "
                       "raw.quarantined_records and count in no figure of this report until the source corrects "
                       "them."),
    "source": ("Source", "Source"),
    "stream": ("Flux source", "Stream"),
    "records": ("Enregistrements", "Records"),
    "last_seen": ("Vu pour la dernière fois", "Last seen"),
}


def check_language(language: str) -> Language:
    """``language`` if the report speaks it, else a ValueError naming the ones it does."""
    if language not in LANGUAGES:
        raise ValueError(f"report language {language!r}: expected one of {', '.join(LANGUAGES)}")
    return language  # type: ignore[return-value]


FRENCH_SPACE = re.compile(r" (?=[:;!?])")  # French sets a no-break space before these marks


def text(key: str, language: Language, **values: object) -> str:
    """The sentence ``key`` in ``language``, its ``{fields}`` filled with ``values``."""
    french, english = TEXTS[key]
    chosen = FRENCH_SPACE.sub("\u00a0", french) if language == "fr" else english
    return chosen.format(**values) if values else chosen


def label(kind: str, code: object, language: Language) -> str:
    """The human label of ``code`` (a ``kind`` of code, see :data:`LABELS`); the code itself when unknown."""
    if code is None:
        return TEXTS["none"][0]
    known = LABELS[kind].get(str(code))
    if known is None:
        return str(code)
    return known[0] if language == "fr" else known[1]


def categories(codes: str, language: Language) -> str:
    """VAT categories stored comma-separated (several sharing one rate), each by its label."""
    return ", ".join(label("category", code, language) for code in codes.split(","))


# What marts.customer_readiness says is missing (include/sql/reports/customer_readiness.sql words it in English):
# field -> French name and the French for "missing" agreeing with it.
FIELDS_FR: dict[str, tuple[str, str]] = {
    "customer type": ("type de client", "manquant"),
    "SIREN": ("SIREN", "manquant"),
    "billing street": ("rue de facturation", "manquante"),
    "billing postcode": ("code postal de facturation", "manquant"),
    "billing city": ("ville de facturation", "manquante"),
    "billing country": ("pays de facturation", "manquant"),
    "e-invoicing address (BT-49)": ("adresse de facturation électronique (BT-49)", "manquante"),
}
MISSING = re.compile(r"(?P<field>[^:]+): missing(?P<rest>.*)")
UNKNOWN_TYPE = re.compile(r"customer type: unknown (?P<value>.+) \((?P<known>.+)\)")
UNKNOWN_COUNTRY = re.compile(r"billing country: (?P<value>.+) is not a known country")
QUARANTINED = "quarantined: "


def missing_item(item: str, language: Language) -> str:
    """One item of a customer's ``missing`` list in ``language``; an item worded by issuing's checker
    (``RULE (location): message``) is shown as stored, its rule naming what to fix."""
    if language != "fr":
        return item
    if item.startswith(QUARANTINED):
        return f"en quarantaine\u00a0: {item[len(QUARANTINED):]}"
    kind = UNKNOWN_TYPE.fullmatch(item)
    if kind:
        return f"type de client\u00a0: {kind['value']} inconnu ({kind['known'].replace(' or ', ' ou ')})"
    country = UNKNOWN_COUNTRY.fullmatch(item)
    if country:
        return f"pays de facturation\u00a0: {country['value']} n'est pas un pays connu"
    missing = MISSING.fullmatch(item)
    if missing and missing["field"] in FIELDS_FR:
        name, word = FIELDS_FR[missing["field"]]
        return f"{name}\u00a0: {word}{missing['rest'].replace(' or ', ' ou ')}"
    return item
