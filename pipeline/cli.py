"""`cdc-olap` command line. Parses arguments, loads config once, hands it to the component."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict

from pipeline import log, reachability
from pipeline.argtypes import FRACTION, NON_NEGATIVE_INT, POSITIVE, POSITIVE_INT, non_empty, number, timestamp
from pipeline.config import ConfigError, load_config
from pipeline.stack.errors import StackError
from flink_jobs.fraud.rules import RulesError
from flink_jobs.health.weights import WeightsError
from pipeline.backfill.errors import BackfillError
from pipeline.druid.client import DruidError
from pipeline.druid.specs import SpecError

_log = log.get("cli")


def _cmd_install(args, config) -> None:
    from pipeline.stack.install.plan import install_all

    install_all(config)


def _cmd_up(args, config) -> None:
    from pipeline.stack import secrets, stack
    from pipeline.stack.install.plan import install_all

    started = time.monotonic()
    config = secrets.ensure(config)
    if not args.no_install:
        install_all(config)
    supervisor = stack.build(config)
    timings = supervisor.up(only=set(args.only.split(",")) if args.only else None)
    from pipeline.sor import reporting, schema

    schema.apply(config.postgres)
    reporting.apply(config.postgres)
    if config.druid.apply_in_up and not args.only:  # with --only, `cdc-olap druid apply` when ready
        from pipeline.druid import apply_all

        applied = apply_all(config, print, skip_missing_topics=True)
        _log.info("druid.applied", datasources=",".join(applied) or "-")
    _log.info("stack.up", seconds=round(time.monotonic() - started, 1),
              healthy_after=",".join(f"{k}:{v}s" for k, v in timings.items()))
    _print_status(supervisor.status())
    print(f"""
