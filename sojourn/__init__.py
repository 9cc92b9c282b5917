"""Sojourn: customer journeys as durable Temporal workflows."""
