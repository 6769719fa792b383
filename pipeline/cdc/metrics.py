"""The reader's counters, served as Prometheus text on /metrics and as JSON on /health.

`status` and the stack's health check read /health; Prometheus scrapes
/metrics. Lag is reported two ways: bytes of WAL the slot still holds back
(server WAL position minus the confirmed LSN) and seconds since the oldest
transaction not yet acknowledged by Kafka committed (0 when nothing waits).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

from pipeline.cdc.pgoutput import format_lsn


@dataclass
class Metrics:
    phase: str = "starting"  # starting | snapshot | streaming | waiting_for_kafka | stopped | failed
    events: int = 0
    facts: int = 0  # signed facts sent for the tables in [cdc] signed_tables (facts.py)
    bytes: int = 0
    transactions: int = 0
    snapshot_rows: int = 0
    watermarks: int = 0  # rounds of watermark records (one per partition of every table topic)
    received_lsn: int = 0
    confirmed_lsn: int = 0
    server_lsn: int = 0
    last_commit_us: int = 0  # commit time of the newest transaction received
    last_event_at: float = 0.0  # wall time the newest event was produced
    oldest_unacked_commit_us: Callable[[], int | None] = field(default=lambda: None, repr=False)
    started_at: float = field(default_factory=time.time)
    error: str = ""
    fence: str = ""  # id of the newest fence message whose transaction Kafka acknowledged
    delivery: str = "exactly-once"  # [cdc] delivery in force
    rewinds: int = 0  # Kafka transactions aborted and read again from the slot
    skipped_transactions: int = 0  # resent by Postgres after a restart, already in Kafka
    rejected: int = 0  # records Kafka refused for good
    dead_letters: int = 0  # of those, written to the dead-letter topic
    kafka_commits: Callable[[], tuple[int, float]] = field(default=lambda: (0, 0.0), repr=False)  # (count, seconds)

    def lag_bytes(self) -> int:
        return max(0, max(self.server_lsn, self.received_lsn) - self.confirmed_lsn)

    def lag_seconds(self) -> float:
        oldest = self.oldest_unacked_commit_us()
        return max(0.0, time.time() - oldest / 1e6) if oldest else 0.0

    def snapshot_dict(self) -> dict:
        return {
            "phase": self.phase, "events": self.events, "facts": self.facts, "bytes": self.bytes,
            "transactions": self.transactions,
            "watermarks": self.watermarks,
            "snapshot_rows": self.snapshot_rows, "received_lsn": format_lsn(self.received_lsn),
            "confirmed_lsn": format_lsn(self.confirmed_lsn), "server_lsn": format_lsn(self.server_lsn),
            "lag_bytes": self.lag_bytes(), "lag_seconds": round(self.lag_seconds(), 3),
            "last_event_at": self.last_event_at, "uptime_s": round(time.time() - self.started_at, 1),
            "error": self.error, "fence": self.fence, "delivery": self.delivery, "rewinds": self.rewinds,
            "skipped_transactions": self.skipped_transactions, "rejected": self.rejected,
            "dead_letters": self.dead_letters, "kafka_commits": self.kafka_commits()[0],
            "kafka_commit_seconds": round(self.kafka_commits()[1], 3),
        }

    def prometheus(self) -> str:
        lines = []

        def metric(name: str, kind: str, help_text: str, value: float) -> None:
            lines.extend((f"# HELP cdc_{name} {help_text}", f"# TYPE cdc_{name} {kind}", f"cdc_{name} {value}"))

        metric("events_total", "counter", "Change events produced to Kafka.", self.events)
        metric("facts_total", "counter", "Signed facts produced (signed_tables).", self.facts)
        metric("bytes_total", "counter", "Bytes of change events produced.", self.bytes)
        metric("transactions_total", "counter", "Source transactions streamed.", self.transactions)
        metric("snapshot_rows_total", "counter", "Rows emitted by the initial snapshot.", self.snapshot_rows)
        metric("watermark_rounds_total", "counter", "Rounds of watermark records sent.", self.watermarks)
        metric("lag_bytes", "gauge", "WAL bytes not yet confirmed to the slot.", self.lag_bytes())
        metric("lag_seconds", "gauge", "Age of the oldest transaction Kafka has not acknowledged.",
               round(self.lag_seconds(), 3))
        metric("last_event_timestamp_seconds", "gauge", "When the newest event was produced.", self.last_event_at)
        metric("confirmed_lsn", "gauge", "LSN confirmed to Postgres.", self.confirmed_lsn)
        metric("rewinds_total", "counter", "Kafka transactions aborted and read again from the slot.", self.rewinds)
        metric("skipped_transactions_total", "counter", "Resent transactions Kafka already held.",
               self.skipped_transactions)
        metric("rejected_total", "counter", "Change events Kafka refused for good.", self.rejected)
        metric("dead_letters_total", "counter", "Refused events written to the dead-letter topic.", self.dead_letters)
        commits, commit_s = self.kafka_commits()
        metric("kafka_commits_total", "counter", "Kafka transactions committed (exactly-once).", commits)
        metric("kafka_commit_seconds_total", "counter", "Time the reader spent committing Kafka transactions.",
               round(commit_s, 3))
        lines.append(f'cdc_delivery{{mode="{self.delivery}"}} 1')
        lines.append(f'cdc_up{{phase="{self.phase}"}} 1')
        return "\n".join(lines) + "\n"


def serve(metrics: Metrics, host: str, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            if self.path.startswith("/metrics"):
                body, ctype = metrics.prometheus().encode(), "text/plain; version=0.0.4"
            elif self.path.startswith("/health"):
                body, ctype = json.dumps(metrics.snapshot_dict()).encode(), "application/json"
            else:
                self.send_error(404, "try /metrics or /health")
                return
            status = 503 if metrics.phase == "failed" else 200
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="cdc-metrics", daemon=True).start()
    return server
