"""The account health job: a rolling 24-hour score per account (docs/flink.md, "Account health")."""
