"""Fixtures that start real services. The only place tests start anything.

The test stack is an ordinary stack with its own run dir (`.run/test`) and
ports shifted by 1000, so it can run beside a demo stack. It starts once per
test session, only the services the selected tests ask for (plus what those
need), and is stopped and deleted at the end; CDC_OLAP_KEEP_STACK=1 leaves it
running so the next run starts in seconds.

Services are local processes, never containers: these machines have no Docker
engine, and nothing is skipped for that reason. To run the suite against
services you already have (containers, a cluster), set the usual
CDC_OLAP_<SECTION>_MANAGED=false and endpoint variables; the fixtures then
only health-check them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipeline.config import PROJECT_ROOT, Config, load_config
from pipeline.stack import stack as stack_module
from pipeline.stack.install.plan import install_all
from pipeline.stack.supervisor import Supervisor

# CDC_OLAP_TEST_RUN_DIR / CDC_OLAP_TEST_PORT_OFFSET move the test stack, so two checkouts can
# run their suites side by side.
TEST_ENV = {
    "CDC_OLAP_STACK_RUN_DIR": os.environ.get("CDC_OLAP_TEST_RUN_DIR", str(PROJECT_ROOT / ".run" / "test")),
    "CDC_OLAP_STACK_PORT_OFFSET": os.environ.get("CDC_OLAP_TEST_PORT_OFFSET", "1000"),
}


def pytest_collection_modifyitems(config, items):
    """Tier by folder: tests/integration needs services, everything else is a pure unit."""
    for item in items:
        path = Path(str(item.fspath))
        item.add_marker(pytest.mark.integration if "integration" in path.parts else pytest.mark.unit)


class TestStack:
    """Starts services on demand, once per session."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.supervisor: Supervisor = stack_module.build(config)
        self._installed = False
        self.started: set[str] = set()

    def need(self, *names: str) -> Config:
        missing = set(names) - self.started
        if missing:
            if not self._installed:
                install_all(self.config)
                self._installed = True
            self.supervisor.up(only=missing)
            self.started |= set(self.supervisor.closure(missing))
        return self.config

    def stop(self) -> None:
        """Stop and delete the test stack's data, so the next session starts from a clean slate
        (no Druid supervisors, tasks or topics left over from this one)."""
        self.supervisor.down()
        self.supervisor.layout.purge()


@pytest.fixture(scope="session")
def test_stack():
    env = {**os.environ, **TEST_ENV}
    config = load_config(env=env)
    stack = TestStack(config)
    yield stack
    if os.environ.get("CDC_OLAP_KEEP_STACK") != "1":
        stack.stop()


@pytest.fixture(scope="module")
def fresh_database(test_stack):
    """An empty database in the test stack's Postgres, owned by the app user, dropped after the module."""
    import dataclasses
    import uuid

    import psycopg
    from psycopg import sql

    config = test_stack.need("postgres")
    name = f"t_{uuid.uuid4().hex[:10]}"
    admin_dsn = config.postgres.dsn("postgres", superuser=True)
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(config.postgres.user)))
    yield dataclasses.replace(config.postgres, database=name)
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        # A database with replication slots cannot be dropped; the readers using them have stopped.
        conn.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = %s",
                     (name,))
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def cdc_reader(test_stack, tmp_path_factory):
    """Factory: cdc_reader(postgres_config, **cdc_settings) -> an unstarted ReaderProcess.

    Each reader gets its own slot, publication, topic prefix, state dir and
    metrics port, so modules never see each other's events. Readers still
    running at the end of the module are stopped and their slots dropped."""
    import uuid

    import psycopg

    from pipeline.cdc.control import ReaderProcess, free_port, reader_env

    config = test_stack.need("postgres", "kafka")
    readers: list[ReaderProcess] = []

    def make(pg, **settings) -> ReaderProcess:
        name = f"t{uuid.uuid4().hex[:8]}"
        port = free_port()
        env = reader_env({**os.environ, **TEST_ENV}, pg, name, tmp_path_factory.mktemp(name), port,
                         config.stack.port_offset, **settings)
        reader = ReaderProcess(env, port, tmp_path_factory.mktemp(f"{name}-log") / "cdc.log", pg, name,
                               config.kafka.bootstrap)
        readers.append(reader)
        return reader

    yield make
    for reader in readers:
        reader.stop()
        with psycopg.connect(config.postgres.dsn("postgres", superuser=True), autocommit=True) as conn:
            conn.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                         "WHERE slot_name = %s AND NOT active", (reader.slot,))


@pytest.fixture(scope="module")
def own_kafka(tmp_path_factory):
    """A Kafka broker of the test's own (ports +1500), which the test may stop and start again
    without disturbing the session's shared broker. Yields (config, supervisor)."""
    env = {**os.environ, "CDC_OLAP_STACK_RUN_DIR": str(tmp_path_factory.mktemp("own-kafka")),
           "CDC_OLAP_STACK_PORT_OFFSET": "1500"}
    config = load_config(env=env)
    supervisor = stack_module.build(config)
    install_all(config)
    supervisor.up(only={"kafka"})
    yield config, supervisor
    supervisor.down()