Superset   {config.superset.base_url}  (user {config.superset.admin_user}, password: superset_admin_password in {config.run_dir / 'secrets.env'})
Druid SQL  {config.druid.broker}/druid/v2/sql/
Kafka      {config.kafka.bootstrap}
Postgres   {config.postgres.host}:{config.postgres.port}/{config.postgres.database} (user {config.postgres.user})
Mail sink  {config.run_dir / 'data' / 'mail'}
Stop with: ./cdc-olap down""")


def _cmd_down(args, config) -> None:
    from pipeline.stack import stack

    supervisor = stack.build(config)
    stopped = supervisor.down()
    print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")
    if args.purge:
        supervisor.layout.purge()
        print(f"removed {config.run_dir}")


def _cmd_status(args, config) -> None:
    from pipeline.stack import stack

    rows = stack.build(config).status()
    datasources = _datasource_status(config, rows)
    if args.json:
        print(json.dumps({"services": [asdict(r) for r in rows],
                          "datasources": [d.as_dict() for d in datasources or ()]}, indent=2))
    else:
        _print_status(rows)
        if datasources:
            print()
            _print_datasources(datasources)
    if any(not r.state.endswith("up") for r in rows) or any(d.failing for d in datasources or ()):
        sys.exit(1)


def _datasource_status(config, rows):
    """The Druid datasources' lines, when Druid's coordinator and broker are up (None otherwise)."""
    from pipeline.druid import load_specs
    from pipeline.druid.client import Druid
    from pipeline.druid.status import status

    up = {r.name for r in rows if r.state.endswith("up")}
    if config.druid.managed and not {"druid-coordinator", "druid-broker"} <= up:
        return None
    try:
        return status(Druid(config.druid), load_specs(config), config.druid.datasource_prefix)
    except DruidError as exc:
        _log.warning("druid.status_unavailable", error=str(exc))
        return None


def _print_datasources(rows) -> None:
    header = f"{'datasource':<20} {'state':<18} {'lag':>8} {'rows':>11} {'freshness':>10}  newest / detail"
    print(header)
    print("-" * len(header))
    for r in rows:
        fresh = f"{r.freshness_s:.1f} s" if r.freshness_s is not None else "-"
        print(f"{r.name:<20} {r.state:<18} {r.lag if r.lag is not None else '-':>8} "
              f"{r.rows if r.rows is not None else '-':>11} {fresh:>10}  {r.newest or '-'}; {r.detail[:80]}")


def _print_status(rows) -> None:
    header = f"{'service':<20} {'state':<13} {'pid':>7} {'port':>6} {'rss MiB':>8}  detail"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r.name:<20} {r.state:<13} {r.pid or '-':>7} {r.port or '-':>6} "
              f"{r.rss_mib if r.rss_mib is not None else '-':>8}  {r.detail[:90]}")
    total = sum(r.rss_mib or 0 for r in rows)
    print(f"{'total':<20} {'':<13} {'':>7} {'':>6} {total:>8.0f}")


def _cmd_logs(args, config) -> None:
    from pipeline.stack.layout import Layout

    layout = Layout.from_config(config)
    path = layout.log_file(args.service)
    if not path.exists():
        known = sorted(p.stem for p in layout.logs.glob("*.log"))
        raise StackError(f"no log for {args.service!r} in {layout.logs}; known: {', '.join(known) or 'none yet'}")
    argv = ["tail", "-n", str(args.lines), *(["-F"] if args.follow else []), str(path)]
    subprocess.run(argv, check=False)


def _cmd_bench_stack(args, config) -> None:
    from pipeline.bench import stack as bench_stack
    from pipeline.stack import secrets

    config = secrets.ensure(config)

    result = bench_stack.run(config, settle_s=args.settle, keep_running=args.keep_running)
    print(bench_stack.report(result))
    if args.save:
        json_path, svg_path = bench_stack.save(result, args.label)
        print(f"saved {json_path} and {svg_path}")


def _cmd_bench_cdc(args, config) -> None:
    from pipeline.bench import cdc as bench_cdc
    from pipeline.stack import secrets

    config = secrets.ensure(config)

    result = bench_cdc.run(config, rows=args.rows, updates=args.updates, rate=args.rate, seconds=args.seconds,
                           debezium=not args.no_debezium)
    print(bench_cdc.report(result))
    if args.save:
        print("saved " + ", ".join(str(p) for p in bench_cdc.save(result, args.label)))


def _cmd_bench_fraud(args, config) -> None:
    from pipeline.bench import fraud as bench_fraud

    # A stack of its own, so the demo's data and pages do not mix in.
    bench = bench_fraud.bench_config(dict(os.environ))
    result = bench_fraud.run(bench, seconds=args.seconds, tps=args.tps, fraud_rate=args.fraud_rate,
                             warmup_s=args.warmup, keep_running=args.keep_running)
    print(bench_fraud.report(result))
    if args.save:
        print("saved " + ", ".join(str(p) for p in bench_fraud.save(result, args.label)))


def _cmd_bench_flink(args, config) -> None:
    from pipeline.bench import flink as bench_flink

    # A stack of its own with only Kafka: preloaded topics, one job at a time.
    bench = bench_flink.bench_config(dict(os.environ), args.checkpoint_interval_ms)
    jobs = bench_flink.JOBS if args.job == "all" else (args.job,)
    result = bench_flink.run(bench, jobs, events=args.events, seed=args.seed, keep_running=args.keep_running)
    print(bench_flink.report(result))
    if args.save:
        print("saved " + ", ".join(str(p) for p in bench_flink.save(result)))


def _cmd_bench_druid(args, config) -> None:
    from pipeline.bench import druid as bench

    config = bench.bench_config(dict(os.environ))
    result = bench.run(config, seconds=args.seconds, tps=args.tps, warmup_s=args.warmup, flink=not args.no_flink,
                       keep_running=args.keep_running)
    _print_and_save(bench, result, args)


def _cmd_bench_queries(args, config) -> None:
    from pipeline.bench import queries as bench

    config = bench.bench_config(dict(os.environ), reuse=args.reuse)
    result = bench.run(config, payments=args.payments, months=args.months, clients=tuple(args.clients),
                       seconds=args.seconds, concurrency=args.concurrency, reuse=args.reuse,
                       keep_running=args.keep_running)
    _print_and_save(bench, result, args)


def _print_and_save(bench, result: dict, args) -> None:
    """A benchmark module's report, and with --save its files under the --label."""
    print(bench.report(result))
    if args.save:
        for path in bench.save(result, args.label):
            print(f"saved {path}")


