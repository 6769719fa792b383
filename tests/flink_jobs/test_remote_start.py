"""Remote mode's decisions before a submit, against a fake JobManager REST API on localhost (no cluster
here): a job already running is not submitted again, `auto` restores the newest checkpoint of this version
wherever it is stored (the JobManager reports s3:// paths), a changed SQL does not start from scratch by
itself."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from flink_jobs import checkpoints, runner, startup
from flink_jobs.cluster import ClusterError, ClusterJob, JobManager
from pipeline.config import load_config

ROOT = "s3://lake/checkpoints/windows"


class FakeJobManager:
    """Answers GET /jobs/overview, /jobs/<id>, /jobs/<id>/checkpoints as Flink 2.x does (fields we read)."""

    def __init__(self) -> None:
        self.jobs: dict[str, dict] = {}
        self.checkpoints: dict[str, dict] = {}
        self.requests: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                fake.requests.append(self.path)
                parts = self.path.strip("/").split("/")
                if parts == ["jobs", "overview"]:
                    body = {"jobs": list(fake.jobs.values())}
                elif len(parts) == 2 and parts[1] in fake.jobs:
                    body = fake.jobs[parts[1]]
                elif len(parts) == 3 and parts[2] == "checkpoints" and parts[1] in fake.jobs:
                    body = fake.checkpoints.get(parts[1], {"latest": {"completed": None, "savepoint": None}})
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add(self, jid: str, name: str, state: str, start: int = 1, checkpoint: str | None = None,
            acked_ms: int = 0) -> None:
        self.jobs[jid] = {"jid": jid, "name": name, "state": state, "start-time": start}
        if checkpoint:
            self.checkpoints[jid] = {"latest": {"completed": {
                "id": 7, "status": "COMPLETED", "external_path": checkpoint, "latest_ack_timestamp": acked_ms,
                "discarded": False}, "savepoint": None, "restored": None}}


@pytest.fixture
def jm():
    fake = FakeJobManager()
    yield fake
    fake.server.shutdown()


@pytest.fixture
def config(tmp_path, jm):
    return load_config(env={"CDC_OLAP_STACK_RUN_DIR": str(tmp_path / "run"), "CDC_OLAP_FLINK_MODE": "remote",
                            "CDC_OLAP_FLINK_REST_URL": jm.url, "CDC_OLAP_FLINK_CHECKPOINT_DIR": "s3://lake/checkpoints"})


@pytest.fixture(autouse=True)
def _no_s3(monkeypatch):
    """No S3 here: its listing finds nothing, so what is found comes from the JobManager."""
    monkeypatch.setattr(checkpoints, "_s3", lambda config, root: [])


def test_a_running_job_of_the_same_name_is_not_submitted_again(config, jm, monkeypatch):
    jm.add("aaa", "windows", "FINISHED")
    jm.add("bbb", "fraud", "RUNNING")
    jm.add("ccc", "windows", "RESTARTING", start=5)
    submitted = []
    monkeypatch.setattr(runner, "prepare", lambda *a, **k: submitted.append(a))
    assert runner.start(config, runner.build(config, "windows")) is None
    assert submitted == []
    assert JobManager(jm.url).active("windows") == [ClusterJob("ccc", "windows", "RESTARTING", 5)]


@pytest.mark.parametrize("state", ["CREATED", "INITIALIZING", "RUNNING", "RESTARTING", "CANCELLING"])
def test_every_not_yet_ended_state_counts_as_running(jm, state):
    jm.add("x", "health", state)
    assert [j.job_id for j in JobManager(jm.url).active("health")] == ["x"]


@pytest.mark.parametrize("state", ["FINISHED", "CANCELED", "FAILED"])
def test_ended_jobs_do_not_block_a_submit(jm, state):
    jm.add("x", "health", state)
    assert JobManager(jm.url).active("health") == []


def test_auto_restores_the_newest_checkpoint_of_this_version_from_the_jobmanager(config, jm):
    version = runner.build(config, "windows").version
    jm.add("old", "windows", "CANCELED", checkpoint=f"{ROOT}/{version}/old/chk-40", acked_ms=1_000)
    jm.add("new", "windows", "FAILED", checkpoint=f"{ROOT}/{version}/new/chk-3", acked_ms=2_000)
    jm.add("other", "windows", "FAILED", checkpoint=f"{ROOT}/0123456789ab/other/chk-99", acked_ms=3_000)
    jm.add("fraud", "fraud", "FAILED", checkpoint="s3://lake/checkpoints/fraud/v/fraud/chk-1", acked_ms=4_000)
    found = runner.known_checkpoints(config, "windows", JobManager(jm.url))
    assert sorted(c.path for c in found) == [f"{ROOT}/0123456789ab/other/chk-99", f"{ROOT}/{version}/new/chk-3",
                                             f"{ROOT}/{version}/old/chk-40"]
    decided = startup.plan("windows", version, "auto", found)
    assert decided == startup.StartPlan(submit=True, restore_from=f"{ROOT}/{version}/new/chk-3")


def test_only_an_earlier_sqls_checkpoints_refuse_auto_and_say_what_to_do(config, jm):
    jm.add("old", "windows", "CANCELED", checkpoint=f"{ROOT}/0123456789ab/old/chk-40", acked_ms=1_000)
    found = runner.known_checkpoints(config, "windows", JobManager(jm.url))
    with pytest.raises(startup.VersionChanged) as refused:
        startup.plan("windows", "fedcba987654", "auto", found)
    message = str(refused.value)
    assert "0123456789ab" in message and "--restore none" in message and f"--restore {ROOT}/0123456789ab/old/chk-40" in message
    # the operator's explicit choices go through
    assert startup.plan("windows", "fedcba987654", "none", found) == startup.StartPlan(submit=True)
    assert startup.plan("windows", "fedcba987654", "s3://x/chk-1", found).restore_from == "s3://x/chk-1"


def test_first_start_ever_starts_afresh():
    assert startup.plan("windows", "fedcba987654", "auto", []) == startup.StartPlan(submit=True)


def test_an_unreachable_jobmanager_is_a_clear_error():
    with pytest.raises(ClusterError, match="did not answer /jobs/overview"):
        JobManager("http://127.0.0.1:9", timeout_s=1).jobs()


def test_local_checkpoints_are_listed_per_version(tmp_path):
    config = load_config(env={"CDC_OLAP_STACK_RUN_DIR": str(tmp_path / "run")})
    root = checkpoints.job_root(config, "fraud")
    for version, jid, number in (("v1", "j1", 3), ("v1", "j1", 4), ("v2", "j2", 1)):
        (tmp_path / "run" / "data/flink/checkpoints/fraud" / version / jid / f"chk-{number}").mkdir(parents=True)
        (tmp_path / "run" / "data/flink/checkpoints/fraud" / version / jid / f"chk-{number}" / "_metadata").touch()
    (tmp_path / "run" / "data/flink/checkpoints/fraud/v2/j2/chk-2").mkdir()  # incomplete: no _metadata
    found = checkpoints.stored(config, "fraud")
    assert sorted((c.version, c.number) for c in found) == [("v1", 3), ("v1", 4), ("v2", 1)]
    assert checkpoints.newest(found, "v2").path == f"{root}/v2/j2/chk-1"
    # Flink reports local checkpoints as file: URIs
    assert checkpoints.parse(f"file:{root}/v1/j1/chk-4/_metadata", root, 0).path == f"{root}/v1/j1/chk-4"
    assert checkpoints.parse(f"{root}/v1/chk-4", root, 0) is None


def test_remote_mode_needs_checkpoints_on_shared_storage(tmp_path):
    from pipeline.config import ConfigError

    with pytest.raises(ConfigError, match="checkpoint_dir on storage the cluster shares"):
        load_config(env={"CDC_OLAP_STACK_RUN_DIR": str(tmp_path), "CDC_OLAP_FLINK_MODE": "remote",
                         "CDC_OLAP_FLINK_REST_URL": "http://jm:8081"})
