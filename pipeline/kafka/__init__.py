"""Kafka I/O: the change-event producer (confluent-kafka) and topic administration (kafka-python)."""
