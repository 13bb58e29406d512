"""A provider as data: its objects, how their records read, how writes go, its budgets.

One `ProviderSpec` describes a provider in a few dozen lines; `DeclarativeAdapter` runs it.
The pieces follow dlt's `rest_api` source config (client, paginator, incremental with a
lag, per-resource endpoint) and Nango's `providers.yaml` (auth types, base URL, rate-limit
headers), cut down to what two-way record sync needs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from operator import itemgetter
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from adapters.toolkit.cursors import CursorStrategy
from adapters.toolkit.errors import ErrorMap
from adapters.toolkit.paginators import Paginator
from adapters.toolkit.selectors import PathError, compile_path, is_key
from integration_core.clock import from_iso
from integration_core.credentials.types import CredentialType
from integration_core.models import Change
from integration_core.ports.oauth import OAuthSpec

__all__ = [
    "Budget",
    "BudgetOverride",
    "Concurrency",
    "HttpConnectionConfig",
    "ObjectSpec",
    "ProviderSpec",
    "RecordProblem",
    "RecordSpec",
    "WriteSpec",
    "parse_time",
]


def parse_time(value: Any) -> datetime:
    """An ISO-8601 string with a zone, or epoch milliseconds (int or digit string).

    Raises:
        ValueError: anything else, including a time without a zone.
    """
    if isinstance(value, str) and not value.isdigit():
        return from_iso(value)
    if isinstance(value, bool):
        raise ValueError(f"not a time: {value!r}")
    if isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
        try:
            return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
        except (OverflowError, OSError) as err:  # past what the platform's clock can hold
            raise ValueError(f"not a time: {value!r}") from err
    raise ValueError(f"not a time: {value!r}")


# Tuples, not `str | int`: a union is built anew on every use, once per record.
_ID_TYPES = (str, int)
_VERSION_TYPES = (str, int, type(None))


class RecordProblem(ValueError):
    """A listed record that cannot be read: what is wrong, and its id when it has one."""

    def __init__(self, message: str, *, external_id: str | None = None) -> None:
        super().__init__(message)
        self.external_id = external_id


@dataclass(frozen=True)
class RecordSpec:
    """Dotted paths into one listed record; `values` "" is the record itself.

    `version`: the path to the provider's version, or a function of the record (a digest
    of what syncs, where the provider's own version is too coarse); None: the modification
    time is the version. `deleted`: boolean paths; any that is True makes the record a
    tombstone.
    """

    id: str = "id"
    modified_at: str = "modifiedAt"
    version: str | Callable[[dict[str, Any]], str] | None = "version"
    values: str = "properties"
    deleted: str | tuple[str, ...] | None = None
    time: Callable[[Any], datetime] = parse_time
    # One listed record as a Change (raises RecordProblem); compiled from the fields above.
    read: Callable[[Any], Change] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "read", _reader(self))


def _reader(spec: RecordSpec) -> Callable[[Any], Change]:
    """`spec.read`: its paths parsed once, as it runs for every record of every listing.
    Every field is checked here, once: the Change itself does not validate."""
    get_id, get_time = _strict(spec.id), _strict(spec.modified_at)
    version_of = _strict(spec.version) if isinstance(spec.version, str) else spec.version
    get_values = _strict(spec.values) if spec.values else None  # "": the record itself
    flags = (spec.deleted,) if isinstance(spec.deleted, str) else spec.deleted or ()
    flag_keys = tuple(flag for flag in flags if is_key(flag))
    flag_paths = tuple(compile_path(flag) for flag in flags if not is_key(flag))
    time = spec.time
    # `parse_time` is the usual time: its common case ("...Z") is read here, a call less.
    fast_time = time is parse_time
    fromisoformat = datetime.fromisoformat

    def read(raw: Any) -> Change:
        if not isinstance(raw, dict):
            raise RecordProblem(f"record is a {type(raw).__name__}")
        try:
            raw_id = get_id(raw)
        except (KeyError, PathError):
            raw_id = None
        # `type() is str` first: the common case, without the checks it makes unneeded.
        if type(raw_id) is str and raw_id:
            external_id = raw_id
        elif isinstance(raw_id, bool) or not isinstance(raw_id, _ID_TYPES) or raw_id == "":
            raise RecordProblem(f"record without an id at {spec.id!r}")
        else:
            external_id = str(raw_id)
        try:
            try:
                when = get_time(raw)
                if fast_time and type(when) is str and when[-1:] == "Z":
                    modified_at = fromisoformat(when)
                else:
                    modified_at = time(when)
                    if modified_at.tzinfo is None:
                        raise ValueError("a time without a zone")
            except ValueError as err:
                raise ValueError(f"field {spec.modified_at!r}: {err}") from err
            version = None if version_of is None else version_of(raw)
            if type(version) is not str:
                if isinstance(version, bool) or not isinstance(version, _VERSION_TYPES):
                    raise ValueError(f"field {spec.version!r} is a {type(version).__name__}")
                version = modified_at.isoformat() if version is None else str(version)
            values = raw if get_values is None else get_values(raw)
            if not isinstance(values, dict):
                raise ValueError(f"field {spec.values!r} is a {type(values).__name__}")
            deleted = False
            for key in flag_keys:
                if raw.get(key) is True:
                    deleted = True
            for flag in flag_paths:
                if flag(raw, False) is True:
                    deleted = True
            return Change(external_id, version, modified_at, values, deleted)
        except (PathError, KeyError, ValueError) as err:
            raise RecordProblem(_problem(err), external_id=external_id) from err

    return read


def _strict(path: str) -> Callable[[Any], Any]:
    """What is at `path` in a record: KeyError or PathError when it is missing. One key
    (most paths) is an `itemgetter`, the cheapest lookup there is: it runs for every
    record listed."""
    return itemgetter(path) if is_key(path) else compile_path(path)


def _problem(err: Exception) -> str:
    if isinstance(err, PathError):
        return f"missing {err.path!r}"
    if isinstance(err, KeyError):
        return f"missing {err.args[0]!r}"
    return str(err)


class Concurrency(StrEnum):
    """How an update refuses to overwrite an edit it has not seen."""

    IF_MATCH = "if_match"  # the provider checks an If-Match header (412 when stale)
    VERSION_COMPARE = "version_compare"  # read the version first and compare
    NONE = "none"


@dataclass(frozen=True)
class WriteSpec:
    """Endpoints are (method, path template); `{path}` is the object's path, `{id}` the
    record's, `{field}`/`{key}` the upsert field and idempotency key.

    Idempotent creates: an `idempotency_header` the provider honours, or an `upsert_field`
    (an external-id property) written with the key, through the `upsert` endpoint.
    `created_status`: the status that means "made by this call"; None: every 2xx does.
    `create_body`: fields a create's body needs besides the values (HubSpot's
    `associations`).
    """

    create: tuple[str, str] = ("POST", "{path}")
    update: tuple[str, str] = ("PATCH", "{path}/{id}")
    delete: tuple[str, str] = ("DELETE", "{path}/{id}")
    upsert: tuple[str, str] = ("PATCH", "{path}/{field}/{key}")
    body_key: str | None = "properties"
    create_body: Mapping[str, Any] = field(default_factory=dict)  # more fields of a create
    idempotency_header: str | None = None
    upsert_field: str | None = None
    created_status: int | None = 201
    concurrency: Concurrency = Concurrency.IF_MATCH


@dataclass(frozen=True)
class ObjectSpec:
    """One provider object (a canonical entity type): listing, record shape, writes."""

    path: str
    records_path: str
    paginator: Paginator
    cursor: CursorStrategy
    record: RecordSpec = field(default_factory=RecordSpec)
    write: WriteSpec = field(default_factory=WriteSpec)
    list_method: str = "GET"
    list_params: Mapping[str, Any] = field(default_factory=dict)
    page_size_param: str | None = "limit"
    max_page_size: int = 100
    read_path: str = "{path}/{id}"


@dataclass(frozen=True)
class Budget:
    """A published provider limit: `max_requests` per `window_seconds` in `bucket`.

    `path_suffix`: the budget covers only requests whose path ends so (HubSpot's search,
    limited apart from its other calls), each request spending one unit as it is sent;
    None: a budget of every call, spent by the pipelines before each adapter call.
    """

    bucket: str
    max_requests: int
    window_seconds: float
    path_suffix: str | None = None


@dataclass(frozen=True)
class SubscriptionSpec:
    """A provider API that registers webhook endpoints, as data.

    POST `path` with the endpoint's URL (`url_field`), the signing secret (`secret_field`)
    and the objects it announces (`objects_field`: the provider's names, by entity type in
    `objects`) creates a subscription, whose id the answer holds at `id_path`; PATCH
    `path/{id}` with a new secret rotates it; DELETE `path/{id}` removes it. Deliveries are
    then verified as `provider` (integration_core.webhooks).
    """

    provider: str
    path: str
    objects: Mapping[str, str]
    url_field: str = "url"
    secret_field: str = "secret"  # noqa: S105 - a field name
    objects_field: str = "objects"
    id_path: str = "id"


@dataclass(frozen=True)
class ProviderSpec:
    name: str
    objects: Mapping[str, ObjectSpec]
    credential_types: frozenset[CredentialType]
    health_path: str
    budgets: tuple[Budget, ...] = ()
    errors: ErrorMap = field(default_factory=ErrorMap)
    base_url: str | None = None
    # How a connection gets an `oauth2_authorization_code` credential (the connect flow).
    oauth: OAuthSpec | None = None
    subscription: SubscriptionSpec | None = None  # None: webhooks are set up by hand


class BudgetOverride(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bucket: str = Field(min_length=1)
    max_requests: int = Field(gt=0)
    window_seconds: float = Field(gt=0)
    algorithm: Literal["exact", "bucketed"] = "exact"


class HttpConnectionConfig(BaseModel):
    """The connection config every HTTP adapter takes; providers extend it.

    `base_url` may be left out when the provider has one; `rate_limits` overrides the
    provider's budgets (e.g. a paid tier); `oauth_scopes` replaces the scopes the OAuth
    connect flow asks for (e.g. read-only ones).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: HttpUrl | None = None
    rate_limits: list[BudgetOverride] | None = None
    oauth_scopes: list[Annotated[str, Field(min_length=1, max_length=200)]] | None = Field(
        default=None, max_length=100
    )
