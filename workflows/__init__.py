"""Deterministic workflows: they orchestrate, activities do the I/O."""
