"""Shared fixtures. Each support module owns one real stand-in (daemon, server)."""

from __future__ import annotations

# Fixture modules register here, one import line each.
