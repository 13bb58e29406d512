"""Adapters: one per SaaS system, each speaking that system's HTTP API with httpx."""

from __future__ import annotations

from adapters.base import BaseIntegrationAdapter, ChangePage, RateLimitHint, WriteResult

__all__ = ["BaseIntegrationAdapter", "ChangePage", "RateLimitHint", "WriteResult"]
