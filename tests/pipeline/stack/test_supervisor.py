"""The supervisor against tiny real processes (python's http.server), no stack services."""

import socket
import sys

import pytest

from pipeline import procs
from pipeline.stack import health, process
from pipeline.stack.errors import StackError
from pipeline.stack.layout import Layout
from pipeline.stack.service import Service
from pipeline.stack.supervisor import Supervisor


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _http_service(name: str, port: int, requires=()) -> Service:
    return Service(
        name=name,
        port=port,
        argv=[sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)],
        health=lambda: health.tcp("127.0.0.1", port),
        requires=tuple(requires),
        start_timeout_s=20,
    )


@pytest.fixture
def layout(tmp_path):
    return Layout(run_dir=tmp_path / "run", cache_dir=tmp_path / "cache")


def test_up_starts_in_order_status_reports_and_down_leaves_nothing(layout):
    a, b = _free_port(), _free_port()
    sup = Supervisor(layout, [_http_service("b", b, requires=["a"]), _http_service("a", a)])
    assert sup.order() == ["a", "b"]
    timings = sup.up()
    assert set(timings) == {"a", "b"} and timings["a"] <= timings["b"]
    rows = {r.name: r for r in sup.status()}
    assert rows["a"].state == "up" and rows["b"].state == "up"
    assert rows["a"].rss_mib > 0
    pids = [rows["a"].pid, rows["b"].pid]
    assert sup.down() == ["b", "a"]
    assert not any(procs.is_alive(p) for p in pids)
    assert {r.state for r in sup.status()} == {"down"}


def test_up_twice_reuses_running_processes(layout):
    port = _free_port()
    sup = Supervisor(layout, [_http_service("a", port)])
    sup.up()
    pid = process.running_pid(layout, "a")
    sup.up()
    assert process.running_pid(layout, "a") == pid
    sup.down()


def test_only_starts_the_dependency_closure(layout):
    a, b, c = _free_port(), _free_port(), _free_port()
    sup = Supervisor(layout, [_http_service("a", a), _http_service("b", b, ["a"]), _http_service("c", c)])
    sup.up(only={"b"})
    states = {r.name: r.state for r in sup.status()}
    assert states == {"a": "up", "b": "up", "c": "down"}
    sup.down()


def test_service_dying_at_start_shows_its_log_tail(layout):
    dying = Service(
        name="dies", port=_free_port(),
        argv=[sys.executable, "-c", "import sys; print('boom: bad setting xyz'); sys.exit(3)"],
        health=lambda: health.tcp("127.0.0.1", 1), start_timeout_s=20,
    )
    with pytest.raises(StackError, match=r"(?s)dies \(pid \d+\) died while starting.*dies\.log.*boom: bad setting xyz"):
        Supervisor(layout, [dying]).up()


def test_port_in_use_is_reported_before_starting(layout):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(StackError, match=rf"port {port} needed by a is already in use.*PORT_OFFSET"):
            Supervisor(layout, [_http_service("a", port)]).up()


def test_unhealthy_until_timeout_names_the_last_check(layout):
    never = Service(
        name="never", port=_free_port(),
        argv=[sys.executable, "-c", "import time; time.sleep(60)"],
        health=lambda: health.tcp("127.0.0.1", 9), start_timeout_s=1.5,
    )
    sup = Supervisor(layout, [never])
    with pytest.raises(StackError, match=r"did not become healthy within 2s; last check: 127.0.0.1:9 refuses"):
        sup.up()
    sup.down()


def test_unknown_dependency_is_rejected(layout):
    with pytest.raises(StackError, match="requires unknown service nope"):
        Supervisor(layout, [_http_service("a", _free_port(), ["nope"])])
