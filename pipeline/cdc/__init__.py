"""The CDC reader: pgoutput decoding, type mapping, envelopes, snapshot, slot and offsets, kept apart."""
