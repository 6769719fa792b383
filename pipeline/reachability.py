"""A command that cannot reach a service says so in one line: which service, at which address, and
what to do about it, instead of a client library's traceback.

Two halves of one mechanism, both driven by the same `Endpoint` table built from the configuration:
`require` probes the services a command declares it needs before the command starts (a closed port
answers at once, where kafka-python would wait 30 s to bootstrap), and `explain` turns a connection
error raised later (a service that stopped meanwhile, a refused login) into the same kind of message.
The fix names `./cdc-olap up --only <service>` for a service the local stack manages, and the config
key and environment variable for an external one. Production code may import this: it knows nothing
of the local stack beyond the command that starts it.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from pipeline.config import ENV_PREFIX, Config

PROBE_TIMEOUT_S = 2.0
# Client libraries whose connection errors `explain` knows, by top-level module.
_LIBRARIES = {"psycopg", "kafka", "confluent_kafka", "botocore", "requests"}


@dataclass(frozen=True)
class Endpoint:
    service: str  # as `./cdc-olap up --only` names it
    address: str  # what the message shows: host:port, a bootstrap list or a URL
    hostports: tuple[tuple[str, int], ...]  # probed; reachable when any one accepts; () = not probed
    managed: bool
    keys: tuple[str, ...]  # the [section] keys that point at an external one

    @property
    def fix(self) -> str:
        if self.managed:
            return f"start it with `./cdc-olap up --only {self.service}`"
        section = self.keys[0].split(" ")[0]
        variables = ", ".join(f"{ENV_PREFIX}{section.strip('[]').upper()}_{k.split(' ')[-1].upper()}"
                              for k in self.keys)
        return f"check {' and '.join(self.keys)} ({variables}) and that it runs"


class Unreachable(Exception):
    """One line for a person: the service, its address, what happened, what to do."""

    def __init__(self, endpoint: Endpoint, reason: str) -> None:
        self.endpoint, self.reason = endpoint, reason
        super().__init__(f"cannot reach {endpoint.service} at {endpoint.address} ({reason}); {endpoint.fix}")


def _hostports(text: str, default_port: int) -> tuple[tuple[str, int], ...]:
    found = []
    for part in text.split(","):
        part = part.strip()
        if part:
            parsed = urlsplit(part if "://" in part else f"//{part}")
            found.append((parsed.hostname or "", parsed.port or default_port))
    return tuple(found)


def _url(service: str, url: str, managed: bool, keys: tuple[str, ...]) -> Endpoint:
    default = 443 if url.startswith("https") else 80
    return Endpoint(service, url, _hostports(url, default), managed, keys)


def endpoints(config: Config) -> dict[str, Endpoint]:
    """Every service a command may need. Real AWS and Flink's local mini-cluster are not probed."""
    pg, kafka, aws, druid, superset, flink = (config.postgres, config.kafka, config.aws, config.druid,
                                             config.superset, config.flink)
    return {
        "postgres": Endpoint("postgres", f"{pg.host}:{pg.port}", ((pg.host, pg.port),), pg.managed,
                             ("[postgres] host", "[postgres] port")),
        "kafka": Endpoint("kafka", kafka.bootstrap, _hostports(kafka.bootstrap, 9092), kafka.managed,
                          ("[kafka] bootstrap_servers",)),
        "aws": (_url("aws", aws.endpoint, aws.managed, ("[aws] endpoint_url",)) if aws.endpoint
                else Endpoint("aws", f"AWS {aws.region}", (), False, ("[aws] region",))),
        "druid-broker": _url("druid-broker", druid.broker, druid.managed, ("[druid] broker_url",)),
        "superset-web": _url("superset-web", superset.base_url, superset.managed, ("[superset] url",)),
        "flink": (_url("flink", flink.rest_url, False, ("[flink] rest_url",)) if flink.mode == "remote"
                  else Endpoint("flink", "local mini-cluster", (), False, ("[flink] mode",))),
    }


def _refused(hostports: tuple[tuple[str, int], ...]) -> str | None:
    """Why none of them accepts a TCP connection, or None when one does."""
    reason = "no address configured"
    for host, port in hostports:
        try:
            with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S):
                return None
        except socket.gaierror:
            reason = f"cannot resolve {host}"
        except TimeoutError:
            reason = f"no answer within {PROBE_TIMEOUT_S:.0f} s"
        except OSError as exc:
            reason = (exc.strerror or str(exc)).lower()
    return reason


def require(config: Config, services: tuple[str, ...]) -> None:
    """Raise Unreachable for the first of `services` that accepts no connection."""
    known = endpoints(config)
    for name in services:
        endpoint = known[name]
        reason = _refused(endpoint.hostports) if endpoint.hostports else None
        if reason is not None:
            raise Unreachable(endpoint, reason)


def explain(exc: BaseException, config: Config) -> Unreachable | None:
    """The Unreachable that a client library's connection error (or one it caused) amounts to, if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, Unreachable):
            return current
        if type(current).__module__.split(".")[0] in _LIBRARIES:
            found = _classify(current, endpoints(config))
            if found is not None:
                return found
        current = current.__cause__ or current.__context__
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _classify(exc: BaseException, known: dict[str, Endpoint]) -> Unreachable | None:
    module = type(exc).__module__.split(".")[0]
    if module == "psycopg":
        import psycopg

        # Connection-level failures only: no SQLSTATE (the client gave up) or classes 08 (connection),
        # 28 (login refused) and 57P (server shutting down / starting); a failed query is not "unreachable".
        state = getattr(exc, "sqlstate", None) or ""
        if isinstance(exc, psycopg.OperationalError) and (not state or state[:2] in ("08", "28")
                                                          or state.startswith("57P")):
            return Unreachable(known["postgres"], _first_line(exc).removeprefix("connection failed: "))
    if module in ("kafka", "confluent_kafka"):
        name = type(exc).__name__
        text = _first_line(exc)
        if name in ("NoBrokersAvailable", "KafkaConnectionError") or "bootstrap" in text.lower() or (
                module == "confluent_kafka" and any(code in str(exc) for code in ("_TRANSPORT", "_ALL_BROKERS_DOWN"))):
            return Unreachable(known["kafka"], text)
    if module == "botocore":
        from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError

        if isinstance(exc, (EndpointConnectionError, ConnectTimeoutError)):
            return Unreachable(known["aws"], "connection failed")
    if module == "requests":
        import requests

        target = urlsplit(getattr(exc.request, "url", "") if isinstance(exc, requests.ConnectionError) else "")
        for endpoint in known.values():
            if (target.hostname, target.port) in endpoint.hostports:
                return Unreachable(endpoint, "connection failed")
    return None
