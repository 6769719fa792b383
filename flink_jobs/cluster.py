"""A remote Flink cluster's JobManager, through its REST API: which jobs run, and their checkpoints.

In remote mode `flink run` (and so `up`) asks before it submits: a streaming
job submitted twice would run twice, two exactly-once sinks with one
transactional id fencing each other. And the JobManager, not a directory
listing, knows the checkpoints of the jobs it ran wherever they are stored
(s3://, hdfs://).
"""

from __future__ import annotations

from dataclasses import dataclass

import requests

# States in which a job is, or is about to be, running: submitting another copy would run it twice.
# (FAILING/CANCELLING end soon, but until they have, the old job's sink may still write.)
ACTIVE_STATES = frozenset({"CREATED", "INITIALIZING", "RUNNING", "RESTARTING", "RECONCILING", "FAILING",
                           "CANCELLING", "SUSPENDED"})


class ClusterError(RuntimeError):
    """The JobManager did not answer, or answered something unexpected; the message says what."""


@dataclass(frozen=True)
class ClusterJob:
    job_id: str
    name: str
    state: str
    start_time_ms: int

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES


@dataclass(frozen=True)
class CompletedCheckpoint:
    external_path: str
    completed_at: float  # Unix seconds


class JobManager:
    def __init__(self, rest_url: str, timeout_s: float = 10.0) -> None:
        self.url = rest_url.rstrip("/")
        self.timeout_s = timeout_s

    def _get(self, path: str) -> dict:
        try:
            response = requests.get(f"{self.url}{path}", timeout=self.timeout_s)
        except requests.RequestException as exc:
            raise ClusterError(f"Flink JobManager at {self.url} did not answer {path}: {exc}") from None
        if response.status_code != 200:
            raise ClusterError(f"Flink JobManager at {self.url}: GET {path} -> {response.status_code} {response.text[:200]}")
        return response.json()

    def jobs(self) -> list[ClusterJob]:
        """Every job the JobManager knows: running ones and those it still remembers having run."""
        return [ClusterJob(j["jid"], j["name"], j["state"], j.get("start-time", 0))
                for j in self._get("/jobs/overview")["jobs"]]

    def job(self, job_id: str) -> ClusterJob:
        j = self._get(f"/jobs/{job_id}")
        return ClusterJob(j["jid"], j["name"], j["state"], j.get("start-time", 0))

    def active(self, name: str) -> list[ClusterJob]:
        return [j for j in self.jobs() if j.name == name and j.active]

    def latest_checkpoint(self, job_id: str) -> CompletedCheckpoint | None:
        """The job's newest completed checkpoint (or savepoint) that left files behind, if any."""
        latest = self._get(f"/jobs/{job_id}/checkpoints").get("latest") or {}
        done = [c for c in (latest.get("completed"), latest.get("savepoint")) if c and c.get("external_path")
                and not c.get("discarded")]
        if not done:
            return None
        newest = max(done, key=lambda c: c.get("latest_ack_timestamp", 0))
        return CompletedCheckpoint(newest["external_path"], newest.get("latest_ack_timestamp", 0) / 1000)

    def checkpoints(self, name: str) -> list[CompletedCheckpoint]:
        """The newest completed checkpoint of every job of this name the JobManager remembers."""
        return [c for j in self.jobs() if j.name == name if (c := self.latest_checkpoint(j.job_id)) is not None]
