"""Getting one message out: channels and their providers, the send path (channel choice,
consent, quiet hours, caps, rate limits, rendering, exactly-once record), tracking and signing."""
