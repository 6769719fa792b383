"""The stack's own PostgreSQL cluster: the system of record plus Superset's metadata.

It runs on its own port and data dir (never the machine's default cluster),
with wal_level=logical and room for replication slots, as the OS user
`postgres` because PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import tempfile
from pathlib import Path

import psycopg
from psycopg import sql

from pipeline.config import Config, ConfigError, require_secret
from pipeline.stack.errors import StackError
from pipeline.stack.install.apt import postgres_bin_dir
from pipeline.stack.layout import Layout
from pipeline.stack.service import Service, Unhealthy

OS_USER = "postgres"


def _bin() -> Path:
    found = postgres_bin_dir()
    if found is None:
        raise StackError("PostgreSQL 15+ server binaries not found under /usr/lib/postgresql; run `cdc-olap install`")
    return found


def health(config: Config) -> str:
    pg = config.postgres
    try:
        with psycopg.connect(pg.dsn("postgres", superuser=True)) as conn:
            wal_level = conn.execute("SHOW wal_level").fetchone()[0]
            version = conn.execute("SHOW server_version").fetchone()[0]
    except (psycopg.Error, ConfigError) as exc:
        raise Unhealthy(f"cannot connect to {pg.host}:{pg.port}: {str(exc).strip().splitlines()[0]}") from None
    if wal_level != "logical":
        raise Unhealthy(f"wal_level is {wal_level}; logical replication needs wal_level=logical")
    return f"PostgreSQL {version}, wal_level=logical"


def _databases(config: Config) -> list[tuple[str, str, str, bool]]:
    """(role, password, database, replication) for every consumer of the cluster."""
    pg = config.postgres
    return [
        (pg.user, require_secret("postgres", "password", pg.password), pg.database, True),
        ("superset", require_secret("superset", "db_password", config.superset.db_password), "superset", False),
    ]


def bootstrap(config: Config) -> None:
    """Create roles and databases if missing; reset passwords so secrets.env stays the truth."""
    with psycopg.connect(config.postgres.dsn("postgres", superuser=True), autocommit=True) as conn:
        for role, password, database, replication in _databases(config):
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
            verb = "ALTER" if exists else "CREATE"
            options = sql.SQL("LOGIN REPLICATION" if replication else "LOGIN")
            conn.execute(
                sql.SQL("{} ROLE {} WITH {} PASSWORD {}").format(
                    sql.SQL(verb), sql.Identifier(role), options, sql.Literal(password)
                )
            )
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone():
                conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(database), sql.Identifier(role)))


def service(config: Config, layout: Layout) -> Service:
    pg = config.postgres
    data_dir = layout.data_dir_for_user("postgres", OS_USER)
    settings = {
        "port": pg.port,
        "listen_addresses": "127.0.0.1",
        "unix_socket_directories": "",
        "wal_level": "logical",
        "max_replication_slots": pg.max_replication_slots,
        "max_wal_senders": pg.max_wal_senders,
        "shared_buffers": pg.shared_buffers,
        "max_connections": 200,
        "timezone": "UTC",
        "log_timezone": "UTC",
        "log_min_messages": "warning",
        "wal_sender_timeout": "60s",
    }
    argv = [str(_bin() / "postgres"), "-D", str(data_dir)]
    for key, value in settings.items():
        argv += ["-c", f"{key}={value}"]

    def prepare() -> None:
        _initdb(data_dir, pg.superuser, require_secret("postgres", "superuser_password", pg.superuser_password))

    return Service(
        name="postgres",
        port=pg.port,
        argv=argv,
        health=lambda: health(config),
        user=OS_USER,
        prepare=prepare,
        bootstrap=lambda: bootstrap(config),
        start_timeout_s=60,
        # SIGINT is PostgreSQL's "fast" shutdown: SIGTERM would wait for every client.
        stop_signal=signal.SIGINT,
        stop_timeout_s=60,
    )


def _initdb(data_dir: Path, superuser: str, password: str) -> None:
    if (data_dir / "PG_VERSION").exists():
        return
    info = pwd.getpwnam(OS_USER)
    data_dir.mkdir(parents=True, exist_ok=True)
    os.chown(data_dir, info.pw_uid, info.pw_gid)
    os.chmod(data_dir, 0o700)
    with tempfile.NamedTemporaryFile("w", delete=False, prefix="pwfile-") as handle:
        handle.write(password + "\n")
        pwfile = handle.name
    os.chown(pwfile, info.pw_uid, info.pw_gid)
    try:
        result = subprocess.run(
            [str(_bin() / "initdb"), "-D", str(data_dir), "-U", superuser, f"--pwfile={pwfile}",
             "--auth=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8"],
            user=info.pw_uid, group=info.pw_gid, extra_groups=[], capture_output=True, text=True, timeout=120,
            cwd="/",
        )
    finally:
        os.unlink(pwfile)
    if result.returncode != 0:
        raise StackError(f"initdb failed for {data_dir}:\n{result.stderr[-2000:]}")
