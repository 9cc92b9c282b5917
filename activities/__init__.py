"""Activities: every piece of I/O a journey does (sending, contact data)."""
