"""Kafka at the edge: the reader, its restriction and watermark, outages, the offset ledger and commits."""
