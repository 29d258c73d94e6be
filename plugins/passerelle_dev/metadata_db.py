"""The Airflow metadata database of ``make up-celery``: a role of its own that owns only its database.

Airflow reaches Postgres as ``passerelle_airflow``, a LOGIN role that is no superuser and may create neither
databases nor roles; it owns the database of the same name, which other roles may not connect to. Its
password is generated once into ``<AIRFLOW_HOME>/metadata-db.password`` (0600) and reused; the server only
ever receives its SCRAM verifier. The admin URL (by default the ``postgres`` superuser on 127.0.0.1:5432) is
used for this provisioning only, which is idempotent: a second start finds the role and database as it left them.
"""

from __future__ import annotations

from pathlib import Path

from psycopg2 import sql

from passerelle.orchestration.airflow_env import local_secret
from passerelle.warehouse.credentials import generate_password
from passerelle.warehouse.roles import LOGIN_ONLY, database_owner, ensure_role
from passerelle.warehouse.scratch import admin_connection
from passerelle.warehouse.settings import parse

ROLE = DATABASE = "passerelle_airflow"
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PASSWORD_FILE = "metadata-db.password"


class MetadataDatabaseTaken(RuntimeError):
    """The metadata database exists but belongs to another role (made before it had a role of its own)."""


def provision(home: Path, admin_url: str = ADMIN_URL, role: str = ROLE, database: str = DATABASE) -> str:
    """The SQLAlchemy URL of ``database`` as ``role`` (password included), both created or corrected first."""
    password = local_secret(home / PASSWORD_FILE, generate_password)
    conn = admin_connection(admin_url)
    try:
        with conn.cursor() as cur:
            ensure_role(cur, role, LOGIN_ONLY, password)
            owner = database_owner(cur, database)
            if owner is None:
                cur.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(database),
                                                                         sql.Identifier(role)))
                cur.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(database)))
            elif owner != role:
                raise MetadataDatabaseTaken(
                    f"the database {database} belongs to {owner}, not to {role}: drop it (dropdb {database}; Airflow's "
                    "run history goes with it) so that it is created again for its role, or name another database "
                    "in AIRFLOW__DATABASE__SQL_ALCHEMY_CONN")
    finally:
        conn.close()
    return parse(admin_url).set(drivername="postgresql+psycopg2", username=role, password=password,
                                database=database).render_as_string(hide_password=False)
