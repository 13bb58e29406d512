"""Lockstep: keep records in lockstep between SaaS systems and a canonical hub."""

from __future__ import annotations

__all__: list[str] = []
