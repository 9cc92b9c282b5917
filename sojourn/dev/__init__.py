"""Development only: the embedded stack (Postgres from a wheel, the Temporal dev server, the
SMTP sink) and the mailbox the sink fills. Installed with the `dev` extra."""
