"""The connection errors of each client library become one named, actionable Unreachable."""

import psycopg
import pytest
import requests

from pipeline.config import load_config
from pipeline.reachability import Unreachable, explain, require

OFFSET = 7800  # nothing listens on these ports


@pytest.fixture
def config(tmp_path):
    return load_config(env={"CDC_OLAP_STACK_RUN_DIR": str(tmp_path), "CDC_OLAP_STACK_PORT_OFFSET": str(OFFSET),
                            "CDC_OLAP_POSTGRES_PASSWORD": "x"})


def _raised(call) -> BaseException:
    try:
        call()
    except BaseException as exc:  # noqa: BLE001 - the point is to inspect what the library raises
        return exc
    raise AssertionError("expected the call to fail")


def test_psycopg_refused_connection_names_postgres(config):
    found = explain(_raised(lambda: psycopg.connect(config.postgres.dsn())), config)
    assert str(found).startswith(f"cannot reach postgres at 127.0.0.1:{25432 + OFFSET} (connection to server")
    assert str(found).endswith("start it with `./cdc-olap up --only postgres`")


def test_a_failed_query_is_not_called_unreachable(config):
    error = psycopg.errors.QueryCanceled("canceling statement due to statement timeout")
    assert explain(error, config) is None
    assert explain(ValueError("unrelated"), config) is None


def test_botocore_endpoint_error_names_aws(config):
    import boto3
    from botocore.config import Config as BotoConfig

    s3 = boto3.client("s3", endpoint_url=config.aws.endpoint, region_name="us-east-1", aws_access_key_id="t",
                      aws_secret_access_key="t", config=BotoConfig(retries={"max_attempts": 1}, connect_timeout=1))
    found = explain(_raised(lambda: s3.list_buckets()), config)
    assert str(found).startswith(f"cannot reach aws at http://127.0.0.1:{25000 + OFFSET}")


def test_kafka_and_requests_errors_are_recognised_through_a_wrapping_exception(config):
    from kafka.errors import KafkaTimeoutError

    def wrapped():
        try:  # what kafka-python raises when no bootstrap server answers (after 30 s)
            raise KafkaTimeoutError(f"Unable to bootstrap from {config.kafka.bootstrap}")
        except KafkaTimeoutError as exc:
            raise RuntimeError("dispatcher failed") from exc

    assert explain(_raised(wrapped), config).endpoint.service == "kafka"
    found = explain(_raised(lambda: requests.get(f"{config.druid.broker}/status", timeout=1)), config)
    assert found.endpoint.service == "druid-broker"


def test_require_probes_only_what_is_asked_and_skips_real_aws(tmp_path):
    external = load_config(env={"CDC_OLAP_STACK_RUN_DIR": str(tmp_path), "CDC_OLAP_AWS_MANAGED": "false",
                                "CDC_OLAP_STACK_PORT_OFFSET": str(OFFSET)})
    require(external, ("aws", "flink"))  # real AWS and the local mini-cluster: nothing to probe
    with pytest.raises(Unreachable, match=r"kafka at 127\.0\.0\.1:\d+ \(connection refused\)"):
        require(external, ("kafka",))
