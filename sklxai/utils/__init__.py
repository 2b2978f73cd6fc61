"""Shared private helpers: input validation, devices, seeding. Nothing here is public API."""
