"""Dates and datetimes: ISO text, formats, time zones, epoch seconds and milliseconds.

Canonical dates are `YYYY-MM-DD`; canonical datetimes are ISO 8601 in UTC with
microseconds and a `Z` (`integration_core.clock.to_iso`), so they sort as text.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator

from integration_core.clock import to_iso
from integration_core.mapping.converters._private import Options, expect_decimal, expect_text
from integration_core.mapping.converters.registry import ConversionContext, register_converter
from integration_core.mapping.errors import ConversionError

__all__: list[str] = []

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class DateOptions(Options):
    """`format`: the provider's strptime/strftime format (None: ISO `YYYY-MM-DD`)."""

    format: str | None = None


def _known_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ValueError(f"unknown time zone {value!r}") from err
    return value


Zone = Annotated[str, AfterValidator(_known_zone)]


class ZoneOptions(Options):
    """`timezone`: the IANA zone of provider values that carry none (None: such a value is
    an error); `format`: the provider's strptime/strftime format (None: ISO 8601)."""

    timezone: Zone | None = None
    format: str | None = None

    def zone(self) -> ZoneInfo | None:
        return ZoneInfo(self.timezone) if self.timezone else None


class EpochOptions(Options):
    """`as_string`: write the number as text (HubSpot properties are all text)."""

    as_string: bool = False


def _canonical_date(value: Any) -> date:
    try:
        return date.fromisoformat(expect_text(value))
    except ValueError as err:
        raise ConversionError(f"not an ISO date (YYYY-MM-DD): {value!r}") from err


def _canonical_datetime(value: Any) -> datetime:
    try:
        parsed = datetime.fromisoformat(expect_text(value).replace("Z", "+00:00"))
    except ValueError as err:
        raise ConversionError(f"not an ISO datetime: {value!r}") from err
    if parsed.tzinfo is None:
        raise ConversionError(f"datetime without a time zone: {value!r}")
    return parsed


def _date_to_provider(value: Any, options: DateOptions, _: ConversionContext) -> str:
    day = _canonical_date(value)
    return day.strftime(options.format) if options.format else day.isoformat()


@register_converter("date", options=DateOptions, to_provider=_date_to_provider)
def _date(value: Any, options: DateOptions, _: ConversionContext) -> str:
    """A date: provider text in `format` (default ISO) <-> `YYYY-MM-DD`."""
    text = expect_text(value).strip()
    try:
        if options.format:
            return datetime.strptime(text, options.format).date().isoformat()  # noqa: DTZ007
        return date.fromisoformat(text).isoformat()
    except ValueError as err:
        raise ConversionError(f"not a date in {options.format or 'ISO'} format: {text!r}") from err


def _datetime_to_provider(value: Any, options: ZoneOptions, _: ConversionContext) -> str:
    moment = _canonical_datetime(value).astimezone(options.zone() or UTC)
    if options.format:
        return moment.strftime(options.format)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@register_converter("datetime", options=ZoneOptions, to_provider=_datetime_to_provider)
def _datetime(value: Any, options: ZoneOptions, _: ConversionContext) -> str:
    """A moment in time: provider text (ISO 8601 or `format`; a value without an offset is in
    `timezone`) <-> ISO UTC. Writes use `timezone` (default UTC) and `format` (default ISO)."""
    text = expect_text(value).strip()
    try:
        if options.format:
            parsed = datetime.strptime(text, options.format)  # noqa: DTZ007
        else:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as err:
        raise ConversionError(f"not a datetime: {text!r}") from err
    if parsed.tzinfo is None:
        zone = options.zone()
        if zone is None:
            raise ConversionError(f"datetime {text!r} has no time zone and none is configured")
        parsed = parsed.replace(tzinfo=zone)
    return to_iso(parsed)


def _epoch_to_provider(scale: int) -> Any:
    """Writes of epoch `1/scale` seconds: whole units as int, a fraction kept exactly."""

    def convert(value: Any, options: EpochOptions, _: ConversionContext) -> int | float | str:
        delta = _canonical_datetime(value) - _EPOCH
        micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
        whole, rest = divmod(micros * scale, 1_000_000)
        if not rest:
            return str(whole) if options.as_string else whole
        exact = Decimal(micros * scale) / 1_000_000
        return f"{exact:f}" if options.as_string else float(exact)

    return convert


def _from_epoch(value: Any, scale: int, unit: str) -> str:
    micros = expect_decimal(value, f"epoch {unit}") * 1_000_000 / scale
    try:
        return to_iso(_EPOCH + timedelta(microseconds=int(micros.to_integral_value())))
    except OverflowError as err:
        raise ConversionError(f"epoch {unit} out of range: {value!r}") from err


@register_converter("epoch_ms", options=EpochOptions, to_provider=_epoch_to_provider(1000))
def _epoch_ms(value: Any, options: EpochOptions, _: ConversionContext) -> str:
    """Milliseconds since 1970-01-01 UTC (a number or its text) <-> ISO UTC datetime."""
    return _from_epoch(value, 1000, "milliseconds")


@register_converter("epoch_seconds", options=EpochOptions, to_provider=_epoch_to_provider(1))
def _epoch_seconds(value: Any, options: EpochOptions, _: ConversionContext) -> str:
    """Seconds since 1970-01-01 UTC (fractions allowed; Slack's `ts`) <-> ISO UTC datetime."""
    return _from_epoch(value, 1, "seconds")


def _epoch_ms_date_to_provider(value: Any, options: EpochOptions, _: ConversionContext) -> Any:
    midnight = datetime.combine(_canonical_date(value), time(), tzinfo=UTC)
    number = int((midnight - _EPOCH).total_seconds()) * 1000
    return str(number) if options.as_string else number


@register_converter("epoch_ms_date", options=EpochOptions, to_provider=_epoch_ms_date_to_provider)
def _epoch_ms_date(value: Any, options: EpochOptions, _: ConversionContext) -> str:
    """A date as milliseconds at midnight UTC (HubSpot date properties) <-> `YYYY-MM-DD`.

    A value that is not midnight UTC is an error: it is a datetime, not a date."""
    number = expect_decimal(value, "epoch milliseconds")
    if number % 86_400_000:
        raise ConversionError(f"{value!r} is not midnight UTC, so not a date")
    try:
        return (_EPOCH + timedelta(milliseconds=int(number))).date().isoformat()
    except OverflowError as err:
        raise ConversionError(f"epoch milliseconds out of range: {value!r}") from err


class DayOptions(Options):
    """`timezone`: the IANA zone whose calendar day is meant (default UTC)."""

    timezone: Zone = "UTC"


def _day_to_provider(value: Any, options: DayOptions, _: ConversionContext) -> str:
    midnight = datetime.combine(_canonical_date(value), time(), tzinfo=ZoneInfo(options.timezone))
    return to_iso(midnight)


@register_converter("date_from_datetime", options=DayOptions, to_provider=_day_to_provider)
def _date_from_datetime(value: Any, options: DayOptions, _: ConversionContext) -> str:
    """The calendar day (in `timezone`) of a provider datetime <-> midnight of that day.

    For due dates kept as datetimes by the provider (HubSpot `hs_timestamp`)."""
    moment = _canonical_datetime(value)
    return moment.astimezone(ZoneInfo(options.timezone)).date().isoformat()