def _cmd_workload(args, config) -> None:
    from pipeline.workload.generator import WorkloadSpec, run

    if args.history_months > 0:
        from pipeline.workload.history import HistorySpec
        from pipeline.workload.history_load import load_if_absent

        load_if_absent(config.postgres, HistorySpec(args.history_months, args.history_payments_per_day, args.seed),
                       customers=args.customers)
    spec = WorkloadSpec(tps=args.tps, duration_s=args.duration, seed=args.seed, writers=args.writers,
                        fraud_rate=args.fraud_rate, customers=args.customers, daily_shape=not args.flat,
                        batch=args.batch)
    stats = run(config.postgres, spec)
    print(f"{stats.payments} payments in {stats.elapsed_s:.1f} s = {stats.payments_per_s:.0f}/s; "
          f"{stats.logins} logins, {stats.reversed} reversals, {stats.disputes} disputes; "
          f"injected: {dict(stats.scenarios) or 'none'}")


def _cmd_cdc(args, config) -> None:
    from pipeline.cdc.runner import run

    sys.exit(run(config))


def _cmd_history(args, config) -> None:
    from pipeline.workload.history import HistorySpec
    from pipeline.workload.history_load import HistoryPresent, load

    try:
        result = load(config.postgres, HistorySpec(args.months, args.payments_per_day, args.seed),
                      customers=args.customers)
    except HistoryPresent as exc:
        print(f"history not loaded: {exc}", file=sys.stderr)
        sys.exit(1)
    print(f"{result.total_rows} rows ({', '.join(f'{k} {v}' for k, v in result.rows.items())}) from "
          f"{result.starts_at:%Y-%m-%d} to {result.ends_at:%Y-%m-%d} in {result.seconds:.1f} s "
          f"= {result.rows_per_s:,.0f} rows/s")


def _cmd_history_export(args, config) -> None:
    from pipeline.backfill.export import export

    from pipeline.cdc.pgoutput import format_lsn

    result = export(config.postgres, config.aws, bucket=args.bucket or config.aws.s3_bucket, prefix=args.prefix,
                    partition=args.partition, until=args.until, file_format=args.format)
    upto = f"as of LSN {format_lsn(result.cutover_lsn)} (cutover_lsn {result.cutover_lsn})" \
        if result.cutover_lsn is not None else f"up to {result.until.isoformat()}"
    print(f"{sum(result.rows.values())} rows ({', '.join(f'{k} {v}' for k, v in result.rows.items())}) {upto} "
          f"in {len(result.files)} {result.format} files under s3://{result.bucket}/{result.prefix}/ "
          f"in {result.seconds:.1f} s = {result.rows_per_s:,.0f} rows/s")


def _cmd_reporting_refresh(args, config) -> None:
    from pipeline.sor import reporting

    for view, seconds in reporting.refresh(config.postgres).items():
        print(f"{view:<40} refreshed in {seconds:.3f} s")


