"""Task submission survives an overlord too busy to answer in time, without submitting a task twice."""

from __future__ import annotations

import pytest
import requests

from pipeline.config import load_config
from pipeline.druid import client as druid_client
from pipeline.druid.client import Druid, DruidError

pytestmark = pytest.mark.unit


class _Reply:
    def __init__(self, status: int, body: bytes) -> None:
        self.status_code, self.content, self.text = status, body, body.decode()

    def json(self):
        import json

        return json.loads(self.content)


def _overlord(monkeypatch, *answers) -> list:
    calls = []

    def request(method, url, json=None, timeout=None):
        calls.append(json)
        answer = answers[len(calls) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(druid_client.requests, "request", request)
    return calls


def test_a_task_with_an_id_is_submitted_again_after_a_timeout(monkeypatch):
    exists = _Reply(400, b'{"errorCode":"entryAlreadyExists","errorMessage":"Task[k1] already exists"}')
    calls = _overlord(monkeypatch, requests.ReadTimeout("read timed out"), exists)
    assert Druid(load_config(env={}).druid).submit_task({"type": "kill", "id": "k1"}) == "k1"
    assert len(calls) == 2


def test_without_an_id_a_timeout_is_an_error_not_a_second_task(monkeypatch):
    calls = _overlord(monkeypatch, requests.ReadTimeout("read timed out"), _Reply(200, b'{"task": "t2"}'))
    with pytest.raises(DruidError, match="ReadTimeout"):
        Druid(load_config(env={}).druid).submit_task({"type": "kill"})
    assert len(calls) == 1


def test_other_refusals_are_not_retried(monkeypatch):
    calls = _overlord(monkeypatch, _Reply(400, b'{"errorMessage":"bad spec"}'))
    with pytest.raises(DruidError, match="bad spec"):
        Druid(load_config(env={}).druid).submit_task({"type": "kill", "id": "k3"})
    assert len(calls) == 1


def _answers(monkeypatch, *answers) -> Druid:
    """A Druid whose SQL answers come from `answers` in turn (an exception is raised)."""
    druid, left = Druid(load_config(env={}).druid), list(answers)

    def sql(query, parameters=None, context=None):
        answer = left.pop(0) if len(left) > 1 else left[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(druid, "sql", sql)
    return druid


def test_wait_for_waits_through_errors_and_unfinished_answers(monkeypatch):
    druid = _answers(monkeypatch, DruidError("no such table"), [{"n": 0}], [{"n": 3}])
    assert druid.wait_for("q", lambda rows: rows[0]["n"] == 3, 5, "three rows", poll_s=0) == [{"n": 3}]


def test_wait_for_times_out_with_the_last_answer(monkeypatch):
    druid = _answers(monkeypatch, [{"n": 1}])
    with pytest.raises(TimeoutError, match=r"three rows: not there after 0 s; last answer: \[\{'n': 1\}\]"):
        druid.wait_for("q", lambda rows: rows[0]["n"] == 3, 0, "three rows", poll_s=0)
