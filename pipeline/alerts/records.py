"""What the dispatcher reads, turned into alerts it can page: fraud alerts, and the CDC reader's dead letters.

A record that is not one of these (not JSON, a field missing) is a Malformed
error naming what is wrong; the dispatcher records it in the ledger's
`rejected` table with its topic, partition and offset, counts it in `status`,
and goes on. It is never paged as something it is not, never skipped without
a trace, and never crash-loops the dispatcher.
"""

from __future__ import annotations

import hashlib
import json
import time

# The fields every fraud alert carries (flink_jobs/fraud: ALERT_COLUMNS).
REQUIRED = ("alert_id", "rule_id", "severity", "account_id", "event_time", "detected_at")
DEAD_LETTER_RULE = "cdc_dead_letter"
PIPELINE_ACCOUNT = 0  # pages about the pipeline itself, not an account


class Malformed(ValueError):
    """The record is not an alert; the message says why."""


def fraud_alert(value: bytes | None) -> dict:
    if not value:
        raise Malformed("empty record")
    try:
        alert = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Malformed(f"not JSON: {exc}") from None
    if not isinstance(alert, dict):
        raise Malformed(f"a JSON {type(alert).__name__}, not an object")
    missing = [f for f in REQUIRED if alert.get(f) in (None, "")]
    if missing:
        raise Malformed(f"missing {', '.join(missing)}")
    if not isinstance(alert["account_id"], int):
        raise Malformed(f"account_id {alert['account_id']!r} is not an integer")
    return alert


def dead_letter_alert(value: bytes | None) -> dict:
    """A change Kafka refused (pipeline/cdc/rejections.py) as a critical page. Its id is stable per
    refused change, so the same letter written again (an aborted transaction re-read) pages once."""
    if not value:
        raise Malformed("empty dead letter")
    try:
        letter = json.loads(value)
        ident = f"{letter['topic']}|{letter['lsn']}|{json.dumps(letter['key'], sort_keys=True)}|{letter['op']}"
        seen_at = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(letter["ts_ms"] / 1000)) + "Z"
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise Malformed(f"not a dead letter: {exc!r}") from None
    evidence = {k: letter.get(k) for k in ("table", "key", "lsn_text", "op", "reason", "detail", "size_bytes",
                                            "topic", "value_sha256")}
    return {"alert_id": "dlq-" + hashlib.sha256(ident.encode()).hexdigest()[:24], "rule_id": DEAD_LETTER_RULE,
            "severity": "critical", "account_id": PIPELINE_ACCOUNT, "event_time": seen_at, "detected_at": seen_at,
            "evidence": evidence}
