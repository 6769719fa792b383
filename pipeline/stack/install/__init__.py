"""Idempotent installers. Each step records a stamp keyed by its inputs and is skipped when nothing changed."""
