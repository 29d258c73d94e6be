"""Rotating refresh tokens kept in the warehouse: a chain across runs, a crash between refresh and store,
the fallbacks, encryption, and no token in logs or errors (QuickBooks Online sandbox, real warehouse)."""

from __future__ import annotations

import logging
import os
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
from cryptography.fernet import Fernet

from passerelle.connectors.token_store import StoredTokens, TokenStore, second_connection
from passerelle.errors import AuthError, SourceUnavailableError
from passerelle_sandbox.quickbooks import REFRESH_TOKEN
from tests.connectors.helpers import DAY1, audit_counts, extract_day, raw_count

CONN_ID = "passerelle_quickbooks"
FAIL_ONCE = """
CREATE SEQUENCE public.token_store_failures;
CREATE FUNCTION public.fail_first_store() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF nextval('public.token_store_failures') = 1 THEN RAISE EXCEPTION 'could not extend file: No space left on device'; END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER fail_first_store BEFORE INSERT OR UPDATE ON audit.oauth_refresh_tokens
    FOR EACH ROW EXECUTE FUNCTION public.fail_first_store();
"""


def stored(conn: Any) -> StoredTokens:
    return TokenStore(CONN_ID, partial(second_connection, conn)).load()


def run(conn: Any, sandbox: Any, day: int) -> int:
    return extract_day(conn, sandbox, "quickbooks", "items", day=day).inserted


def execute(conn: Any, statement: str, params: tuple = ()) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(statement, params)
        found = cur.fetchall() if cur.description else []
    conn.commit()
    return found


def test_each_run_refreshes_from_the_previous_runs_answer(sandbox, warehouse_conn) -> None:
    assert stored(warehouse_conn) == StoredTokens(None, None)
    chain = [REFRESH_TOKEN]
    for day in range(3):
        run(warehouse_conn, sandbox, day)
        tokens = stored(warehouse_conn)
        assert tokens.previous == chain[-1] and tokens.latest not in chain  # rotated from the last answer
        chain.append(tokens.latest)
    # the seed was retired by the first run: a day later the vendor refuses it, the stored chain goes on
    sandbox.vendors["quickbooks"].control.set_clock(DAY1 + timedelta(days=5))
    assert run(warehouse_conn, sandbox, 4) == 0 and stored(warehouse_conn).previous == chain[-1]
    by_status = sandbox.vendors["quickbooks"].control.stats()["by_path_status"]["/oauth2/v1/tokens/bearer"]
    assert by_status == {"200": 4}


def test_a_crash_between_refresh_and_store_is_recovered_within_the_grace(sandbox, warehouse_conn) -> None:
    run(warehouse_conn, sandbox, 0)
    before = stored(warehouse_conn)
    execute(warehouse_conn, FAIL_ONCE)
    with pytest.raises(SourceUnavailableError, match=r"the new refresh token could not be stored in "
                                                     r"audit.oauth_refresh_tokens .*No space left on device") as failed:
        extract_day(warehouse_conn, sandbox, "quickbooks", "customers", day=1)
    assert stored(warehouse_conn) == before  # the answered token is lost; the vendor still honours its predecessor
    assert raw_count(warehouse_conn, "quickbooks", "customers") == 0 and audit_counts(warehouse_conn) == (1, 1)
    sandbox.vendors["quickbooks"].control.set_clock(DAY1 + timedelta(days=2, hours=20))  # < 24 h after the rotation
    assert extract_day(warehouse_conn, sandbox, "quickbooks", "customers", day=1).inserted > 0
    after = stored(warehouse_conn)
    assert after.previous == before.latest and after.latest not in (before.latest, before.previous)
    assert before.latest not in str(failed.value)


def test_refused_stored_tokens_fall_back_to_the_previous_then_the_seed(sandbox, warehouse_conn, caplog) -> None:
    run(warehouse_conn, sandbox, 0)
    cipher = Fernet(os.environ["AIRFLOW__CORE__FERNET_KEY"])
    execute(warehouse_conn, "UPDATE audit.oauth_refresh_tokens SET refresh_token = %s, previous_token = %s",
            (cipher.encrypt(b"AB11revoked-latest").decode(), cipher.encrypt(b"AB11revoked-previous").decode()))
    with caplog.at_level(logging.WARNING, logger="passerelle.connectors.token_store"):
        run(warehouse_conn, sandbox, 0)  # the same hour: the seed is within its 24 h of grace
    assert "the stored refresh token was refused (invalid_grant); trying the one before it" in caplog.text
    assert "the one before it was refused (invalid_grant); trying the Connection's refresh_token" in caplog.text
    assert stored(warehouse_conn).previous == REFRESH_TOKEN  # the seed took over
    assert "revoked-latest" not in caplog.text


def test_a_chain_nobody_can_refresh_fails_fast_saying_what_to_do(sandbox, warehouse_conn) -> None:
    run(warehouse_conn, sandbox, 0)
    sandbox.vendors["quickbooks"].control.set_clock(DAY1 + timedelta(days=3))  # past the seed's grace
    latest = stored(warehouse_conn).latest
    execute(warehouse_conn, "DELETE FROM audit.oauth_refresh_tokens")
    with pytest.raises(AuthError, match=r"authentication refused: invalid_grant — check the refresh token: reconnect "
                                        r"the app and put the new token in the Connection's refresh_token extra"):
        run(warehouse_conn, sandbox, 2)
    assert latest  # still valid at the vendor, but no longer known here: only a person can reconnect


def test_tokens_are_encrypted_under_passerelle_token_key_and_never_logged(sandbox, warehouse_conn, caplog,
                                                                          monkeypatch) -> None:
    monkeypatch.setenv("PASSERELLE_TOKEN_KEY", Fernet.generate_key().decode())  # wins over Airflow's key
    with caplog.at_level(logging.DEBUG):
        run(warehouse_conn, sandbox, 0)
        run(warehouse_conn, sandbox, 1)
    tokens = stored(warehouse_conn)
    rows = execute(warehouse_conn, "SELECT conn_id, refresh_token, previous_token FROM audit.oauth_refresh_tokens")
    assert [r[0] for r in rows] == [CONN_ID]
    assert tokens.latest not in rows[0][1] and tokens.previous not in rows[0][2] and rows[0][1].startswith("gAAAAA")
    for secret in (REFRESH_TOKEN, tokens.latest, tokens.previous):
        assert secret not in caplog.text
    assert "eyJlbmMiOiJBMTI4Q0JDLUhTMjU2IiwiYWxnIjoiZGlyIn0.." not in caplog.text  # no access token either
    monkeypatch.setenv("PASSERELLE_TOKEN_KEY", Fernet.generate_key().decode())  # not the key they were written with
    with pytest.raises(AuthError, match="cannot be decrypted — check PASSERELLE_TOKEN_KEY"):
        run(warehouse_conn, sandbox, 2)
    monkeypatch.setenv("PASSERELLE_TOKEN_KEY", "not-a-key")
    with pytest.raises(AuthError, match="not a Fernet key"):
        run(warehouse_conn, sandbox, 2)
