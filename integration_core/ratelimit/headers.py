"""Read a provider response's throttling signals: status, Retry-After, quota headers.

Pure (no I/O). Understood headers, case-insensitive:
- `Retry-After`: seconds or an HTTP date.
- `X-RateLimit-Limit` / `-Remaining` / `-Reset` (GitHub and many others; also the IETF
  `RateLimit-*` names). A reset above 10^9 is an epoch time, otherwise seconds from now;
  it only matters once `Remaining` is 0 (the quota is spent until the reset).
- `Sforce-Limit-Info: api-usage=25/5000` (Salesforce; every `name=used/max` pair).
- `X-HubSpot-RateLimit-Max`/`-Remaining`, `-Daily`/`-Daily-Remaining`,
  `-Secondly`/`-Secondly-Remaining`.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

__all__ = ["ResponseSignal", "parse_response"]

_NUMBER = re.compile(r"\s*(-?\d+(?:\.\d+)?)")
_SECONDS = re.compile(r"\s*\d+(?:\.\d+)?\s*")
_SFORCE_PAIR = re.compile(r"([\w.-]+)=(\d+)/(\d+)")
_EPOCH_THRESHOLD = 1e9
_QUOTA_PAIRS = (
    ("x-ratelimit-limit", "x-ratelimit-remaining"),
    ("ratelimit-limit", "ratelimit-remaining"),
    ("x-hubspot-ratelimit-max", "x-hubspot-ratelimit-remaining"),
    ("x-hubspot-ratelimit-daily", "x-hubspot-ratelimit-daily-remaining"),
    ("x-hubspot-ratelimit-secondly", "x-hubspot-ratelimit-secondly-remaining"),
)
_RESET_HEADERS = ("x-ratelimit-reset", "ratelimit-reset")


@dataclass(frozen=True, slots=True)
class ResponseSignal:
    """What one response says about the provider's limits.

    `throttled`: the provider refused us for rate reasons (429, or an error with
    Retry-After). `block_seconds`: how long every instance should stop calling (0 when
    the response does not say). `headroom`: the smallest fraction of any quota left
    (None when the response carries no quota headers). `ok`: a success response.
    """

    throttled: bool
    block_seconds: float
    headroom: float | None
    ok: bool


def parse_response(
    status_code: int, headers: Mapping[str, str] | None, *, now: float | None = None
) -> ResponseSignal:
    """Interpret a response; `now` (epoch seconds) is only for tests of date headers."""
    if isinstance(status_code, bool) or not isinstance(status_code, int):
        raise ValueError(f"status_code must be an int, got {status_code!r}")
    if not 100 <= status_code <= 599:
        raise ValueError(f"status_code must be an HTTP status (100-599), got {status_code}")
    lowered = {str(k).lower(): str(v) for k, v in (headers or {}).items()}
    wall = time.time() if now is None else now
    is_error = status_code >= 400

    block = 0.0
    retry_after = _retry_after(lowered.get("retry-after"), wall) if is_error else None
    if retry_after is not None:
        block = retry_after

    headroom: float | None = None
    exhausted_reset: float | None = None
    for limit_name, remaining_name in _QUOTA_PAIRS:
        limit = _number(lowered.get(limit_name))
        remaining = _number(lowered.get(remaining_name))
        if limit is None or remaining is None or limit <= 0:
            continue
        fraction = max(0.0, min(1.0, remaining / limit))
        headroom = fraction if headroom is None else min(headroom, fraction)
        if remaining <= 0 and exhausted_reset is None:
            exhausted_reset = _reset_seconds(lowered, wall)
    sforce = lowered.get("sforce-limit-info")
    if sforce:
        for _name, used, maximum in _SFORCE_PAIR.findall(sforce):
            if int(maximum) > 0:
                fraction = max(0.0, 1.0 - int(used) / int(maximum))
                headroom = fraction if headroom is None else min(headroom, fraction)
    if exhausted_reset is not None:
        block = max(block, exhausted_reset)

    throttled = status_code == 429 or retry_after is not None
    return ResponseSignal(
        throttled=throttled, block_seconds=block, headroom=headroom, ok=not is_error
    )


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    match = _NUMBER.match(value)
    if match is None:
        return None
    number = float(match.group(1))
    return number if math.isfinite(number) else None


def _retry_after(value: str | None, wall: float) -> float | None:
    if value is None or not value.strip():
        return None
    if _SECONDS.fullmatch(value):
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - wall)


def _reset_seconds(lowered: Mapping[str, str], wall: float) -> float | None:
    for name in _RESET_HEADERS:
        reset = _number(lowered.get(name))
        if reset is None:
            continue
        return max(0.0, reset - wall) if reset > _EPOCH_THRESHOLD else max(0.0, reset)
    return None
