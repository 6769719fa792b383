"""The one place configuration is read.

Everything the product talks to is an endpoint in this file's dataclasses. A
section marked ``managed = true`` is started by the local stack manager; set it
to ``false`` and point host/port/URL at a real cluster (Kafka/MSK, Druid,
Superset/Preset, AWS) and the same commands run against that instead.

Precedence, lowest first: dataclass defaults, the TOML file
(``cdc-olap.toml`` at the project root, or ``--config`` / ``CDC_OLAP_CONFIG``),
then environment variables named ``CDC_OLAP_<SECTION>_<KEY>`` (for example
``CDC_OLAP_KAFKA_BOOTSTRAP_SERVERS=b-1.msk:9098``). Callers receive a frozen
``Config`` and pass the parts they need down; nothing else reads the
environment.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import quote

from psycopg.conninfo import make_conninfo

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_FILE = PROJECT_ROOT / "cdc-olap.toml"
ENV_PREFIX = "CDC_OLAP_"
MASK_KEY_MIN_CHARS = 16
# Renamed keys: the old name, in the file or the environment, is an error that names the new one
# (silently ignoring it would run with a different secret than the operator set).
_RENAMED = {("cdc", "mask_salt"): "mask_key"}


class ConfigError(ValueError):
    """A configuration value is missing or malformed; the message says which and how to fix it."""


# The local stack's generated credentials: name in <run_dir>/secrets.env -> (section, key) they fill.
# Only a section with managed = true takes them; `cdc-olap up` writes the file (pipeline/stack/secrets.py).
LOCAL_SECRETS: dict[str, tuple[str, str]] = {
    "postgres_superuser_password": ("postgres", "superuser_password"),
    "postgres_password": ("postgres", "password"),
    "superset_db_password": ("superset", "db_password"),
    "superset_admin_password": ("superset", "admin_password"),
    "superset_secret_key": ("superset", "secret_key"),
    "cdc_mask_key": ("cdc", "mask_key"),
}
SECRETS_FILE = "secrets.env"


def require_secret(section: str, key: str, value: str | None) -> str:
    """The secret's value, or an error that says where it comes from: an unset secret must never
    reach a DSN or URL as the text "None" (or an empty password that fails later and obscurely)."""
    if value is None or value == "":
        raise ConfigError(
            f"[{section}] {key} is not set: for the local stack run `./cdc-olap up` (it generates "
            f"<run_dir>/{SECRETS_FILE}); for an external {section}, set ${ENV_PREFIX}{section.upper()}_{key.upper()} "
            "from your secret store")
    return value


def url_credentials(user: str, password: str) -> str:
    """`user:password` for the authority of a URL: every reserved character (@ : / % and the rest)
    percent-encoded, so a generated or rotated password can never change where the URL points."""
    return f"{quote(user, safe='')}:{quote(password, safe='')}"


@dataclass(frozen=True)
class StackConfig:
    # Where logs, pids, data dirs and generated secrets of one stack live.
    run_dir: str = ".run/demo"
    # Downloads (Maven jars, virtualenvs) are cached here, outside the repo.
    cache_dir: str = "~/.cache/cdc-olap"
    # Added to every managed service's port, so a test stack can run beside the demo.
    port_offset: int = 0
    # Seconds a service may take to become healthy before `up` gives up on it.
    start_timeout_s: int = 240


@dataclass(frozen=True)
class PostgresConfig:
    managed: bool = True
    host: str = "127.0.0.1"
    port: int = 25432
    database: str = "fintech"
    user: str = "cdc_olap"
    # None: generated for the local stack (see secrets.env in the run dir).
    password: str | None = None
    superuser: str = "postgres"
    superuser_password: str | None = None
    shared_buffers: str = "256MB"
    max_replication_slots: int = 10
    max_wal_senders: int = 10

    def dsn(self, database: str | None = None, *, superuser: bool = False) -> str:
        """A libpq connection string; make_conninfo quotes every value (quotes, spaces, backslashes)."""
        key = "superuser_password" if superuser else "password"
        password = require_secret("postgres", key, getattr(self, key))
        return make_conninfo(host=self.host, port=self.port, dbname=database or self.database,
                             user=self.superuser if superuser else self.user, password=password, connect_timeout=5)

    def url(self, user: str, password: str, database: str, *, scheme: str = "postgresql") -> str:
        """A SQLAlchemy-style URL for another client of this server (Superset's metadata database)."""
        return f"{scheme}://{url_credentials(user, password)}@{self.host}:{self.port}/{quote(database, safe='')}"


@dataclass(frozen=True)
class KafkaConfig:
    managed: bool = True
    version: str = "4.4.0"
    host: str = "127.0.0.1"
    port: int = 29092
    controller_port: int = 29093
    # For an external cluster: its bootstrap list. Empty: host:port of the managed broker.
    bootstrap_servers: str = ""
    heap: str = "512m"
    # Topics the project creates get this replication factor and min.insync.replicas (with acks=all,
    # a write succeeds once that many replicas have it). 1/1 for the one local broker; e.g. 3/2 on MSK.
    replication_factor: int = 1
    min_insync_replicas: int = 1

    @property
    def bootstrap(self) -> str:
        return self.bootstrap_servers or f"{self.host}:{self.port}"


@dataclass(frozen=True)
class DruidConfig:
    managed: bool = True
    version: str = "33.0.0"
    host: str = "127.0.0.1"
    coordinator_port: int = 28081
    broker_port: int = 28082
    historical_port: int = 28083
    indexer_port: int = 28091
    zookeeper_port: int = 22181
    # Scheme://host:port of the broker (SQL) and coordinator/overlord (tasks) for external clusters.
    broker_url: str = ""
    overlord_url: str = ""
    # The coordinator hosts Druid's metadata store (Derby network server) on this port.
    metadata_port: int = 21527
    # JVM heap per Druid process; direct memory is sized from the processing buffers.
    heap: str = "384m"
    # The coordinator (segments, retention rules) of an external cluster; empty: the local one.
    coordinator_url: str = ""
    # The datasource specs (one JSON file per datasource; pipeline/druid/specs.py); relative: from the project root.
    specs_dir: str = "druid_specs"
    # Put before every datasource (and supervisor) name, so two deployments (staging and production,
    # or test runs) can share one Druid cluster. Empty in production: Superset and the reports name
    # the datasources plainly.
    datasource_prefix: str = ""
    # `up` applies the specs once Druid and the topics they read are there.
    apply_in_up: bool = True
    # `up` runs `druid lookups --follow` (reference attributes kept current as Druid lookups).
    lookups_in_up: bool = True
    # Seconds a Druid API call may take before it counts as failed.
    timeout_s: float = 30.0

    @property
    def broker(self) -> str:
        return self.broker_url or f"http://{self.host}:{self.broker_port}"

    @property
    def overlord(self) -> str:
        # The local stack runs the coordinator as overlord too.
        return self.overlord_url or f"http://{self.host}:{self.coordinator_port}"

    @property
    def coordinator(self) -> str:
        return self.coordinator_url or f"http://{self.host}:{self.coordinator_port}"


@dataclass(frozen=True)
class FlinkConfig:
    # "local": jobs run in an embedded mini-cluster inside the submitting Python process.
    # "remote": jobs are submitted to the JobManager at rest_url.
    mode: str = "local"
    rest_url: str = ""
    kafka_connector_version: str = "5.0.0-2.2"
    # Heap of the JVM that PyFlink starts for local execution (the embedded mini-cluster).
    local_heap: str = "1g"
    # Port of the local mini-cluster's REST API and web UI; 0: any free port (each job has its own).
    local_rest_port: int = 0
    parallelism: int = 1
    # Checkpoints: RocksDB state, files under <run_dir>/<checkpoint_dir>/<job> (or an s3:// / hdfs:// URI).
    # Exactly-once sinks make their output visible at each checkpoint, so this is also their latency.
    checkpoint_interval_ms: int = 5000
    # Longest a record waits in a network buffer between operators (Flink's default is 100 ms).
    buffer_timeout_ms: int = 5
    # The fraud job with at-least-once alerts: checkpoints only bound the replay after a crash there.
    fraud_checkpoint_interval_ms: int = 30000
    state_backend: str = "rocksdb"
    checkpoint_dir: str = "data/flink/checkpoints"
    # Event time is the source commit timestamp; a partition may run this far behind the others.
    out_of_orderness_ms: int = 100
    # A partition with no record (change or watermark record) for this long no longer holds the watermark back.
    idle_timeout_ms: int = 5000
    # The same for the versioned tables read as debezium-json (accounts, merchants in temporal joins),
    # which cannot see watermark records: shorter, since a join waits for them (flink_jobs/sources.py),
    # but not so short that a slow first fetch after a start makes their versions arrive late.
    versioned_idle_timeout_ms: int = 2000
    # The windows job remembers each change identity this long (wall clock, downtime included) to drop
    # the CDC reader's resends; a resend arriving later counts again. Longer = more state.
    windows_dedupe_ttl_h: int = 24
    # The fraud rules (validated when the job starts); relative paths are from the project root.
    rules_file: str = "flink_jobs/rules/fraud_rules.yaml"
    # The account health score's weights (validated when the health job starts).
    health_file: str = "flink_jobs/health/health.yaml"
    # Result topics the jobs write (and Druid / the alert dispatcher read). With versioned_results the
    # windows and health jobs write to <topic>.v<version of their SQL>: a new SQL version replays every
    # result into a topic of its own, and `druid apply` re-reads that instead of adding it to the old.
    versioned_results: bool = True
    windows_topic: str = "analytics.tx_windows"
    alerts_topic: str = "analytics.fraud_alerts"
    health_topic: str = "analytics.account_health"
    # Alerts are at-least-once by default (a page must not wait for a checkpoint); the dispatcher
    # removes duplicates by alert id. "exactly-once" makes them wait for the checkpoint instead.
    alerts_delivery: str = "at-least-once"
    # `up` runs the windows, fraud and health jobs as stack services (and the dispatcher when [alerts] run_in_up).
    run_in_up: bool = True


@dataclass(frozen=True)
class SupersetConfig:
    managed: bool = True
    version: str = "6.1.0"
    host: str = "127.0.0.1"
    port: int = 28088
    url: str = ""
    admin_user: str = "admin"
    admin_password: str | None = None
    secret_key: str | None = None
    db_password: str | None = None
    web_workers: int = 1

    @property
    def base_url(self) -> str:
        return self.url or f"http://{self.host}:{self.port}"


@dataclass(frozen=True)
class RedisConfig:
    managed: bool = True
    host: str = "127.0.0.1"
    port: int = 26379


@dataclass(frozen=True)
class AwsConfig:
    # managed: a local moto server stands in for S3 and SNS. For real AWS set
    # managed = false and leave endpoint_url empty; credentials then come from
    # the usual AWS chain (env, profile, instance role).
    managed: bool = True
    host: str = "127.0.0.1"
    port: int = 25000
    endpoint_url: str = ""
    region: str = "us-east-1"
    s3_bucket: str = "cdc-olap"
    sns_topic: str = "cdc-olap-pages"

    @property
    def endpoint(self) -> str | None:
        """None means the real AWS endpoints, chosen by boto3 from the region."""
        if self.endpoint_url:
            return self.endpoint_url
        return f"http://{self.host}:{self.port}" if self.managed else None


@dataclass(frozen=True)
class SmtpConfig:
    # managed: a local sink that stores every delivered mail as a .eml file.
    managed: bool = True
    host: str = "127.0.0.1"
    port: int = 20025
    mail_from: str = "reports@cdc-olap.local"


@dataclass(frozen=True)
class WorkloadConfig:
    # `up` runs the demo workload as a stack service (writes live traffic into [postgres]).
    run_in_up: bool = True
    tps: float = 50.0
    seed: int = 1
    writers: int = 2
    fraud_rate: float = 0.002
    customers: int = 2000
    # Before its writers start on an empty database, the demo loads this much back history
    # (`cdc-olap history`); 0 months = none. Bigger histories: run `cdc-olap history` yourself.
    history_months: int = 3
    history_payments_per_day: int = 1000


@dataclass(frozen=True)
class CdcConfig:
    """The CDC reader: which tables go to Kafka, how events are keyed, partitioned and masked."""
    # `up` runs the reader as the `cdc` service.
    run_in_up: bool = True
    slot: str = "cdc_olap"
    publication: str = "cdc_olap"
    # Create the slot / publication when missing; false: they must exist (a DBA created them).
    create_slot: bool = True
    create_publication: bool = True
    # schema.table names; empty: every table in `schemas`.
    tables: tuple[str, ...] = ()
    schemas: tuple[str, ...] = ("public",)
    exclude_tables: tuple[str, ...] = ()
    topic_prefix: str = "fintech"
    partitions: int = 3
    # table -> column whose value picks the partition (so one account's events stay in order);
    # tables not listed are partitioned by their primary key.
    partition_by: dict[str, str] = field(default_factory=lambda: {
        "accounts": "account_id", "cards": "account_id", "transactions": "account_id",
        "ledger_entries": "account_id"})
    # "table.column" -> "hash" (HMAC-SHA-256 with mask_key, joinable) or "redact" (a fixed marker).
    # Logins' device and IP are personal data; hashed, not redacted, because the fraud rules need
    # "same device as before" and shared-IP questions need equality (docs/cdc.md, "PII").
    mask: dict[str, str] = field(default_factory=lambda: {
        "cards.card_token": "hash", "customers.email": "hash", "customers.full_name": "redact",
        "logins.device_id": "hash", "logins.ip": "hash"})
    # The HMAC key of `hash` (at least MASK_KEY_MIN_CHARS characters). None: generated for the local
    # stack; elsewhere set CDC_OLAP_CDC_MASK_KEY from the secret store. Changing it changes every hash.
    mask_key: str | None = None
    # Debezium's names: initial, never, when_needed.
    snapshot_mode: str = "initial"
    snapshot_fetch_rows: int = 5000
    # Publish BEGIN/END records to <prefix>.transaction.
    transaction_topic: bool = True
    # Debezium skips truncates by default; we publish them (to every partition of the table's topic).
    emit_truncate: bool = True
    # Seconds between heartbeat records on <prefix>.heartbeat; 0 turns them off.
    heartbeat_interval_s: float = 0.0
    # Watermark records (op "m") in every partition of the topics of `watermark_tables`, at most this
    # often while transactions flow, so event-time consumers (Flink) move on over quiet partitions
    # (pipeline/cdc/watermarks.py). 0 turns them off (for consumers that know only Debezium's ops).
    watermark_interval_ms: int = 50
    # Only the tables the event-time jobs read get them; every other topic is plain Debezium.
    watermark_tables: tuple[str, ...] = ("transactions", "logins", "accounts", "merchants")
    # exactly-once: change events are written in Kafka transactions with the reader's checkpoint, so
    # read_committed consumers see each change once even across crashes (pipeline/cdc/transactions.py).
    # at-least-once: for clusters without transactions; a crash may resend the unacknowledged tail.
    delivery: str = "exactly-once"
    # A Kafka transaction gathers whole Postgres transactions for this long (or this many events),
    # then commits: the price of exactly-once in latency, and what amortises the commit's round trip.
    transaction_interval_ms: int = 10
    transaction_max_events: int = 50_000
    # The longest one Kafka transaction may stay open (capped by the brokers' transaction.max.timeout.ms):
    # the largest Postgres transaction, and the whole initial snapshot, must be written within it.
    transaction_timeout_ms: int = 900_000
    # A change Kafka refuses for good (larger than max.message.bytes, invalid): "stop" halts the reader
    # (exit 3, the slot keeps the WAL, `status` names the record and the fix); "dead-letter" writes a
    # description of it to `dead_letter_topic` instead (the dispatcher pages on-call) and goes on.
    on_rejected: str = "stop"
    dead_letter_topic: str = ""  # empty: <topic_prefix>.cdc.dead_letter
    max_message_bytes: int = 1_000_000  # the producer's limit; the topics' max.message.bytes must allow it
    # After a delete (and a key change), a record with the old key and no value, so compaction can
    # forget the row. Off by default: Druid's Kafka ingestion counts null records as unparseable.
    tombstones: bool = False
    # Reference tables keep every current row forever (compacted), so a job started long after
    # retention still finds each version; the rest are deleted after retention_ms.
    compacted_tables: tuple[str, ...] = ("accounts", "merchants", "customers", "cards")
    # Signed facts for Druid (pipeline/cdc/facts.py, docs/cdc.md): each change of these tables also
    # goes to <topic_prefix>.facts.<table> as +after / -before rows in the change's Kafka transaction,
    # so Druid, which only appends, keeps SUM equal to Postgres after updates and deletes. Plain table
    # names; needs exactly-once delivery and REPLICA IDENTITY FULL. Empty: no facts.
    signed_tables: tuple[str, ...] = ("transactions", "ledger_entries", "disputes")
    retention_ms: int = 604_800_000
    # Any other topic-level config for the table topics the reader creates ("key=value,...").
    topic_config: dict[str, str] = field(default_factory=dict)

    @property
    def dead_letters(self) -> str:
        """The dead-letter topic: configured, or <topic_prefix>.cdc.dead_letter."""
        return self.dead_letter_topic or f"{self.topic_prefix}.cdc.dead_letter"
    # Where the reader keeps snapshot progress and schema versions (relative to the run dir).
    state_dir: str = "data/cdc"
    metrics_port: int = 29180
    # Producer: librdkafka settings that trade latency for throughput.
    linger_ms: int = 5
    batch_size: int = 1_000_000
    compression: str = "lz4"
    # Messages buffered in the producer before the reader stops reading WAL (backpressure).
    max_buffered_messages: int = 200_000


@dataclass(frozen=True)
class AlertsConfig:
    """The alert dispatcher: fraud alerts topic -> SNS pages, deduplicated and rate-limited."""
    run_in_up: bool = True
    group_id: str = "cdc-olap-pager"
    # At most one page per (account, rule) in this many seconds; the rest are recorded as suppressed.
    rate_limit_s: float = 600.0
    # Every alert seen and what became of it (SQLite, relative to the run dir). Also the dedupe memory.
    ledger: str = "data/alerts/pages.sqlite"


@dataclass(frozen=True)
class Config:
    stack: StackConfig = field(default_factory=StackConfig)
    postgres: PostgresConfig = field(default_factory=PostgresConfig)
    kafka: KafkaConfig = field(default_factory=KafkaConfig)
    druid: DruidConfig = field(default_factory=DruidConfig)
    flink: FlinkConfig = field(default_factory=FlinkConfig)
    superset: SupersetConfig = field(default_factory=SupersetConfig)
    redis: RedisConfig = field(default_factory=RedisConfig)
    aws: AwsConfig = field(default_factory=AwsConfig)
    smtp: SmtpConfig = field(default_factory=SmtpConfig)
    workload: WorkloadConfig = field(default_factory=WorkloadConfig)
    cdc: CdcConfig = field(default_factory=CdcConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)

    @property
    def run_dir(self) -> Path:
        return _resolve_path(self.stack.run_dir)

    @property
    def cache_dir(self) -> Path:
        return _resolve_path(self.stack.cache_dir)

    @property
    def rules_file(self) -> Path:
        return _resolve_path(self.flink.rules_file)

    @property
    def health_file(self) -> Path:
        return _resolve_path(self.flink.health_file)

    @property
    def druid_specs_dir(self) -> Path:
        return _resolve_path(self.druid.specs_dir)

    def run_path(self, value: str) -> str:
        """A location under the run dir, unless it is already absolute or a URI (s3://, hdfs://)."""
        if "://" in value or Path(value).is_absolute():
            return value
        return str(self.run_dir / value)


def child_env(config: Config) -> dict[str, str]:
    """What a process the stack spawns (reader, jobs, workload) needs besides the inherited environment
    to load the same config: the stack may have been chosen by overrides the child never saw."""
    return {f"{ENV_PREFIX}STACK_RUN_DIR": str(config.run_dir),
            f"{ENV_PREFIX}STACK_PORT_OFFSET": str(config.stack.port_offset)}


def _resolve_path(value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else (PROJECT_ROOT / path)


def _coerce(section: str, key: str, raw: Any, type_name: str) -> Any:
    """Convert a TOML or environment value to the field's declared type (annotations are strings here)."""
    try:
        if type_name.startswith("tuple["):
            items = raw if isinstance(raw, (list, tuple)) else [p for p in str(raw).split(",")]
            return tuple(str(i).strip() for i in items if str(i).strip())
        if type_name.startswith("dict["):
            if isinstance(raw, Mapping):
                return {str(k): str(v) for k, v in raw.items()}
            pairs = [p.split("=", 1) for p in str(raw).split(",") if p.strip()]
            if any(len(p) != 2 for p in pairs):
                raise ValueError(raw)
            return {k.strip(): v.strip() for k, v in pairs}
        if type_name == "bool":
            if isinstance(raw, bool):
                return raw
            lowered = str(raw).strip().lower()
            if lowered in {"1", "true", "yes", "on"}:
                return True
            if lowered in {"0", "false", "no", "off"}:
                return False
            raise ValueError(raw)
        if type_name in ("int", "float"):
            if isinstance(raw, (list, dict)):
                raise ValueError(raw)
            if isinstance(raw, bool):
                raise ValueError(raw)
            return int(raw) if type_name == "int" else float(raw)
        return None if raw is None else str(raw)
    except (TypeError, ValueError):
        raise ConfigError(
            f"[{section}] {key} = {raw!r} is not a valid {type_name}; "
            f"fix it in the config file or in ${ENV_PREFIX}{section.upper()}_{key.upper()}"
        ) from None


def _build_section(name: str, cls: type, values: Mapping[str, Any], env: Mapping[str, str]) -> Any:
    known = {f.name: f for f in dataclasses.fields(cls)}
    for (section, old), new in _RENAMED.items():
        old_env = f"{ENV_PREFIX}{section.upper()}_{old.upper()}"
        if section == name and (old in values or old_env in env):
            raise ConfigError(f"[{name}] {old} (or {old_env}) was renamed to {new} "
                              f"({ENV_PREFIX}{section.upper()}_{new.upper()}): set that instead")
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(
            f"unknown key(s) {', '.join(unknown)} in section [{name}]; "
            f"valid keys are: {', '.join(known)}"
        )
    merged: dict[str, Any] = {}
    for key, fld in known.items():
        env_name = f"{ENV_PREFIX}{name.upper()}_{key.upper()}"
        if env_name in env:
            merged[key] = _coerce(name, key, env[env_name], fld.type)
        elif key in values:
            merged[key] = _coerce(name, key, values[key], fld.type)
    return cls(**merged)


def load_config(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Read the config file and environment once; everything downstream gets the result."""
    env = os.environ if env is None else env
    chosen = path or env.get(f"{ENV_PREFIX}CONFIG")
    file_path = Path(chosen) if chosen else DEFAULT_CONFIG_FILE
    data: dict[str, Any] = {}
    if file_path.exists():
        try:
            data = tomllib.loads(file_path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file_path} is not valid TOML: {exc}") from None
    elif chosen:
        raise ConfigError(f"config file {file_path} does not exist; pass an existing file or unset CDC_OLAP_CONFIG")

    sections = {f.name: f for f in dataclasses.fields(Config)}
    unknown = sorted(set(data) - set(sections))
    if unknown:
        raise ConfigError(
            f"unknown section(s) [{'], ['.join(unknown)}] in {file_path}; valid sections are: {', '.join(sections)}"
        )
    built = {}
    for name, fld in sections.items():
        section_cls = fld.default_factory  # type: ignore[misc]
        built[name] = _build_section(name, section_cls, data.get(name, {}), env)
    config = _apply_port_offset(Config(**built))
    config = with_local_secrets(config, read_local_secrets(config.run_dir / SECRETS_FILE))
    _validate(config)
    return config


def read_local_secrets(path: Path) -> dict[str, str]:
    """The local stack's generated credentials, if it has any yet. Only read: writing them is the
    stack's job (`cdc-olap up`), so loading configuration never changes anything on disk."""
    if not path.exists():
        return {}
    values = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def managed_secrets(config: Config) -> list[str]:
    """Names (of LOCAL_SECRETS) this config leaves to the local stack: unset, in a managed section.
    The mask key belongs to the managed Postgres: a DBA-run database brings its own."""
    managed = {"postgres": config.postgres.managed, "superset": config.superset.managed,
               "cdc": config.postgres.managed and bool(config.cdc.mask)}
    return [name for name, (section, key) in LOCAL_SECRETS.items()
            if managed[section] and getattr(getattr(config, section), key) is None]


def with_local_secrets(config: Config, values: Mapping[str, str]) -> Config:
    """Fill what the local stack generates, never overriding a value set in the file or environment."""
    changes: dict[str, dict[str, str]] = {}
    for name in managed_secrets(config):
        if values.get(name):
            section, key = LOCAL_SECRETS[name]
            changes.setdefault(section, {})[key] = values[name]
    return dataclasses.replace(config, **{section: dataclasses.replace(getattr(config, section), **fields)
                                          for section, fields in changes.items()})


_PORT_FIELDS = {
    "postgres": ("port",),
    "kafka": ("port", "controller_port"),
    "druid": ("coordinator_port", "broker_port", "historical_port", "indexer_port", "zookeeper_port", "metadata_port"),
    "superset": ("port",),
    "redis": ("port",),
    "aws": ("port",),
    "smtp": ("port",),
    "cdc": ("metrics_port",),
}


def _apply_port_offset(config: Config) -> Config:
    """Shift the ports of managed services only; an external endpoint's port is what it is."""
    offset = config.stack.port_offset
    if not offset:
        return config
    changes = {}
    for section, names in _PORT_FIELDS.items():
        part = getattr(config, section)
        if getattr(part, "managed", True):
            changes[section] = dataclasses.replace(part, **{n: getattr(part, n) + offset for n in names})
    return dataclasses.replace(config, **changes)


def _validate(config: Config) -> None:
    if config.flink.mode not in {"local", "remote"}:
        raise ConfigError(f"[flink] mode = {config.flink.mode!r}: use 'local' or 'remote'")
    if config.flink.mode == "remote" and not config.flink.rest_url:
        raise ConfigError("[flink] mode = 'remote' needs rest_url (the JobManager's REST address)")
    if config.flink.mode == "remote" and "://" not in config.flink.checkpoint_dir:
        raise ConfigError("[flink] mode = 'remote' needs checkpoint_dir on storage the cluster shares "
                          "(s3://bucket/path, hdfs://...), not a path on this machine")
    flink = config.flink
    if flink.alerts_delivery not in {"at-least-once", "exactly-once"}:
        raise ConfigError(f"[flink] alerts_delivery = {flink.alerts_delivery!r}: use 'at-least-once' or 'exactly-once'")
    if flink.state_backend not in {"rocksdb", "hashmap"}:
        raise ConfigError(f"[flink] state_backend = {flink.state_backend!r}: use 'rocksdb' or 'hashmap'")
    for name in ("checkpoint_interval_ms", "fraud_checkpoint_interval_ms"):
        if getattr(flink, name) < 100:
            raise ConfigError(f"[flink] {name} = {getattr(flink, name)}: use 100 or more")
    if flink.windows_dedupe_ttl_h < 1:
        raise ConfigError(f"[flink] windows_dedupe_ttl_h = {flink.windows_dedupe_ttl_h}: use 1 or more (hours)")
    cdc = config.cdc
    if cdc.snapshot_mode not in {"initial", "never", "when_needed"}:
        raise ConfigError(f"[cdc] snapshot_mode = {cdc.snapshot_mode!r}: use 'initial', 'never' or 'when_needed'")
    if cdc.mask_key is not None and len(cdc.mask_key) < MASK_KEY_MIN_CHARS:
        raise ConfigError(f"[cdc] mask_key has {len(cdc.mask_key)} characters; use a random secret of at least "
                          f"{MASK_KEY_MIN_CHARS} (python3 -c 'import secrets; print(secrets.token_urlsafe(32))')")
    bad = {k: v for k, v in cdc.mask.items() if v not in {"hash", "redact"} or k.count(".") not in (1, 2)}
    if bad:
        raise ConfigError(f"[cdc] mask entries {bad}: keys are 'table.column' (or 'schema.table.column'), "
                          "values 'hash' or 'redact'")
    if cdc.partitions < 1:
        raise ConfigError(f"[cdc] partitions = {cdc.partitions}: use 1 or more")
    if cdc.watermark_interval_ms < 0:
        raise ConfigError(f"[cdc] watermark_interval_ms = {cdc.watermark_interval_ms}: use 0 (off) or more")
    if cdc.delivery not in {"exactly-once", "at-least-once"}:
        raise ConfigError(f"[cdc] delivery = {cdc.delivery!r}: use 'exactly-once' (Kafka transactions) or "
                          "'at-least-once' (clusters without transactions)")
    if cdc.on_rejected not in {"stop", "dead-letter"}:
        raise ConfigError(f"[cdc] on_rejected = {cdc.on_rejected!r}: use 'stop' or 'dead-letter'")
    bad_names = [t for t in cdc.signed_tables if not re.fullmatch(r"[A-Za-z0-9_-]+", t)]
    if bad_names:
        raise ConfigError(f"[cdc] signed_tables names {', '.join(map(repr, bad_names))}: use plain table names "
                          "without their schema, like watermark_tables (letters, digits, _ and -: each names the "
                          "topic <topic_prefix>.facts.<table>)")
    for name, low in (("transaction_interval_ms", 0), ("transaction_max_events", 1), ("transaction_timeout_ms", 1000),
                      ("max_message_bytes", 1000), ("retention_ms", -1)):
        if getattr(cdc, name) < low:
            raise ConfigError(f"[cdc] {name} = {getattr(cdc, name)}: use {low} or more")
    kafka = config.kafka
    if kafka.replication_factor < 1 or not 1 <= kafka.min_insync_replicas <= kafka.replication_factor:
        raise ConfigError(f"[kafka] replication_factor = {kafka.replication_factor}, min_insync_replicas = "
                          f"{kafka.min_insync_replicas}: need 1 <= min_insync_replicas <= replication_factor")
    if config.stack.port_offset < 0 or config.stack.port_offset > 20000:
        raise ConfigError(f"[stack] port_offset = {config.stack.port_offset}: choose 0..20000")
