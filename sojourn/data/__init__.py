"""Persistence: tables, migrations, the engine, and the set-based SQL over them (segments,
ingestion, tagging rules, consent records)."""
