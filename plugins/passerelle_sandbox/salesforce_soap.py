"""Salesforce SOAP partner ``login`` (``POST /services/Soap/u/XX.X``): username plus password and token.

The answer is the partner WSDL's ``loginResponse`` (``serverUrl``, ``sessionId``, ``userId``...);
the session id is an ordinary REST access token. A wrong username, password or security token is
the SOAP fault ``INVALID_LOGIN`` with HTTP 500, as Salesforce answers it.
"""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from werkzeug.wrappers import Response

PARTNER = "urn:partner.soap.sforce.com"
ENVELOPE = ('<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
            'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns="urn:partner.soap.sforce.com" '
            'xmlns:sf="urn:fault.partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            '<soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>')
INVALID_LOGIN = "Invalid username, password, security token; or user locked out."


def soap_response(body: str, status: int = 200) -> Response:
    return Response(ENVELOPE.format(body=body), status=status, content_type="text/xml;charset=UTF-8")


def soap_fault(code: str, message: str, fault_type: str = "LoginFault") -> Response:
    body = (f"<soapenv:Fault><faultcode>sf:{code}</faultcode><faultstring>{code}: {escape(message)}</faultstring>"
            f'<detail><sf:{fault_type} xsi:type="sf:{fault_type}"><sf:exceptionCode>{code}</sf:exceptionCode>'
            f"<sf:exceptionMessage>{escape(message)}</sf:exceptionMessage></sf:{fault_type}></detail>"
            "</soapenv:Fault>")
    return soap_response(body, 500)


def login_fields(payload: bytes) -> tuple[str, str] | None:
    """``(username, password)`` of a ``login`` call, None if the envelope holds none."""
    try:
        root = ElementTree.fromstring(payload)
    except ElementTree.ParseError:
        return None
    login = root.find(f".//{{{PARTNER}}}login")
    if login is None:
        return None
    username = login.findtext(f"{{{PARTNER}}}username")
    password = login.findtext(f"{{{PARTNER}}}password")
    return (username or "", password or "") if username is not None else None


class SoapLogin:
    """Mixin for :class:`~passerelle_sandbox.salesforce.SalesforceApp`: the ``soap_login`` endpoint."""

    sf_credentials: Any
    org_id: str
    user_id: str
    base_url: str
    tokens: Any
    config: dict[str, Any]

    def on_soap_login(self, call: Any, version: str) -> Response:
        fields = login_fields(call.request.get_data())
        if fields is None:
            return soap_fault("INVALID_REQUEST", "Element {urn:partner.soap.sforce.com}login invalid at this location",
                              "UnexpectedErrorFault")
        creds = self.sf_credentials
        username, password = fields
        if username.lower() != creds.username.lower() or password != creds.password + creds.security_token:
            return soap_fault("INVALID_LOGIN", INVALID_LOGIN)
        ttl = self.config["session_timeout_seconds"]
        session = self.tokens.issue(f"{self.org_id[:15]}!AQ", ttl=ttl, user_id=self.user_id, kind="access")
        number = version.lstrip("v")
        result = (
            f"<metadataServerUrl>{self.base_url}/services/Soap/m/{number}/{self.org_id}</metadataServerUrl>"
            "<passwordExpired>false</passwordExpired><sandbox>false</sandbox>"
            f"<serverUrl>{self.base_url}/services/Soap/u/{number}/{self.org_id}</serverUrl>"
            f"<sessionId>{session}</sessionId><userId>{self.user_id}</userId>"
            f"<userInfo><organizationId>{self.org_id}</organizationId><sessionSecondsValid>{int(ttl)}"
            f"</sessionSecondsValid><userId>{self.user_id}</userId><userName>{escape(creds.username)}</userName>"
            "</userInfo>"
        )
        return soap_response(f"<loginResponse><result>{result}</result></loginResponse>")
