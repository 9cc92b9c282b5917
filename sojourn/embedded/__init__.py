"""The embedded stack: Postgres, Temporal dev server and SMTP sink from wheels, no system packages."""
