"""Every command that needs a service, run as a new user would with nothing started: exit 2 and one
line naming the service, its address and the fix; never a traceback. Arguments are checked first.

No services: the config points at ports nothing listens on (or at a listener of the test's own)."""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
import threading

import pytest

from pipeline.config import PROJECT_ROOT, load_config

# No stack uses it (tests 1000/3000, benches 2500/3200), and every shifted port (20025..29180 + 3400)
# stays below the kernel's ephemeral range (32768+): with 7700, Postgres' 33132 could be the local
# port of some outgoing connection, and the fake server below failed to bind it now and then.
OFFSET = 3400


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    env = {**os.environ, "CDC_OLAP_STACK_RUN_DIR": str(tmp_path_factory.mktemp("nothing-started")),
           "CDC_OLAP_STACK_PORT_OFFSET": str(OFFSET)}
    config = load_config(env=env)
    for port in (config.postgres.port, config.kafka.port, config.aws.port):
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0, f"port {port} is in use: pick another OFFSET"
    return env


def run(env, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline", *argv], env=env, cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=60)


def assert_one_line(result: subprocess.CompletedProcess, *expected: str) -> None:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert len(lines) == 1, result.stderr
    for text in expected:
        assert text in lines[0], lines[0]


PG = ("postgres", f"127.0.0.1:{25432 + OFFSET}", "./cdc-olap up --only postgres")
KAFKA = ("kafka", f"127.0.0.1:{29092 + OFFSET}", "./cdc-olap up --only kafka")
DRUID = ("druid-coordinator", f"http://127.0.0.1:{28081 + OFFSET}", "./cdc-olap up --only druid-coordinator")


@pytest.mark.parametrize("argv, expected", [
    (("cdc",), PG),
    (("workload", "--duration", "1"), PG),
    (("history", "--months", "1"), PG),
    (("history", "export"), PG),
    (("reporting", "refresh"), PG),
    (("alerts", "dispatch"), KAFKA),
    (("flink", "run", "windows"), KAFKA),
    (("druid", "apply"), DRUID),
    (("druid", "diff"), DRUID),
    (("druid", "status"), DRUID),
    (("druid", "lookups"), DRUID),
    (("druid", "reset", "transactions", "--yes"), DRUID),
], ids=["cdc", "workload", "history", "history export", "reporting refresh", "alerts dispatch", "flink run",
        "druid apply", "druid diff", "druid status", "druid lookups", "druid reset"])
def test_command_names_the_service_it_cannot_reach(env, argv, expected):
    assert_one_line(run(env, *argv), "cannot reach", *expected)


def test_an_external_service_is_pointed_at_its_config_keys(env):
    result = run({**env, "CDC_OLAP_POSTGRES_MANAGED": "false", "CDC_OLAP_POSTGRES_HOST": "127.0.0.1",
                  "CDC_OLAP_POSTGRES_PORT": str(25432 + OFFSET)}, "reporting", "refresh")
    assert_one_line(result, "cannot reach postgres", "[postgres] host", "CDC_OLAP_POSTGRES_HOST",
                    "CDC_OLAP_POSTGRES_PORT")
    assert "up --only" not in result.stderr


def test_aws_unreachable_after_postgres_is_named_too(env):
    """history export needs S3 as well: with Postgres answering, the message is about moto."""
    with _listener(25432 + OFFSET):
        result = run(env, "history", "export")
    assert_one_line(result, "cannot reach aws", f"http://127.0.0.1:{25000 + OFFSET}", "./cdc-olap up --only aws")


@pytest.mark.parametrize("argv, message", [
    (("workload", "--tps", "-5"), "argument --tps: -5 is out of range"),
    (("workload", "--writers", "0"), "argument --writers: 0 is out of range"),
    (("workload", "--fraud-rate", "1.5"), "argument --fraud-rate: 1.5 is out of range"),
    (("history", "--months", "x"), "argument --months: 'x' is not a whole number"),
    (("history", "export", "--until", "2026-01-01"), "has no UTC offset"),
    (("history", "export", "--prefix", "/"), "argument --prefix: must not be empty"),
])
def test_arguments_are_refused_before_connecting(env, argv, message):
    result = run(env, *argv)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert "cannot reach" not in result.stderr and "Traceback" not in result.stderr


def test_a_connection_lost_after_the_probe_is_one_line_too(env):
    """Something accepts TCP on the Postgres port but is not Postgres: the probe passes, psycopg fails,
    and the failure is still named (the second half of the mechanism)."""
    with _listener(25432 + OFFSET):
        result = run({**env, "CDC_OLAP_POSTGRES_PASSWORD": "x"}, "reporting", "refresh")
    assert_one_line(result, "cannot reach postgres", f"127.0.0.1:{25432 + OFFSET}")


def test_no_password_for_the_local_stack_says_how_to_get_one(env):
    with _listener(25432 + OFFSET):
        result = run(env, "reporting", "refresh")
    assert_one_line(result, "[postgres] password is not set", "./cdc-olap up", "CDC_OLAP_POSTGRES_PASSWORD")
    assert "None" not in result.stderr


class _listener:
    """A TCP port that accepts and closes every connection (after `reply`, if any): reachable, but no service."""

    def __init__(self, port: int, reply: bytes = b"") -> None:
        self.reply = reply  # sent to whoever connects (after reading their first message) before closing
        self.sock = socket.create_server(("127.0.0.1", port))
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            if self.reply:
                # libpq may first ask for SSL or GSS encryption (8-byte requests): decline, then answer.
                while len(request := conn.recv(1024)) == 8 and request[4:] in (b"\x04\xd2\x16\x2f", b"\x04\xd2\x16\x30"):
                    conn.sendall(b"N")
                conn.sendall(self.reply)
            conn.close()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(), which then releases the port
        self.thread.join(5)
        self.sock.close()


def test_a_refused_login_asks_for_the_credentials_not_for_a_start(env):
    """A server that answers but refuses the password: starting it is not the fix."""
    body = b'SFATAL\x00C28P01\x00Mpassword authentication failed for user "cdc_olap"\x00\x00'
    reply = b"E" + struct.pack("!I", len(body) + 4) + body  # a Postgres ErrorResponse
    with _listener(25432 + OFFSET, reply=reply):
        result = run({**env, "CDC_OLAP_POSTGRES_PASSWORD": "wrong"}, "reporting", "refresh")
    assert_one_line(result, f"postgres at 127.0.0.1:{25432 + OFFSET} refused the login",
                    "password authentication failed", "CDC_OLAP_POSTGRES_PASSWORD")
    assert "up --only" not in result.stderr
