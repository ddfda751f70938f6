"""Outbound delivery: sending matching operations to destinations (SPEC §10)."""
