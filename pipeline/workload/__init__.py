"""Synthetic but realistic traffic against the system of record, with labelled fraud."""
