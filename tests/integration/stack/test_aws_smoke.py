"""S3 and SNS through boto3 at the configured endpoint (moto locally)."""

import json
import uuid

from pipeline.aws import client


def test_s3_put_and_get(test_stack):
    config = test_stack.need("aws")
    s3 = client(config.aws, "s3")
    key = f"smoke/{uuid.uuid4().hex}.json"
    s3.put_object(Bucket=config.aws.s3_bucket, Key=key, Body=b'{"total_cents": 1234}')
    body = s3.get_object(Bucket=config.aws.s3_bucket, Key=key)["Body"].read()
    assert json.loads(body) == {"total_cents": 1234}


def test_sns_publish_reaches_a_subscribed_queue(test_stack):
    config = test_stack.need("aws")
    sns, sqs = client(config.aws, "sns"), client(config.aws, "sqs")
    topic_arn = sns.create_topic(Name=config.aws.sns_topic)["TopicArn"]
    queue_url = sqs.create_queue(QueueName=f"smoke-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    message_id = sns.publish(TopicArn=topic_arn, Subject="smoke", Message="page: rule=card_testing")["MessageId"]
    assert message_id
    messages = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=5).get("Messages", [])
    assert messages and "rule=card_testing" in json.loads(messages[0]["Body"])["Message"]
