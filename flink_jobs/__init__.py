"""PyFlink jobs. Python only defines and submits them; rows flow JVM -> Kafka, never through Python."""
