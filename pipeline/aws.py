"""AWS clients (S3, SNS, SQS) from configuration, for every component that talks to AWS.

It sits below both the local stack (which runs moto in AWS's place) and the
components that run against real AWS (dispatcher, backfill export), so neither
has to import the other. Real AWS differs from moto only in the endpoint and
in where credentials come from.
"""

from __future__ import annotations

from pipeline.config import AwsConfig

# moto accepts any credentials; these are not secrets, they only select moto's default account.
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def client(aws: AwsConfig, name: str):
    """A boto3 client at the configured endpoint: moto's fixed credentials when managed, otherwise the usual
    AWS credential chain (environment, profile, instance role) and the region's own endpoint."""
    import boto3

    extra = dict(
        aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    ) if aws.managed else {}
    return boto3.client(name, region_name=aws.region, endpoint_url=aws.endpoint, **extra)
