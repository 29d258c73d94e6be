"""Guards against responses a paging loop cannot trust: oversized bodies, cursors that repeat or
have the wrong type, endless empty pages and next links that point at another host.

A vendor bug (or a hostile proxy) must end the window with one clear line, never a hang, an
unbounded memory climb or credentials sent somewhere else. Every guard raises
:class:`UnusableResponseError`; the engine adds the stream's name, the run adds the source's and
its Airflow Connection's.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from passerelle.errors import SourceError

DEFAULT_MAX_RESPONSE_MB = 32
"""Largest response body read (``max_response_mb`` extra): a 10 MB record fits, a runaway page does not."""
MAX_EMPTY_PAGES = 50
"""Consecutive pages without any item that still announce a next page before the loop is called endless."""
_CHUNK = 1 << 20


class UnusableResponseError(SourceError):
    """The source answered something no page can be made of; retrying the same request will not help."""

    default_check = "the source's API status and any proxy in between; the window was rolled back"

    def name_stream(self, stream: str) -> "UnusableResponseError":
        """Prefix the problem with the stream (once) so the line says which stream met it."""
        if not getattr(self, "stream", None):
            self.stream = stream
            self.problem = f"{stream}: {self.problem}"
            self.args = (str(self),)
        return self


def read_capped(response: Any, max_bytes: int) -> bytes:
    """The body of a streamed ``requests`` response, refusing to hold more than ``max_bytes``."""
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        response.close()
        raise _too_large(response, f"{int(declared)} bytes announced", max_bytes)
    body = bytearray()
    for chunk in response.iter_content(_CHUNK):
        body += chunk
        if len(body) > max_bytes:
            response.close()
            raise _too_large(response, f"more than {len(body)} bytes received", max_bytes)
    return bytes(body)


def _too_large(response: Any, size: str, max_bytes: int) -> UnusableResponseError:
    request = response.request
    return UnusableResponseError(
        f"response to {request.method} {urlsplit(request.url).path} exceeds the {max_bytes // (1 << 20)} MB "
        f"response-size limit ({size})",
        check="the page size (batch_size / page_size extras), or raise max_response_mb on the Connection",
    )


def same_origin(url: str, base_url: str) -> str:
    """``url`` if it is a path or an absolute URL on ``base_url``'s scheme, host and port; refused
    otherwise, so the Authorization header never travels to a host the Connection does not name."""
    target, base = urlsplit(url), urlsplit(base_url)
    if not target.scheme and not target.netloc:
        return url
    if (target.scheme, target.hostname, target.port) != (base.scheme, base.hostname, base.port):
        raise UnusableResponseError(
            f"next link {url[:200]!r} points to another host than {base.scheme}://{base.netloc}: refused "
            "(credentials are only sent to the Connection's host)",
            check="the Connection's host and any proxy rewriting the API's links",
        )
    return url


class PageCursor:
    """The paging cursors one listing follows: each must be a non-empty string or integer, new
    (a cursor seen before means the listing went backwards and would loop) and, where the
    vendor's cursors are ordered, larger than the last; a bounded run of empty pages."""

    def __init__(self, what: str, *, ordered: bool = False, max_empty_pages: int = MAX_EMPTY_PAGES) -> None:
        self.what, self.ordered, self.max_empty_pages = what, ordered, max_empty_pages
        self.seen: set[str] = set()
        self.last: int | None = None
        self.empty = 0

    def advance(self, cursor: Any, items_on_page: int) -> str | int:
        """Validate the cursor announced by a page holding ``items_on_page`` items and return it."""
        if isinstance(cursor, bool) or not isinstance(cursor, (str, int)) or cursor == "":
            raise UnusableResponseError(
                f"{self.what}: paging cursor of the wrong type: {type(cursor).__name__} {str(cursor)[:80]!r}"
            )
        key = str(cursor)
        if key in self.seen:
            raise UnusableResponseError(
                f"{self.what}: paging cursor {key[:80]!r} was already followed: the listing went backwards "
                "and would loop forever"
            )
        if self.ordered and key.isdigit():
            if self.last is not None and int(key) <= self.last:
                raise UnusableResponseError(
                    f"{self.what}: paging cursor went backwards ({key[:80]} after {self.last})"
                )
            self.last = int(key)
        self.seen.add(key)
        self.empty = self.empty + 1 if items_on_page == 0 else 0
        if self.empty > self.max_empty_pages:
            raise UnusableResponseError(
                f"{self.what}: {self.empty} empty pages in a row still announce a next page: stopped "
                "instead of looping forever"
            )
        return cursor


def max_response_mb(config: Any) -> float:
    """The Connection's ``max_response_mb`` extra, or :data:`DEFAULT_MAX_RESPONSE_MB`."""
    return float(config.option("max_response_mb", DEFAULT_MAX_RESPONSE_MB))


def body_hint(response: Any) -> str:
    """What a body that is not JSON looks like (an HTML error page served with 200...), for the error line."""
    content_type = response.headers.get("Content-Type", "?").split(";")[0]
    text = " ".join(response.content[:2000].decode("utf-8", "replace").split())
    if "<title>" in text.lower():
        start = text.lower().index("<title>") + 7
        text = "title " + text[start:text.lower().find("</title>", start)]
    return f" (HTTP {response.status_code}, {content_type}, {len(response.content)} bytes: {text[:120]!r})"
