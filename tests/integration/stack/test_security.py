"""The running stack, seen from the operating system: every listening socket of its processes is on
loopback, no secret is on any command line, secrets.env is private, and a password full of awkward
characters works through the DSN the code builds."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import socket
import struct
import time
import uuid
from pathlib import Path

import psycopg
from psycopg import sql

from pipeline.config import LOCAL_SECRETS, SECRETS_FILE
from pipeline import procs
from pipeline.stack import process

# Every managed service except the Flink jobs (too heavy for a check; their mini-cluster is below).
SERVICES = ("postgres", "kafka", "zookeeper", "druid-coordinator", "druid-broker", "druid-historical",
            "druid-indexer", "redis", "aws", "smtp", "superset-web", "superset-worker", "superset-beat", "cdc")
AWKWARD = "p@ss:w/o%rd' x\\y"


def _stack_pids(test_stack) -> dict[int, str]:
    """pid -> service for every process the stack started and everything they forked."""
    owned = {}
    for name in test_stack.started:
        pid = process.running_pid(test_stack.supervisor.layout, name)
        assert pid is not None, f"{name} is not running"
        for member in (pid, *procs.descendants(pid)):
            owned[member] = name
    return owned


def _listening() -> dict[str, tuple[str, int]]:
    """Socket inode -> (address, port) of every listening TCP socket, from /proc/net/tcp and tcp6."""
    found = {}
    for table, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != "0A":  # TCP_LISTEN
                continue
            address, port = fields[1].split(":")
            raw = bytes.fromhex(address)  # 32-bit words in host (little-endian) order
            raw = b"".join(struct.pack("<I", w) for w in struct.unpack(f">{len(raw) // 4}I", raw))
            found[fields[9]] = (socket.inet_ntop(family, raw), int(port, 16))
    return found


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                match = re.fullmatch(r"socket:\[(\d+)\]", os.readlink(fd))
            except OSError:
                continue
            if match:
                inodes.add(match.group(1))
    except OSError:
        pass  # exited meanwhile
    return inodes


def _exposed(pids: dict[int, str]) -> list[str]:
    listening = _listening()
    wrong = []
    for pid, name in pids.items():
        for inode in _socket_inodes(pid) & listening.keys():
            address, port = listening[inode]
            ip = ipaddress.ip_address(address)
            if ip.version == 6:
                ip = ip.ipv4_mapped or ip
            if not ip.is_loopback:
                wrong.append(f"{name} (pid {pid}) listens on {address}:{port}")
    return wrong


def test_every_listening_socket_of_the_stack_is_on_loopback(test_stack):
    test_stack.need(*SERVICES)
    pids = _stack_pids(test_stack)
    listening = _listening()
    ports = {listening[i][1] for pid in pids for i in _socket_inodes(pid) & listening.keys()}
    config = test_stack.config
    # The check sees the services' real sockets (not an empty set): the known ports are among them.
    assert {config.postgres.port, config.kafka.port, config.kafka.controller_port, config.druid.zookeeper_port,
            config.druid.metadata_port, config.druid.broker_port, config.superset.port, config.redis.port,
            config.aws.port, config.smtp.port, config.cdc.metrics_port} <= ports
    assert _exposed(pids) == []


def test_no_secret_on_any_command_line(test_stack):
    config = test_stack.need(*SERVICES)
    secrets = [getattr(getattr(config, section), key) for section, key in LOCAL_SECRETS.values()]
    assert all(secrets)
    leaks = []
    for pid, name in _stack_pids(test_stack).items():
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        leaks += [f"{name} (pid {pid})" for secret in secrets if secret in cmdline]
    assert leaks == []


def test_secrets_file_is_private(test_stack):
    test_stack.need("postgres")
    path = test_stack.config.run_dir / SECRETS_FILE
    assert path.stat().st_mode & 0o777 == 0o600


def test_awkward_password_connects_through_the_dsn(test_stack):
    config = test_stack.need("postgres")
    role = f"t_awkward_{uuid.uuid4().hex[:6]}"
    admin = config.postgres.dsn("postgres", superuser=True)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(AWKWARD)))
    try:
        pg = dataclasses.replace(config.postgres, user=role, password=AWKWARD)
        with psycopg.connect(pg.dsn("postgres")) as conn:
            assert conn.execute("SELECT current_user").fetchone()[0] == role
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_flink_local_mini_cluster_listens_on_loopback_only(test_stack, tmp_path):
    """A local job's JVM (REST, blob server, RPC) and PyFlink's own servers in this process."""
    from pipeline.stack.layout import Layout
    from flink_jobs.environment import table_environment

    config = test_stack.config
    t_env = table_environment(config, Layout.from_config(config))
    t_env.execute_sql("CREATE TEMPORARY TABLE ticks (n INT) WITH ('connector' = 'datagen', 'rows-per-second' = '5')")
    t_env.execute_sql("CREATE TEMPORARY TABLE sink (n INT) WITH ('connector' = 'blackhole')")
    result = t_env.execute_sql("INSERT INTO sink SELECT n FROM ticks")
    try:
        client = result.get_job_client()
        deadline = time.monotonic() + 120
        while "RUNNING" not in str(client.get_job_status().result()) and time.monotonic() < deadline:
            time.sleep(0.5)
        me = os.getpid()
        pids = {pid: "flink mini-cluster" for pid in (me, *procs.descendants(me))}
        listening = _listening()
        assert any(_socket_inodes(pid) & listening.keys() for pid in pids if pid != me), "no JVM socket seen"
        assert _exposed(pids) == []
    finally:
        result.get_job_client().cancel().result()
