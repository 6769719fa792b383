"""`cdc-olap cdc`: the reader as a long-running process.

Owns what a process needs around the reader: the metrics endpoint, SIGTERM
handling (flush, confirm, exit 0) and exit codes an operator can act on
(2: a CdcError that names the fix; 3: a change Kafka refuses for good, in
[cdc] on_rejected = "stop" mode: do not restart before the fix, see
rejections.py; 1: anything else). Restarting after any other exit, or after
kill -9, resumes from the slot without loss.
"""

from __future__ import annotations

import gc
import signal

from pipeline import log
from pipeline.cdc.catalog import CdcError
from pipeline.cdc.metrics import Metrics, serve
from pipeline.cdc import rejections
from pipeline.cdc.reader import Reader, Stopped
from pipeline.kafka.producer import Fenced
from pipeline.config import Config
from pipeline.kafka.producer import KafkaUnavailable

_log = log.get("cdc")


def run(config: Config, *, serve_metrics: bool = True) -> int:
    metrics = Metrics()
    server = serve(metrics, "127.0.0.1", config.cdc.metrics_port) if serve_metrics else None
    reader = Reader(config.cdc, config.postgres, config.kafka, config.run_dir / config.cdc.state_dir, metrics)

    def stop(signum, frame) -> None:
        _log.info("cdc.stopping", signal=signal.Signals(signum).name)
        reader.stop_event.set()

    # The hot path allocates short-lived, acyclic objects by the million (rows, envelopes); the cyclic
    # collector's frequent young-generation passes cost throughput and find nothing.
    gc.set_threshold(200_000, 50, 100)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        reader.run()
        return 0
    except Stopped:
        return 0
    except rejections.RecordRefused as exc:
        metrics.phase, metrics.error = "failed", str(exc)
        _log.error("cdc.record_refused", error=str(exc), exit_code=rejections.EXIT_CODE)
        reader.state.record_failure(str(exc), rejections.EXIT_CODE)
        return rejections.EXIT_CODE
    except (CdcError, KafkaUnavailable, Fenced) as exc:
        metrics.phase, metrics.error = "failed", str(exc)
        _log.error("cdc.failed", error=str(exc))
        return 2
    finally:
        reader.close()
        if server is not None:
            server.shutdown()
        _log.info("cdc.stopped", events=metrics.events, confirmed_lsn=metrics.snapshot_dict()["confirmed_lsn"])
