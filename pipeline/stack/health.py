"""Small, dependency-light probes that service modules compose into health checks.

Every probe has a short timeout: a hung service must show as unhealthy in
`status`, not hang it.
"""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request

from pipeline.stack.service import Unhealthy

TIMEOUT_S = 3.0


def tcp(host: str, port: int) -> str:
    try:
        with socket.create_connection((host, port), timeout=TIMEOUT_S):
            return f"{host}:{port} accepts connections"
    except OSError as exc:
        raise Unhealthy(f"{host}:{port} refuses connections ({exc.strerror or exc})") from None


def http(url: str, *, method: str = "GET", body: dict | None = None, expect: int = 200,
         headers: dict[str, str] | None = None, timeout: float = TIMEOUT_S) -> bytes:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            payload = response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        raise Unhealthy(f"{method} {url} answered HTTP {exc.code}: {exc.read()[:200]!r}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise Unhealthy(f"{method} {url} failed: {reason}") from None
    if status != expect:
        raise Unhealthy(f"{method} {url} answered HTTP {status}, expected {expect}")
    return payload


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def redis_ping(host: str, port: int) -> str:
    try:
        with socket.create_connection((host, port), timeout=TIMEOUT_S) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            reply = sock.recv(64)
    except OSError as exc:
        raise Unhealthy(f"redis at {host}:{port} unreachable: {exc}") from None
    if not reply.startswith(b"+PONG"):
        raise Unhealthy(f"redis at {host}:{port} answered {reply!r} to PING")
    return "PONG"


def smtp_banner(host: str, port: int) -> str:
    try:
        with socket.create_connection((host, port), timeout=TIMEOUT_S) as sock:
            banner = sock.recv(256)
            sock.sendall(b"QUIT\r\n")
    except OSError as exc:
        raise Unhealthy(f"SMTP at {host}:{port} unreachable: {exc}") from None
    if not banner.startswith(b"220"):
        raise Unhealthy(f"SMTP at {host}:{port} greeted with {banner[:80]!r}")
    return banner.decode(errors="replace").strip()[:60]
