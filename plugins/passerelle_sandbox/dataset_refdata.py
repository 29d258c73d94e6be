"""Static reference data for the sandbox dataset: catalogue, stages, industries, real French towns.

Postcodes and towns are real pairs (Faker's French postcodes are random), so address checks in
the pipeline see plausible data.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Product:
    """A catalogue entry; ``price`` is in EUR, ``vat_rate`` a percentage."""

    code: str
    name: str
    family: str
    unit: str
    price: Decimal
    vat_rate: Decimal
    description: str


def _product(code: str, name: str, family: str, unit: str, price: str, vat: str, description: str) -> Product:
    return Product(code, name, family, unit, Decimal(price), Decimal(vat), description)


CATALOGUE: tuple[Product, ...] = (
    _product("SRV-CONSEIL-J", "Journée de conseil", "Services", "jour", "950.00", "20",
             "Conseil en organisation comptable et fiscale"),
    _product("SRV-DEV-H", "Développement spécifique", "Services", "heure", "85.00", "20",
             "Développement sur mesure, facturé au temps passé"),
    _product("SRV-INTEG-F", "Intégration facturation électronique", "Services", "forfait", "4500.00", "20",
             "Raccordement à une plateforme agréée (PA) et paramétrage des flux Factur-X"),
    _product("SRV-SUPPORT-F", "Support premium mensuel", "Services", "forfait", "390.00", "20",
             "Support prioritaire 8h-19h, jours ouvrés"),
    _product("SRV-AUDIT-F", "Audit de conformité e-invoicing", "Services", "forfait", "2800.00", "20",
             "Audit des processus de facturation avant l'obligation de 2026"),
    _product("LIC-ERP-U", "Licence ERP - utilisateur annuel", "Licences", "unité", "420.00", "20",
             "Abonnement annuel, un utilisateur nommé"),
    _product("LIC-CRM-U", "Licence CRM - utilisateur annuel", "Licences", "unité", "360.00", "20",
             "Abonnement annuel, un utilisateur nommé"),
    _product("LIC-SECU-U", "Licence antivirus poste de travail", "Licences", "unité", "45.00", "20",
             "Protection d'un poste pendant 12 mois"),
    _product("FOR-INTER-J", "Formation inter-entreprises", "Formation", "jour", "650.00", "0",
             "Formation professionnelle continue exonérée de TVA (art. 261-4-4° a du CGI)"),
    _product("FOR-INTRA-J", "Formation intra-entreprise", "Formation", "jour", "1400.00", "20",
             "Session dans vos locaux, jusqu'à 8 stagiaires"),
    _product("FOR-REPAS-U", "Déjeuner de formation", "Formation", "unité", "28.00", "10",
             "Restauration sur place des stagiaires"),
    _product("FOR-MANUEL-U", "Manuel de formation imprimé", "Formation", "unité", "39.00", "5.5",
             "Livre imprimé remis à chaque stagiaire"),
    _product("MAT-PC-U", "Ordinateur portable 14 pouces", "Matériel", "unité", "1190.00", "20",
             "Garantie constructeur 3 ans sur site"),
    _product("MAT-ECRAN-U", "Écran 27 pouces", "Matériel", "unité", "289.00", "20",
             "Écran QHD avec pied réglable"),
    _product("MAT-REVUE-U", "Revue professionnelle (abonnement presse)", "Matériel", "unité", "96.00", "2.1",
             "Publication de presse, 11 numéros par an"),
)

EXCHANGE_RATES: dict[str, Decimal] = {
    "EUR": Decimal("1"),
    "USD": Decimal("1.08"),
    "GBP": Decimal("0.85"),
    "CHF": Decimal("0.94"),
}
"""Fixed EUR conversion rates used to price the catalogue in a deal's currency."""


@dataclass(frozen=True, slots=True)
class Stage:
    """A deal stage and how each CRM spells it."""

    key: str
    salesforce: str
    probability: int
    is_closed: bool
    is_won: bool
    hubspot: str


