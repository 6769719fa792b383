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
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.config import PROJECT_ROOT, Config, load_config
from pipeline.stack import secrets
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
    config = secrets.ensure(load_config(env=env))
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
        # Tests count records by topic offsets: watermark records only where a test asks for them.
        settings = {"watermark_interval_ms": 0, **settings}
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



class FlinkJobs:
    """Jobs in this process's Flink mini-cluster, with timings for tests (checkpoint every second,
    partitions idle after two), each on topics of its own."""

    def __init__(self, config: Config) -> None:
        import dataclasses

        self.config = dataclasses.replace(config, flink=dataclasses.replace(
            config.flink, checkpoint_interval_ms=1000, fraud_checkpoint_interval_ms=1000, idle_timeout_ms=2000,
            out_of_orderness_ms=500))
        self.results = []

    def topics(self, tables: tuple[str, ...], sink: str):
        import uuid

        from flink_jobs.job import Topics
        from pipeline.kafka.admin import ensure_topics

        prefix = f"t.{uuid.uuid4().hex[:8]}"
        topics = Topics({t: f"{prefix}.public.{t}" for t in tables}, f"{prefix}.{sink}")
        ensure_topics(self.config.kafka.bootstrap, [*topics.sources.values(), topics.sink], 3)
        return topics

    def start(self, spec, restore: str = "none", **flink):
        """Start the job; `flink` overrides [flink] settings for this job alone (e.g. idle_timeout_ms)."""
        import dataclasses

        from flink_jobs import runner

        config = dataclasses.replace(self.config, flink=dataclasses.replace(self.config.flink, **flink))
        result = runner.start(config, spec, restore)
        self.results.append(result)
        return result

    def spawn(self, job: str, topics, checkpoint_dir: Path, log_path: Path):
        """`cdc-olap flink run <job>` as its own process group (the Python process and its JVM), reading
        `topics` and checkpointing into `checkpoint_dir`; kill it with os.killpg(proc.pid, SIGKILL)."""
        import subprocess
        import sys

        prefix = next(iter(topics.sources.values())).rsplit(".public.", 1)[0]
        env = {**os.environ, **TEST_ENV, "CDC_OLAP_CDC_TOPIC_PREFIX": prefix,
               "CDC_OLAP_FLINK_" + {"windows": "WINDOWS_TOPIC", "fraud": "ALERTS_TOPIC"}[job]: topics.sink,
               "CDC_OLAP_FLINK_CHECKPOINT_DIR": str(checkpoint_dir),
               # The job writes topics.sink itself, not a topic of its SQL's version.
               "CDC_OLAP_FLINK_VERSIONED_RESULTS": "false",
               **{f"CDC_OLAP_FLINK_{k.upper()}": str(getattr(self.config.flink, k))
                  for k in ("checkpoint_interval_ms", "fraud_checkpoint_interval_ms", "idle_timeout_ms",
                            "out_of_orderness_ms")}}
        with open(log_path, "ab") as log:
            return subprocess.Popen([sys.executable, "-m", "pipeline", "flink", "run", job], env=env, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True, cwd=PROJECT_ROOT)

    def cancel_all(self) -> None:
        for result in self.results:
            client = result.get_job_client()
            if client is not None:
                try:
                    client.cancel().result()
                except Exception:  # noqa: BLE001 - already finished or failed: nothing left to stop
                    pass


@pytest.fixture(scope="module")
def flink_jobs(test_stack):
    """FlinkJobs on the test stack's Kafka; every job started in the module is cancelled at its end."""
    jobs = FlinkJobs(test_stack.need("kafka"))
    yield jobs
    jobs.cancel_all()


class DruidDeployment:
    """The test stack's Druid with datasources and result topics of this module's own: a datasource
    prefix and topic names no other module uses, so specs apply here as in production."""

    def __init__(self, config: Config) -> None:
        import dataclasses
        import uuid

        from pipeline.druid.client import Druid

        tag = uuid.uuid4().hex[:8]
        self.config = dataclasses.replace(
            config, druid=dataclasses.replace(config.druid, datasource_prefix=f"t{tag}_"),
            cdc=dataclasses.replace(config.cdc, topic_prefix=f"t.{tag}"),
            flink=dataclasses.replace(config.flink, windows_topic=f"t.{tag}.tx_windows",
                                      alerts_topic=f"t.{tag}.fraud_alerts", health_topic=f"t.{tag}.account_health"))
        self.client = Druid(self.config.druid)

    def with_topic_prefix(self, prefix: str) -> "DruidDeployment":
        """Read the CDC facts of a reader with this topic prefix (the cdc_reader fixture's)."""
        import dataclasses

        self.config = dataclasses.replace(self.config, cdc=dataclasses.replace(self.config.cdc, topic_prefix=prefix))
        return self

    def name(self, datasource: str) -> str:
        return self.config.druid.datasource_prefix + datasource

    def wait_for(self, query: str, done, timeout_s: float = 180, what: str = "Druid rows"):
        """Run `query` until `done(rows)`; returns the last rows (fails with them after the timeout)."""
        try:
            return self.client.wait_for(query, done, timeout_s, what)
        except TimeoutError as exc:
            raise AssertionError(str(exc)) from None

    def cleanup(self) -> None:
        from pipeline.druid.client import DruidError

        # Tasks are shut down, not left to publish: a publishing task whose datasource was dropped
        # waits for a handoff that never comes and holds its indexer slot for the completion timeout.
        prefix = self.config.druid.datasource_prefix
        for sid in self.client.supervisors():
            if sid.startswith(prefix):
                try:
                    self.client.terminate(sid)
                    for state in ("running", "pending"):
                        for task in self.client.tasks(sid, state):
                            self.client.shutdown_task(task["id"])
                    self.client.mark_unused(sid)
                except DruidError:
                    pass
        from pipeline.druid import lookups

        for spec in lookups.load(self.config.druid_specs_dir / "lookups"):
            try:
                self.client.delete_lookup(lookups.TIER, spec.lookup_name(prefix))
            except DruidError:
                pass


