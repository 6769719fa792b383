"""Preflight errors name the problem and the fix."""

import socket

import pytest

from pipeline.stack import preflight
from pipeline.stack.errors import StackError


def _fake_java(tmp_path, version_line: str):
    script = tmp_path / "java"
    script.write_text(f"#!/bin/sh\necho '{version_line}' >&2\n")
    script.chmod(0o755)
    return str(script)


def test_java_17_is_accepted(tmp_path):
    assert preflight.java_version(_fake_java(tmp_path, 'openjdk version "17.0.15" 2025-04-15')) == 17


@pytest.mark.parametrize("line", ['java version "1.8.0_392"', 'openjdk version "11.0.2" 2019-01-15'])
def test_old_java_is_refused_with_the_fix(tmp_path, line):
    with pytest.raises(StackError, match=r"is Java (8|11); .* need Java 17 or newer. Install openjdk-17"):
        preflight.java_version(_fake_java(tmp_path, line))


def test_missing_java_says_what_to_install():
    with pytest.raises(StackError, match=r"`no-such-java` is not on PATH; install it"):
        preflight.java_version("no-such-java")


def test_too_little_disk_names_the_path_and_the_way_out(tmp_path):
    with pytest.raises(StackError, match=rf"GiB free on the disk holding {tmp_path}.*run_dir / cache_dir"):
        preflight.free_disk(tmp_path, min_gib=10**9)


def test_busy_port_names_its_owner():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(StackError, match=rf"port {port} needed by kafka is already in use.*python"):
            preflight.port_free("kafka", "127.0.0.1", port)