STAGES: tuple[Stage, ...] = (
    Stage("won", "Closed Won", 100, True, True, "closedwon"),
    Stage("negotiation", "Negotiation/Review", 90, False, False, "contractsent"),
    Stage("proposal", "Proposal/Price Quote", 75, False, False, "decisionmakerboughtin"),
    Stage("qualification", "Qualification", 10, False, False, "qualifiedtobuy"),
    Stage("lost", "Closed Lost", 0, True, False, "closedlost"),
)
STAGE_WEIGHTS = (62, 10, 8, 8, 12)


@dataclass(frozen=True, slots=True)
class Industry:
    """A sector: Salesforce picklist value, HubSpot enum value, words that start company names."""

    salesforce: str
    hubspot: str
    name_words: tuple[str, ...]


INDUSTRIES: tuple[Industry, ...] = (
    Industry("Technology", "COMPUTER_SOFTWARE", ("Informatique", "Logiciels", "Numérique")),
    Industry("Consulting", "MANAGEMENT_CONSULTING", ("Conseil", "Cabinet", "Expertise")),
    Industry("Construction", "CONSTRUCTION", ("Bâtiment", "Travaux", "Constructions")),
    Industry("Manufacturing", "MACHINERY", ("Industries", "Ateliers", "Mécanique")),
    Industry("Retail", "RETAIL", ("Comptoir", "Boutiques", "Distribution")),
    Industry("Transportation", "TRANSPORTATION_TRUCKING_RAILROAD", ("Transports", "Logistique")),
    Industry("Food & Beverage", "FOOD_BEVERAGES", ("Boulangerie", "Vignobles", "Fromagerie")),
    Industry("Healthcare", "HOSPITAL_HEALTH_CARE", ("Clinique", "Laboratoires", "Pharmacie")),
    Industry("Energy", "RENEWABLES_ENVIRONMENT", ("Énergies", "Solaire")),
    Industry("Education", "EDUCATION_MANAGEMENT", ("Institut", "École")),
    Industry("Hospitality", "HOSPITALITY", ("Hôtel", "Restaurant")),
)

FR_LEGAL_FORMS = ("SAS", "SARL", "SA", "SASU", "EURL")
FR_LEGAL_FORM_WEIGHTS = (40, 30, 12, 10, 8)

FR_TOWNS: tuple[tuple[str, str], ...] = (
    ("75001", "Paris"), ("75008", "Paris"), ("75011", "Paris"), ("75015", "Paris"), ("75017", "Paris"),
    ("69002", "Lyon"), ("69003", "Lyon"), ("69007", "Lyon"), ("13001", "Marseille"), ("13008", "Marseille"),
    ("31000", "Toulouse"), ("06000", "Nice"), ("44000", "Nantes"), ("67000", "Strasbourg"),
    ("34000", "Montpellier"), ("33000", "Bordeaux"), ("59000", "Lille"), ("35000", "Rennes"),
    ("51100", "Reims"), ("76600", "Le Havre"), ("42000", "Saint-Étienne"), ("83000", "Toulon"),
    ("38000", "Grenoble"), ("21000", "Dijon"), ("49000", "Angers"), ("30000", "Nîmes"),
    ("69100", "Villeurbanne"), ("63000", "Clermont-Ferrand"), ("72000", "Le Mans"),
    ("13100", "Aix-en-Provence"), ("29200", "Brest"), ("37000", "Tours"), ("80000", "Amiens"),
    ("87000", "Limoges"), ("74000", "Annecy"), ("66000", "Perpignan"), ("92100", "Boulogne-Billancourt"),
    ("57000", "Metz"), ("25000", "Besançon"), ("45000", "Orléans"), ("76000", "Rouen"),
    ("93100", "Montreuil"), ("68100", "Mulhouse"), ("14000", "Caen"), ("54000", "Nancy"),
    ("92000", "Nanterre"), ("95000", "Cergy"), ("92400", "Courbevoie"), ("64000", "Pau"),
    ("17000", "La Rochelle"), ("86000", "Poitiers"), ("56100", "Lorient"), ("29000", "Quimper"),
    ("73000", "Chambéry"), ("84000", "Avignon"), ("26000", "Valence"), ("62000", "Arras"),
    ("18000", "Bourges"), ("10000", "Troyes"), ("24000", "Périgueux"),
)


