"""The warehouse's roles, and how the embedded server's superuser sets them up (roles are cluster-wide).

* ``passerelle_loader`` owns the database, its schemas and every object in them; pipelines and
  migrations run as it. Not a superuser: it cannot create roles, read server files or run programs
  (``COPY ... FROM PROGRAM``); it may create databases (per-test copies, benchmark databases).
* ``passerelle_bi`` reads marts, reference data, billing and quality summaries (grants in migrations).
* ``passerelle_projects`` reads the ``projects`` views: projects, tasks, time, customer name and contact.

On the embedded server the three are LOGIN roles with generated passwords; on an external warehouse
the two readers are NOLOGIN groups that an administrator gives logins to.
"""

from __future__ import annotations

from psycopg2 import sql

from passerelle.warehouse.credentials import scram_verifier, verifier_matches

LOADER = "passerelle_loader"
BI = "passerelle_bi"
PROJECTS = "passerelle_projects"

_NOT_ADMIN = "NOSUPERUSER NOCREATEROLE NOREPLICATION NOBYPASSRLS"
LOGIN_ONLY = f"LOGIN NOCREATEDB {_NOT_ADMIN}"  # may log in and own what it is given, nothing more
ATTRIBUTES = {
    LOADER: f"LOGIN CREATEDB {_NOT_ADMIN}",
    BI: LOGIN_ONLY,
    PROJECTS: LOGIN_ONLY,
}
COMMENTS = {
    LOADER: "Runs pipelines and migrations; owns the passerelle database, its schemas and objects. Not a superuser.",
    BI: "Read-only: marts, reference, billing, quality summaries and quality.quarantine_entries (no raw payloads).",
    PROJECTS: "Read-only: the projects schema (projects, tasks, time, customer name and contact; nothing financial).",
}

SYSTEM_SCHEMAS = "('pg_catalog', 'information_schema', 'public')"

# Objects a superuser created in the project's schemas (a warehouse from before the loader role existed)
# are handed to the loader. Sequences owned by a column follow their table.
_ADOPT = f"""
DO $adopt$
DECLARE
    item record;
    new_owner text := %(owner)s;
    old_owner oid := %(old_owner)s::regrole;
BEGIN
    FOR item IN SELECT nspname FROM pg_namespace
                 WHERE nspowner = old_owner AND nspname NOT IN {SYSTEM_SCHEMAS} AND nspname NOT LIKE 'pg\\_%%'
    LOOP
        EXECUTE format('ALTER SCHEMA %%I OWNER TO %%I', item.nspname, new_owner);
    END LOOP;
    FOR item IN SELECT c.oid::regclass AS name,
                       CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                                      WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END AS kind
                  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE c.relowner = old_owner AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
                   AND n.nspname NOT IN {SYSTEM_SCHEMAS} AND n.nspname NOT LIKE 'pg\\_%%'
                   AND NOT (c.relkind = 'S' AND EXISTS (
                       SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                                                 AND d.deptype IN ('a', 'i')))
    LOOP
        EXECUTE format('ALTER %%s %%s OWNER TO %%I', item.kind, item.name, new_owner);
    END LOOP;
    FOR item IN SELECT p.oid::regprocedure AS name FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                 WHERE p.proowner = old_owner AND n.nspname NOT IN {SYSTEM_SCHEMAS} AND n.nspname NOT LIKE 'pg\\_%%'
    LOOP
        EXECUTE format('ALTER ROUTINE %%s OWNER TO %%I', item.name, new_owner);
    END LOOP;
    FOR item IN SELECT t.oid::regtype AS name FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
                 WHERE t.typowner = old_owner AND t.typtype IN ('e', 'd', 'r', 'm')
                   AND n.nspname NOT IN {SYSTEM_SCHEMAS} AND n.nspname NOT LIKE 'pg\\_%%'
    LOOP
        EXECUTE format('ALTER TYPE %%s OWNER TO %%I', item.name, new_owner);
    END LOOP;
END
$adopt$
"""


def ensure_roles(cur, passwords: dict[str, str]) -> None:
    """Create or correct the three roles and their passwords (superuser cursor, autocommit)."""
    for role, attributes in ATTRIBUTES.items():
        ensure_role(cur, role, attributes, passwords[role])
        cur.execute(sql.SQL("COMMENT ON ROLE {} IS {}").format(sql.Identifier(role), sql.Literal(COMMENTS[role])))


def ensure_role(cur, role: str, attributes: str, password: str) -> None:
    """Create or correct ``role`` with ``attributes``; its password is set (as a SCRAM verifier) only when it
    differs from ``password``, so the server never receives the plaintext and an unchanged role stays as it is."""
    cur.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (role,))
    row = cur.fetchone()
    verb = "ALTER" if row else "CREATE"
    statement = sql.SQL(f"{verb} ROLE {{}} {attributes}").format(sql.Identifier(role))
    if row is None or not verifier_matches(row[0], password):
        statement += sql.SQL(" PASSWORD {}").format(sql.Literal(scram_verifier(password)))
    cur.execute(statement)


def ensure_superuser_password(cur, superuser: str, password: str) -> None:
    cur.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (superuser,))
    row = cur.fetchone()
    if row is None or not verifier_matches(row[0], password):
        cur.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(superuser),
                                                              sql.Literal(scram_verifier(password))))


def ensure_database(cur, database: str) -> None:
    """The database exists and belongs to the loader (superuser cursor on another database, autocommit)."""
    owner = database_owner(cur, database)
    if owner is None:
        cur.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(database), sql.Identifier(LOADER)))
    elif owner != LOADER:
        cur.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(database), sql.Identifier(LOADER)))


def database_owner(cur, database: str) -> str | None:
    """The role owning ``database``, or None when there is no such database."""
    cur.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (database,))
    row = cur.fetchone()
    return row[0] if row else None


def adopt_objects(cur, superuser: str) -> None:
    """Hand the project's schemas and objects created by ``superuser`` to the loader (superuser cursor)."""
    cur.execute(_ADOPT, {"owner": LOADER, "old_owner": superuser})
