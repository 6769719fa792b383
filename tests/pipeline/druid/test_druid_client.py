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
