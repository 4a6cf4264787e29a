"""Scheduled delivery: due check-ins claimed from the database, sent through an outbox."""