@dataclass(frozen=True, slots=True)
class Country:
    """A foreign customer's country: name as both CRMs store it, Faker locale, legal forms, towns.

    Towns are real (postcode, town) pairs: some Faker locales build their town lists from sets,
    whose order changes with hash randomization.
    """

    code: str
    name: str
    locale: str
    legal_forms: tuple[str, ...]
    tld: str
    currency: str
    towns: tuple[tuple[str, str], ...]


FOREIGN_COUNTRIES: dict[str, Country] = {
    "BE": Country("BE", "Belgium", "nl_BE", ("SRL", "SA", "BV", "NV"), "be", "EUR", (
        ("1000", "Bruxelles"), ("2000", "Antwerpen"), ("4000", "Liège"), ("9000", "Gent"), ("5000", "Namur"),
    )),
    "DE": Country("DE", "Germany", "de_DE", ("GmbH", "AG", "GmbH & Co. KG"), "de", "EUR", (
        ("10115", "Berlin"), ("80331", "München"), ("20095", "Hamburg"), ("50667", "Köln"), ("70173", "Stuttgart"),
    )),
    "IT": Country("IT", "Italy", "it_IT", ("S.r.l.", "S.p.A."), "it", "EUR", (
        ("20121", "Milano"), ("00184", "Roma"), ("10121", "Torino"), ("40121", "Bologna"), ("50122", "Firenze"),
    )),
    "CH": Country("CH", "Switzerland", "de_CH", ("AG", "SA", "GmbH"), "ch", "CHF", (
        ("1201", "Genève"), ("8001", "Zürich"), ("1003", "Lausanne"), ("3011", "Bern"), ("4051", "Basel"),
    )),
}

JOB_TITLES: tuple[tuple[str, str], ...] = (
    ("Directeur administratif et financier", "Directrice administrative et financière"),
    ("Responsable comptabilité fournisseurs", "Responsable comptabilité fournisseurs"),
    ("Comptable", "Comptable"),
    ("Acheteur", "Acheteuse"),
    ("Gérant", "Gérante"),
    ("Président", "Présidente"),
    ("Directeur des systèmes d'information", "Directrice des systèmes d'information"),
    ("Responsable des achats", "Responsable des achats"),
    ("Office manager", "Office manager"),
    ("Contrôleur de gestion", "Contrôleuse de gestion"),
    ("Assistant de direction", "Assistante de direction"),
)
"""(masculine, feminine) job titles of customer contacts."""

PERSONAL_MAIL_DOMAINS = ("gmail.com", "orange.fr", "free.fr", "laposte.net", "sfr.fr", "outlook.fr")

DEAL_TOPICS = (
    "Renouvellement licences 2026", "Migration vers la facturation électronique", "Formation équipe comptable",
    "Audit de conformité", "Équipement nouveaux collaborateurs", "Maintenance annuelle",
    "Déploiement ERP", "Accompagnement réforme e-invoicing", "Extension du parc informatique",
    "Support et hébergement", "Refonte des processus achats", "Session de formation",
)

BILLING_MODES = ("à l'avancement", "au forfait", "en régie", "à la livraison", "par jalons")

DEAL_NOTES = (
    "Bon de commande reçu, facturer à réception.", "Paiement à 30 jours fin de mois.",
    "Client à relancer pour le numéro de bon de commande.", "Conditions négociées par la direction.",
)