@pytest.fixture(scope="module")
def druid(test_stack):
    """A DruidDeployment on the test stack; its supervisors are terminated and its rows dropped at the end."""
    config = test_stack.need("kafka", "druid-broker", "druid-coordinator", "druid-historical", "druid-indexer")
    deployment = DruidDeployment(config)
    yield deployment
    deployment.cleanup()


@pytest.fixture(scope="module")
def own_kafka(tmp_path_factory):
    """A Kafka broker of the test's own (ports +1500), which the test may stop and start again
    without disturbing the session's shared broker. Yields (config, supervisor)."""
    env = {**os.environ, "CDC_OLAP_STACK_RUN_DIR": str(tmp_path_factory.mktemp("own-kafka")),
           "CDC_OLAP_STACK_PORT_OFFSET": "1500"}
    config = secrets.ensure(load_config(env=env))
    supervisor = stack_module.build(config)
    install_all(config)
    supervisor.up(only={"kafka"})
    yield config, supervisor
    supervisor.down()


class Pager:
    """The alert dispatcher on one alerts topic, paging into an SNS topic of its own with an SQS queue
    subscribed, so a test reads back exactly the pages it caused (no other test publishes there)."""

    def __init__(self, config: Config, ledger_path: Path) -> None:
        import dataclasses
        import uuid

        from pipeline.alerts.dispatcher import build
        from pipeline.aws import client

        self.suffix = uuid.uuid4().hex[:8]
        self.config = dataclasses.replace(
            config, aws=dataclasses.replace(config.aws, sns_topic=f"t-pages-{self.suffix}"),
            cdc=dataclasses.replace(config.cdc, dead_letter_topic=f"t-{self.suffix}.cdc.dead_letter"))
        self.dispatcher = build(self.config, ledger_path)
        self.sqs = client(config.aws, "sqs")
        self.queue_url = self.sqs.create_queue(QueueName=f"t-pages-{self.suffix}")["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url,
                                                  AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        client(config.aws, "sns").subscribe(TopicArn=self.dispatcher.topic_arn, Protocol="sqs", Endpoint=queue_arn)
        self.received: list[dict] = []  # the page bodies, one per SNS publish
        self._stop: threading.Event | None = None
        self._worker: threading.Thread | None = None

    def start(self, topic: str) -> None:
        """Dispatch `topic` from its beginning in a thread, as `cdc-olap alerts dispatch` would."""
        from pipeline.alerts.dispatcher import consume

        self._stop = threading.Event()
        self._worker = threading.Thread(target=consume, args=(self.config, self.dispatcher, self._stop),
                                        kwargs={"topic": topic, "group_id": f"pager-{self.suffix}"})
        self._worker.start()

    def receive(self, done: Callable[[Pager], bool], timeout_s: float) -> list[dict]:
        """Collect pages from the queue until `done(pager)` holds and a last wait brings nothing more,
        or the timeout. Each message is deleted once read: one left in the queue would come back
        after its visibility timeout and look like a second page."""
        import json
        import time

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            messages = self.sqs.receive_message(QueueUrl=self.queue_url, WaitTimeSeconds=1,
                                                MaxNumberOfMessages=10).get("Messages", [])
            for m in messages:
                self.received.append(json.loads(json.loads(m["Body"])["Message"]))
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])
            if not messages and done(self):
                break
        return self.received

    def stop(self) -> None:
        if self._worker is not None:
            self._stop.set()
            self._worker.join(30)
        self.dispatcher.ledger.close()


@pytest.fixture
def pager(test_stack, tmp_path):
    """A Pager on the test stack's Kafka and SNS/SQS (moto), ledger in tmp_path; stopped after the test."""
    pager = Pager(test_stack.need("kafka", "aws"), tmp_path / "pages.sqlite")
    yield pager
    pager.stop()
