"""boto3 clients for S3 and SNS at the configured endpoint: moto for the local stack, AWS otherwise.

Production code (the backfill export, the alert dispatcher) needs this without the local-stack package."""

from __future__ import annotations

from pipeline.config import AwsConfig

# moto accepts any credentials; these are not secrets, they only select moto's default account.
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def client(aws: AwsConfig, name: str):
    """A boto3 client for S3/SNS (real AWS: credentials from the usual chain)."""
    import boto3

    extra = dict(
        aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    ) if aws.managed else {}
    return boto3.client(name, region_name=aws.region, endpoint_url=aws.endpoint, **extra)