def _cmd_flink_run(args, config) -> None:
    from flink_jobs import runner
    from flink_jobs.cluster import ClusterError
    from flink_jobs.startup import VersionChanged

    try:
        runner.run(config, args.job, restore=args.restore)
    except (VersionChanged, ClusterError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


def _cmd_flink_rules(args, config) -> None:
    from pathlib import Path

    from flink_jobs.fraud import rules

    path = Path(args.file) if args.file else config.rules_file
    for rule in rules.load(path):
        print(f"{rule.id:<28} {rule.pattern:<28} {rule.severity:<9} {'enabled' if rule.enabled else 'disabled'}")


def _cmd_alerts_dispatch(args, config) -> None:
    from pipeline.alerts.dispatcher import run

    run(config)


def _druid(config):
    from pipeline.druid import inputs, load_specs
    from pipeline.druid.client import Druid

    return Druid(config.druid), load_specs(config), inputs.placeholders(config)


def _cmd_druid_diff(args, config) -> None:
    from pipeline.druid import apply

    druid, specs, values = _druid(config)
    changes = apply.plan(druid, specs, values, config.druid.datasource_prefix)
    for change in changes:
        print(f"{change.name}: {change.action}")
        if change.diff and not args.quiet:
            print(change.diff)
    if any(c.pending for c in changes):
        sys.exit(1)


def _cmd_druid_apply(args, config) -> None:
    from pipeline.druid import apply_all

    changed = apply_all(config, print)
    print(f"applied: {', '.join(changed)}" if changed else "nothing to apply: every supervisor matches its spec")


def _cmd_druid_status(args, config) -> None:
    from pipeline.druid.status import status

    druid, specs, _ = _druid(config)
    rows = status(druid, specs, config.druid.datasource_prefix)
    if args.json:
        print(json.dumps([r.as_dict() for r in rows], indent=2))
    else:
        _print_datasources(rows)
    if any(not r.healthy for r in rows):
        sys.exit(1)


def _cmd_druid_lookups(args, config) -> None:
    from pipeline.druid import lookup_sync

    sync = lookup_sync(config)
    pushed = sync.once()
    _log.info("druid.lookups_synced", lookups=len(sync.specs), pushed=",".join(f"{k}:{v}" for k, v in pushed.items()))
    if args.follow:
        sync.follow(args.interval)


def _cmd_druid_reset(args, config) -> None:
    from pipeline.druid import specs as spec_files
    from pipeline.druid.reset import reset

    druid, specs, values = _druid(config)
    spec = spec_files.by_name(specs, args.datasource)
    if not args.yes:
        raise spec_files.SpecError(f"reset drops every row of {spec.datasource(config.druid.datasource_prefix)} and reads {spec.topic(values)} again; "
                                   f"add --yes to do it")
    reset(druid, spec.datasource(config.druid.datasource_prefix), spec.topic(values), config.kafka.bootstrap,
          accept_loss=args.accept_loss)


def _cmd_druid_backfill(args, config) -> None:
    from pipeline.druid.backfill import Options, backfill

    result = backfill(config, args.datasource, args.bucket or config.aws.s3_bucket, args.prefix,
                      Options(concurrency=args.concurrency, task_timeout_s=args.task_timeout))
    skipped = f", {len(result.skipped)} loaded before" if result.skipped else ""
    print(f"{result.datasource}: {result.rows} history rows in {len(result.loaded)} months{skipped}, "
          f"{result.rows_per_s:,.0f} rows/s; the stream adds the facts from LSN {result.cutover_lsn} on "
          f"({result.seconds:.1f} s)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cdc-olap", description="CDC analytics platform: local stack and jobs")
    parser.add_argument("--config", help="config file (default: cdc-olap.toml at the project root)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("install", help="install/download everything the managed services need (idempotent)")
    p.set_defaults(func=_cmd_install)

    p = sub.add_parser("up", help="install what is missing and start the whole local stack")
    p.add_argument("--no-install", action="store_true", help="skip the install step")
    p.add_argument("--only", help="comma-separated services to start (plus what they need), e.g. postgres,kafka")
    p.set_defaults(func=_cmd_up)

    p = sub.add_parser("down", help="stop every process this stack started")
    p.add_argument("--purge", action="store_true", help="also delete the run dir (data, logs, secrets)")
    p.set_defaults(func=_cmd_down)

    p = sub.add_parser("status", help="health, pid, port and memory of every stage; exit 1 if any is unhealthy")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_status)

    p = sub.add_parser("logs", help="show a service's log")
    p.add_argument("service")
    p.add_argument("-n", "--lines", type=POSITIVE_INT, default=50)
    p.add_argument("-f", "--follow", action="store_true")
    p.set_defaults(func=_cmd_logs)

    p = sub.add_parser("workload", help="write realistic fintech traffic with labelled fraud into the system of record")
    p.add_argument("--tps", type=POSITIVE, default=200.0, help="target payments per second (before the daily shape)")
    p.add_argument("--duration", type=POSITIVE, default=60.0, help="seconds to run")
    p.add_argument("--seed", type=int, default=1, help="same seed, same operations")
    p.add_argument("--writers", type=POSITIVE_INT, default=2, help="writer processes (each with its own connection)")
    p.add_argument("--fraud-rate", type=FRACTION, default=0.002, help="chance an operation starts a fraud scenario")
    p.add_argument("--customers", type=POSITIVE_INT, default=2000, help="customers to seed on first run")
    p.add_argument("--flat", action="store_true", help="ignore the daily traffic shape")
    p.add_argument("--batch", type=POSITIVE_INT, default=64,
                   help="most due steps sent per pipeline round trip (1 = a round trip per step)")
    p.add_argument("--history-months", type=NON_NEGATIVE_INT, default=0,
                   help="first load this many months of back history if the database has none (the demo does)")
    p.add_argument("--history-payments-per-day", type=POSITIVE_INT, default=1000)
    p.set_defaults(func=_cmd_workload, needs=("postgres",))

    p = sub.add_parser("cdc", help="run the CDC reader: Postgres logical replication -> Kafka (until stopped)")
    p.set_defaults(func=_cmd_cdc, needs=("postgres", "kafka"))

    p = sub.add_parser("history", help="load months of back history with COPY (once per database); `export` to S3")
    p.add_argument("--months", type=POSITIVE_INT, default=14, help="months of history, ending at today 00:00 UTC")
    p.add_argument("--payments-per-day", type=POSITIVE_INT, default=300, help="payments on an average weekday")
    p.add_argument("--seed", type=int, default=1, help="same seed, same history (on the same seeded database)")
    p.add_argument("--customers", type=POSITIVE_INT, default=2000, help="customers to seed if the database is empty")
    p.set_defaults(func=_cmd_history, needs=("postgres",))
    history_sub = p.add_subparsers(dest="history", required=False)
    p = history_sub.add_parser("export", help="the tables as files on S3 (month/day partitions): Parquet, or JSON "
                                              "signed facts for `cdc-olap druid backfill`")
    p.add_argument("--bucket", help="default: [aws] s3_bucket")
    p.add_argument("--prefix", type=non_empty, default="backfill", help="key prefix; everything under it is replaced")
    p.add_argument("--partition", choices=("month", "day"), default="month", help="files per UTC month or day")
    p.add_argument("--format", choices=("parquet", "json"), default="parquet",
                   help="json: gzip'ed JSON lines in the signed facts' format, as of a replication slot's "
                        "consistent point (the manifest's cutover_lsn), for `cdc-olap druid backfill`")
    p.add_argument("--until", type=timestamp, help="parquet only: cut-off (ISO 8601 with offset); default: the "
                                                   "export's snapshot time")
    p.set_defaults(func=_cmd_history_export, needs=("postgres", "aws"))

    p = sub.add_parser("reporting", help="the legacy reporting layer in Postgres")
    reporting_sub = p.add_subparsers(dest="reporting", required=True)
    p = reporting_sub.add_parser("refresh", help="refresh the reporting schema's views (the old nightly ETL)")
    p.set_defaults(func=_cmd_reporting_refresh, needs=("postgres",))

    p = sub.add_parser("flink", help="the PyFlink jobs (windows, fraud, health) and the fraud rules file")
    flink_sub = p.add_subparsers(dest="flink", required=True)
    p = flink_sub.add_parser("run", help="run a job: locally until stopped, or submitted to [flink] rest_url")
    p.add_argument("job", choices=("windows", "fraud", "health"))
    p.add_argument("--restore", default="auto",
                   help="'auto' (newest retained checkpoint of this version of the job; refuses when only an "
                        "earlier SQL's exist), 'none' (afresh, earliest offsets), or a checkpoint path")
    p.set_defaults(func=_cmd_flink_run, needs=("kafka", "flink"))
    p = flink_sub.add_parser("rules", help="validate the fraud rules file and list its rules")
    p.add_argument("file", nargs="?", help="default: [flink] rules_file")
    p.set_defaults(func=_cmd_flink_rules)

    p = sub.add_parser("alerts", help="fraud alert paging")
    alerts_sub = p.add_subparsers(dest="alerts", required=True)
    p = alerts_sub.add_parser("dispatch", help="page fraud alerts through SNS (deduplicated, rate-limited)")
    p.set_defaults(func=_cmd_alerts_dispatch, needs=("kafka", "aws"))

    p = sub.add_parser("druid", help="the Druid datasources: specs in druid_specs/ applied as Kafka supervisors")
    druid_sub = p.add_subparsers(dest="druid", required=True)
    p = druid_sub.add_parser("diff", help="what `apply` would change, as unified diffs; exit 1 when anything would")
    p.add_argument("--quiet", action="store_true", help="one line per datasource, no diff")
    p.set_defaults(func=_cmd_druid_diff, needs=("druid-coordinator",))
    p = druid_sub.add_parser("apply", help="check every spec, then create or update the supervisors that differ")
    p.set_defaults(func=_cmd_druid_apply, needs=("druid-coordinator", "kafka"))
    p = druid_sub.add_parser("status", help="per datasource: supervisor state, lag, rows, newest time, freshness")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_druid_status, needs=("druid-coordinator", "druid-broker"))
    p = druid_sub.add_parser("lookups", help="push the reference lookups (druid_specs/lookups/) from their topics")
    p.add_argument("--follow", action="store_true", help="keep them current: read changes and push every --interval")
    p.add_argument("--interval", type=POSITIVE, default=2.0, help="seconds between reads when following")
    p.set_defaults(func=_cmd_druid_lookups, needs=("druid-coordinator", "kafka"))
    p = druid_sub.add_parser("reset", help="drop a datasource's rows and re-read its topic from the earliest offset")
    p.add_argument("datasource")
    p.add_argument("--yes", action="store_true", help="really drop the rows")
    p.add_argument("--accept-loss", action="store_true",
                   help="reset even when retention already removed the topic's first records")
    p.set_defaults(func=_cmd_druid_reset, needs=("druid-coordinator", "kafka"))
    p = druid_sub.add_parser("backfill", help="load a datasource's history from a JSON history export on S3 and "
                                              "cut its stream over at the export's LSN (resumable)")
    p.add_argument("--datasource", default="transactions", help="a datasource fed by signed facts")
    p.add_argument("--bucket", help="default: [aws] s3_bucket")
    p.add_argument("--prefix", type=non_empty, default="backfill", help="the export's key prefix")
    p.add_argument("--concurrency", type=POSITIVE_INT, default=1,
                   help="maxNumConcurrentSubTasks of each month's task (1: the task reads alone, one slot)")
    p.add_argument("--task-timeout", type=POSITIVE, default=3600.0, help="seconds one month's task may take")
    p.set_defaults(func=_cmd_druid_backfill, needs=("druid-coordinator", "kafka", "aws"))

    p = sub.add_parser("bench", help="benchmarks that print (and optionally save) their figures")
    bench = p.add_subparsers(dest="bench", required=True)
    p = bench.add_parser("stack", help="time `up` (down first) and measure the idle stack's memory")
    p.add_argument("--settle", type=number(float, 0), default=60.0, help="seconds to wait before reading memory")
    _bench_output(p, "JSON + SVG timeline", label="warm", keep="the stack")
    p.set_defaults(func=_cmd_bench_stack)
    p = bench.add_parser("cdc", help="CDC throughput and commit-to-visible latency: ours exactly-once and at-least-once vs Debezium Server")
    p.add_argument("--rows", type=POSITIVE_INT, default=300_000, help="inserts in the throughput backlog")
    p.add_argument("--updates", type=NON_NEGATIVE_INT, default=150_000, help="updates in the throughput backlog")
    p.add_argument("--rate", type=POSITIVE_INT, default=5000, help="changes/s for the latency run")
    p.add_argument("--seconds", type=POSITIVE, default=20, help="length of the latency run")
    p.add_argument("--no-debezium", action="store_true", help="measure only our reader")
    _bench_output(p, "JSON + SVG charts", label="local")
    p.set_defaults(func=_cmd_bench_cdc)
    p = bench.add_parser("fraud", help="workload -> CDC -> Flink fraud job -> SNS: detection latency, precision, recall")
    p.add_argument("--seconds", type=POSITIVE, default=120, help="how long the labelled workload runs")
    p.add_argument("--tps", type=POSITIVE, default=100, help="payments per second")
    p.add_argument("--fraud-rate", type=FRACTION, default=0.01, help="chance per operation of starting a scenario")
    p.add_argument("--warmup", type=number(float, 0), default=20,
                   help="seconds of traffic without fraud before measuring")
    _bench_output(p, "JSON + SVG", label="local", keep="the bench stack")
    p.set_defaults(func=_cmd_bench_fraud)
    p = bench.add_parser("druid", help="Druid freshness: Postgres commit -> row visible in Druid SQL, under load "
                                        "(stack of its own)")
    p.add_argument("--seconds", type=POSITIVE, default=120.0, help="length of the measured load")
    p.add_argument("--tps", type=POSITIVE, default=1000.0, help="payments per second")
    p.add_argument("--warmup", type=POSITIVE, default=30.0, help="seconds of the same load before measuring")
    p.add_argument("--no-flink", action="store_true", help="only `transactions`: without the Flink jobs and the "
                                                          "datasources they feed")
    _bench_output(p, "JSON + SVG", label="local", keep="the bench stack")
    p.set_defaults(func=_cmd_bench_druid)
    p = bench.add_parser("queries", help="dashboard and report questions over millions of payments: Druid vs "
                                          "Postgres (tables, reporting views) vs DuckDB (stack of its own)")
    p.add_argument("--payments", type=POSITIVE_INT, default=10_000_000, help="payments of history")
    p.add_argument("--months", type=POSITIVE_INT, default=14, help="months the history spans, ending today")
    p.add_argument("--clients", type=POSITIVE_INT, nargs="+", default=[1, 16], help="concurrent clients per case")
    p.add_argument("--seconds", type=POSITIVE, default=10.0, help="each client asks again and again this long")
    p.add_argument("--concurrency", type=POSITIVE_INT, default=1,
                   help="the backfill's sub-tasks per month (above 1 its row counts go unchecked)")
    p.add_argument("--reuse", action="store_true", help="time the questions on the data a --keep-running run "
                                                        "loaded (skips the load, keeps the figures it saved)")
    _bench_output(p, "JSON + SVG", label="local", keep="the bench stack")
    p.set_defaults(func=_cmd_bench_queries)
    p = bench.add_parser("flink", help="events/s each Flink job consumes from preloaded CDC topics (stack of its own)")
    p.add_argument("--job", choices=("windows", "fraud", "health", "all"), default="all",
                   help="all: windows then fraud (health only on request)")
    p.add_argument("--events", type=POSITIVE_INT, help="changes preloaded for each job, of the tables it reads "
                                                "(default per job: a minute or two of it on two cores)")
    p.add_argument("--seed", type=int, default=1, help="same seed, same changes")
    p.add_argument("--checkpoint-interval-ms", type=number(int, 100),
                   help="the jobs' checkpoint interval, also how often they commit their progress (default 1000)")
    _bench_output(p, "JSON + SVG per job", keep="the bench stack's Kafka")
    p.set_defaults(func=_cmd_bench_flink)
    return parser


