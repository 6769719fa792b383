"""S3 and SNS for local runs: moto in server mode. Real AWS is only a different endpoint."""

from __future__ import annotations

import sys

from pipeline.aws import LOCAL_CREDENTIALS, client
from pipeline.config import AwsConfig, Config
from pipeline.stack import health as probe
from pipeline.stack.layout import Layout
from pipeline.stack.service import Service, Unhealthy


def health(aws: AwsConfig) -> str:
    if aws.managed:
        probe.http(f"{aws.endpoint}/moto-api/")
        return "moto S3+SNS answering"
    try:
        client(aws, "s3").head_bucket(Bucket=aws.s3_bucket)
    except Exception as exc:  # noqa: BLE001 - any botocore failure means "not usable"
        raise Unhealthy(f"S3 bucket {aws.s3_bucket} not reachable: {exc}") from None
    return f"S3 bucket {aws.s3_bucket} reachable"


def bootstrap(aws: AwsConfig) -> None:
    s3 = client(aws, "s3")
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if aws.s3_bucket not in existing:
        s3.create_bucket(Bucket=aws.s3_bucket)
    client(aws, "sns").create_topic(Name=aws.sns_topic)  # idempotent in SNS


def service(config: Config, layout: Layout) -> Service:
    aws = config.aws
    return Service(
        name="aws",
        port=aws.port,
        argv=[sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(aws.port)],
        env=LOCAL_CREDENTIALS,
        health=lambda: health(aws),
        bootstrap=lambda: bootstrap(aws),
        start_timeout_s=60,
    )
