"""Durable storage: SQLAlchemy Core tables, the engine, repositories and migrations."""