def _bench_output(p, what: str, label: str | None = None, keep: str | None = None) -> None:
    """The options every benchmark shares: saving its figures, naming them, keeping its stack."""
    if label is not None:
        p.add_argument("--label", default=label, help="name for the saved result")
    p.add_argument("--save", action="store_true", help=f"write {what} to bench/results/")
    if keep is not None:
        p.add_argument("--keep-running", action="store_true", help=f"leave {keep} up afterwards")


def main(argv: list[str] | None = None) -> None:
    # Arguments first: a bad value is refused before anything is read or contacted.
    args = build_parser().parse_args(argv)
    log.setup()
    if args.config:
        # Services the stack spawns (the demo workload) run this CLI too: hand them the same file.
        os.environ["CDC_OLAP_CONFIG"] = args.config
    config = None
    try:
        config = load_config(args.config)
        # The services the command declared it needs, before it starts anything of its own.
        reachability.require(config, getattr(args, "needs", ()))
        args.func(args, config)
    except (ConfigError, StackError, RulesError, WeightsError, DruidError, SpecError, BackfillError,
            reachability.Unreachable) as exc:
        _fail(exc)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        # A service that went away (or refused a login) after the command started: one line, not a traceback.
        unreachable = reachability.explain(exc, config) if config is not None else None
        if unreachable is None:
            raise
        _fail(unreachable)


def _fail(exc: Exception) -> None:
    print(f"error: {exc}", file=sys.stderr)
    sys.exit(2)
