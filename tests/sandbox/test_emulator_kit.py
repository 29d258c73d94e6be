"""The pieces the emulators declare their limits, paging and token endpoints with."""

from __future__ import annotations

import base64
import threading
import time

import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from passerelle_sandbox.oauth import TokenRequest
from passerelle_sandbox.paging import BadToken, TokenSigner, numbered_page, offset_page, pack, unpack
from passerelle_sandbox.rate_limits import Budget, SlidingWindow, WindowsByKey, take_together


def test_a_window_admits_up_to_its_limit_then_frees_as_calls_age_out() -> None:
    window = SlidingWindow(0.2, 3)
    assert [window.take() for _ in range(4)] == [True, True, True, False]
    assert window.remaining() == 0 and window.retry_after() == 1
    time.sleep(0.25)
    assert window.remaining() == 3 and window.retry_after() is None and window.take()


def test_rejected_calls_count_where_the_vendor_counts_them() -> None:
    window = SlidingWindow(60.0, 1)
    assert window.take(count_rejected=True) and not window.take(count_rejected=True)
    assert window.calls() == 2
    assert 59 <= window.retry_after() <= 60


def test_a_weighted_window_refuses_what_does_not_fit_and_reads_its_limit_live() -> None:
    config = {"budget": 10}
    window = SlidingWindow(60.0, lambda: config["budget"])
    assert window.take(6) and not window.take(5) and window.take(4)
    assert window.used() == 10 and window.calls() == 2
    config["budget"] = 20
    assert window.remaining() == 10
    assert window.take(50, enforce=False) and window.used() == 60  # unenforced, still counted


def test_costs_recorded_after_the_fact_land_at_their_start() -> None:
    window = SlidingWindow(0.2)
    window.add(900.0, at=time.monotonic() - 0.3)  # already out of the window
    window.add(100.0)
    assert window.used() == 100.0 and window.calls() == 1


def test_a_budget_is_spent_until_cleared() -> None:
    budget = Budget(5)
    assert budget.take(3) and not budget.take(3) and budget.take(2)
    assert budget.remaining() == 0
    assert not budget.take(count_rejected=True) and budget.used() == 6
    budget.clear()
    assert budget.remaining() == 5


def test_windows_by_key_are_separate() -> None:
    windows = WindowsByKey(60.0, 1)
    assert windows["a"].take() and windows["b"].take() and not windows["a"].take()
    windows.clear()
    assert windows["a"].take()


def test_a_call_is_charged_to_every_limit_or_to_none() -> None:
    burst, daily = SlidingWindow(60.0, 2), Budget(10)
    assert take_together([("daily", daily, 4), ("burst", burst, 1)]) is None
    assert take_together([("daily", daily, 7), ("burst", burst, 1)]) == "daily"
    assert burst.calls() == 1 and daily.used() == 4
    assert take_together([("daily", daily, 1), ("burst", burst, 1)]) is None
    assert take_together([("daily", daily, 1), ("burst", burst, 1)]) == "burst"
    assert take_together([("daily", daily, 1), ("burst", burst, 1)], enforce=False) is None
    assert burst.calls() == 3 and daily.used() == 6


def test_concurrent_callers_never_exceed_a_window() -> None:
    window = SlidingWindow(60.0, 50)
    admitted: list[bool] = []
    lock = threading.Lock()

    def call() -> None:
        for _ in range(20):
            result = window.take()
            with lock:
                admitted.append(result)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert admitted.count(True) == 50 and window.calls() == 50


def test_pages_by_offset_and_by_number() -> None:
    rows = list(range(7))
    first = offset_page(rows, 0, 3)
    assert (first.items, first.has_more, first.end, first.total) == ([0, 1, 2], True, 3, 7)
    last = offset_page(rows, 6, 3)
    assert (last.items, last.has_more) == ([6], False)
    assert offset_page(rows, 20, 3).items == [] and not offset_page(rows, 20, 3).has_more
    assert numbered_page(rows, 3, 3).items == [6] and numbered_page(rows, 2, 3).has_more
    assert numbered_page(rows, 0, 3).items == [0, 1, 2]  # below 1 reads as 1


def test_packed_tokens_round_trip_and_garbage_is_a_bad_token() -> None:
    token = pack({"o": 40, "q": "é"})
    assert "=" not in token and unpack(token) == {"o": 40, "q": "é"}
    for garbage in ("%%%", "not-json", base64.urlsafe_b64encode(b"\xff\xfe").decode(), "é"):
        with pytest.raises(BadToken):
            unpack(garbage)


def test_a_signed_token_refuses_any_change_and_another_secret() -> None:
    signer = TokenSigner()
    token = signer.seal({"o": 100})
    assert signer.open(token) == {"o": 100}
    body, _, mac = token.rpartition(".")
    altered = mac[:-1] + ("1" if mac.endswith("0") else "0")
    for forged in (pack({"o": 0}) + "." + mac, f"{body}.{altered}", body, token + "é"):
        with pytest.raises(BadToken):
            signer.open(forged)
    with pytest.raises(BadToken):
        TokenSigner().open(token)


def _token_request(headers: dict[str, str] | None = None, query: str = "", **form: str) -> Request:
    return Request(EnvironBuilder(method="POST", path="/token", query_string=query, headers=headers,
                                  data=form).get_environ())


def test_the_client_authenticates_with_basic_or_the_form() -> None:
    posted = TokenRequest.read(_token_request(grant_type="refresh_token", client_id="id", client_secret="s"))
    assert (posted.grant_type, posted.basic) == ("refresh_token", False) and posted.client_is("id", "s")
    basic = "Basic " + base64.b64encode(b"basic-id:basic-secret").decode()
    both = _token_request({"Authorization": basic}, grant_type="client_credentials", client_id="id")
    assert TokenRequest.read(both).client_is("basic-id", "basic-secret") and TokenRequest.read(both).basic
    assert TokenRequest.read(both, basic=False).client_id == "id"  # a vendor reading the form only
    from_query = TokenRequest.read(_token_request(query="refresh_token=r&client_id=q"), query=True)
    assert from_query.get("refresh_token") == "r" and from_query.client_id == "q" and from_query.get("x") == ""


def test_grants_are_dispatched_and_others_refused_with_the_vendor_error() -> None:
    request = TokenRequest.read(_token_request(grant_type="password"))
    handlers = {"refresh_token": lambda r: "refreshed"}
    with pytest.raises(LookupError, match="password"):
        request.dispatch(handlers, lambda grant: LookupError(f"unsupported {grant}"))  # type: ignore[arg-type]
    refresh = TokenRequest.read(_token_request(grant_type="refresh_token"))
    assert refresh.dispatch(handlers, LookupError) == "refreshed"  # type: ignore[arg-type]
