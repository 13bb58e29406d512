"""Bad input is a clear ValueError; provider headers are read the way providers send them."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from integration_core.ratelimit import AdaptivePolicy, Limit, RateLimiter, parse_response
from integration_core.ratelimit._policy import adjustment_for, apply_adjustment

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        (("", 10, 1.0), {}),
        (("k", 0, 1.0), {}),
        (("k", -5, 1.0), {}),
        (("k", 2.5, 1.0), {}),
        (("k", True, 1.0), {}),
        (("k", 10, 0), {}),
        (("k", 10, -1.0), {}),
        (("k", 10, math.inf), {}),
        (("k", 10, math.nan), {}),
        (("k", 10, "1"), {}),
        (("k", 10, 1.0), {"algorithm": "fixed"}),
        (("k", 10, 1.0), {"algorithm": "bucketed", "buckets": 0}),
        (("k", 2_000_000, 1.0), {}),
        ((7, 10, 1.0), {}),
    ],
)
def test_bad_limits_raise_value_error(args: tuple[object, ...], kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message varies per field
        Limit(*args, **kwargs)  # type: ignore[arg-type]


def test_a_large_limit_is_fine_when_bucketed() -> None:
    assert Limit("k", 2_000_000, 86_400.0, algorithm="bucketed").max_requests == 2_000_000


@pytest.mark.parametrize("cost", [0, -1, 11, 1.0, True, "1"])
def test_bad_cost_raises_value_error(cost: object) -> None:
    limiter = RateLimiter.local()
    with pytest.raises(ValueError):  # noqa: PT011
        limiter.acquire([Limit("k", 10, 1.0)], cost=cost)  # type: ignore[arg-type]


@pytest.mark.parametrize("limits", [[], "k", [("k", 10, 1.0)], 42, None])
def test_bad_limit_lists_raise_value_error(limits: object) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        RateLimiter.local().acquire(limits)  # type: ignore[arg-type]


def test_the_same_window_twice_is_rejected() -> None:
    with pytest.raises(ValueError, match="twice"):
        RateLimiter.local().acquire([Limit("k", 10, 1.0), Limit("k", 5, 1.0)])


def test_same_key_with_other_windows_is_allowed() -> None:
    decision = RateLimiter.local().acquire([Limit("k", 10, 1.0), Limit("k", 100, 60.0)])
    assert decision.allowed
    assert decision.remaining == 9


@pytest.mark.parametrize(
    "options",
    [
        {"instances": 0},
        {"timeout_ms": 0},
        {"probe_interval": -1},
        {"key_prefix": ""},
        {"alert_sink": 3},
        {"bogus": 1},
    ],
)
def test_bad_options_raise_value_error(options: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        RateLimiter.local(**options)  # type: ignore[arg-type]


def test_bad_wait_timeout_and_response_input() -> None:
    limiter = RateLimiter.local()
    with pytest.raises(ValueError, match="timeout"):
        limiter.wait([Limit("k", 1, 1.0)], timeout=-1)
    with pytest.raises(ValueError, match="status_code"):
        limiter.record_response("conn:c1", 99, {})
    with pytest.raises(ValueError, match="integration_key"):
        limiter.record_response("", 200, {})
    with pytest.raises(ValueError, match="key"):
        limiter.reset("")
    with pytest.raises(ValueError, match="Limit"):
        limiter.status("k")  # type: ignore[arg-type]


def test_integrations_are_the_colon_prefixes_unless_named() -> None:
    assert Limit("conn:c1:read", 1, 1.0).integrations == ("conn", "conn:c1", "conn:c1:read")
    assert Limit("conn:c1:read", 1, 1.0, integration="sf").integrations == ("sf",)
    assert Limit("conn:c1:read", 1, 1.0, integration="").integrations == ()


def test_retry_after_in_seconds_and_as_http_date() -> None:
    assert parse_response(429, {"Retry-After": "7"}).block_seconds == 7.0
    now = datetime(2026, 1, 1, tzinfo=UTC)
    date = format_datetime(now + timedelta(seconds=30), usegmt=True)
    signal = parse_response(503, {"retry-after": date}, now=now.timestamp())
    assert signal.throttled
    assert signal.block_seconds == pytest.approx(30.0)
    assert parse_response(429, {"Retry-After": "soon"}).block_seconds == 0.0
    # A redirect's Retry-After is about the redirect, not throttling.
    assert parse_response(301, {"Retry-After": "5"}).block_seconds == 0.0


def test_salesforce_usage_header() -> None:
    signal = parse_response(200, {"Sforce-Limit-Info": "api-usage=4900/5000"})
    assert signal.ok
    assert signal.headroom == pytest.approx(0.02)
    pair = "api-usage=25/5000, per-app-api-usage=240/250(appName=sync)"
    assert parse_response(200, {"Sforce-Limit-Info": pair}).headroom == pytest.approx(0.04)


def test_hubspot_headers_take_the_tightest_quota() -> None:
    headers = {
        "X-HubSpot-RateLimit-Max": "100",
        "X-HubSpot-RateLimit-Remaining": "60",
        "X-HubSpot-RateLimit-Daily": "250000",
        "X-HubSpot-RateLimit-Daily-Remaining": "5000",
    }
    assert parse_response(200, headers).headroom == pytest.approx(0.02)


def test_github_exhausted_quota_blocks_until_reset() -> None:
    now = 1_700_000_000.0
    headers = {
        "X-RateLimit-Limit": "5000",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": str(int(now + 120)),
    }
    signal = parse_response(403, headers, now=now)
    assert signal.headroom == 0.0
    assert signal.block_seconds == pytest.approx(120.0)
    relative = {"RateLimit-Limit": "10", "RateLimit-Remaining": "0", "RateLimit-Reset": "3"}
    assert parse_response(200, relative).block_seconds == pytest.approx(3.0)


def test_adjustments_lower_cap_recover_and_floor() -> None:
    policy = AdaptivePolicy(floor=0.5, decrease=0.7, recover_step=0.1, headroom=0.2)
    throttle = adjustment_for(parse_response(429, {"Retry-After": "2"}), policy)
    assert throttle.block_seconds == 2.0
    assert apply_adjustment(1.0, throttle, policy) == pytest.approx(0.7)
    assert apply_adjustment(0.6, throttle, policy) == 0.5  # the floor
    pressed = adjustment_for(parse_response(200, {"Sforce-Limit-Info": "api-usage=95/100"}), policy)
    assert apply_adjustment(1.0, pressed, policy) == pytest.approx(0.5)
    assert pressed.recover == 0.0
    good = adjustment_for(parse_response(200, {}), policy)
    assert apply_adjustment(0.5, good, policy) == pytest.approx(0.6)
    assert apply_adjustment(0.95, good, policy) == 1.0
    neutral = adjustment_for(parse_response(404, {}), policy)
    assert apply_adjustment(0.8, neutral, policy) == pytest.approx(0.8)
