"""Text: trimming and case, HTML and rich text to plain, lists in one field, URLs."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field

from integration_core.mapping.converters._private import Options, expect_list, expect_text
from integration_core.mapping.converters.registry import (
    ConversionContext,
    NoOptions,
    register_converter,
)
from integration_core.mapping.errors import ConversionError

__all__: list[str] = []


def _same(value: Any, _options: Any, _ctx: ConversionContext) -> Any:
    """Writes send the canonical value as it is."""
    return value


class TrimOptions(Options):
    """`collapse`: also turn every run of inner whitespace into one space."""

    collapse: bool = False


def _trim_text(value: Any, options: TrimOptions, _: ConversionContext) -> str | None:
    text = expect_text(value)
    text = " ".join(text.split()) if options.collapse else text.strip()
    return text or None


@register_converter("trim", options=TrimOptions, to_provider=_trim_text)
def _trim(value: Any, options: TrimOptions, ctx: ConversionContext) -> str | None:
    """Leading and trailing whitespace removed (inner runs too with `collapse`); an empty
    text becomes None. Both ways."""
    return _trim_text(value, options, ctx)


@register_converter("lowercase", options=NoOptions, to_provider=_same)
def _lowercase(value: Any, options: NoOptions, _: ConversionContext) -> str:
    """Lower case (Unicode-aware) on read; writes send the canonical text unchanged."""
    return expect_text(value).lower()


@register_converter("uppercase", options=NoOptions, to_provider=_same)
def _uppercase(value: Any, options: NoOptions, _: ConversionContext) -> str:
    """Upper case on read (codes such as "de" -> "DE"); writes send it unchanged."""
    return expect_text(value).upper()


@register_converter("titlecase", options=NoOptions, to_provider=_same)
def _titlecase(value: Any, options: NoOptions, _: ConversionContext) -> str:
    """Each word capitalised on read ("ADA lovelace" -> "Ada Lovelace"; "o'neil" ->
    "O'Neil"); writes send it unchanged."""
    return re.sub(
        r"[^\W\d_]+(?:'[^\W\d_]+)?",
        lambda m: "'".join(p[:1].upper() + p[1:].lower() for p in m.group().split("'")),
        expect_text(value),
    )


class TruncateOptions(Options):
    """`max_length`: the provider field's limit, in characters."""

    max_length: int = Field(gt=0)


def _truncate_text(value: Any, options: TruncateOptions, _: ConversionContext) -> str:
    return expect_text(value)[: options.max_length]


@register_converter("truncate", options=TruncateOptions, to_provider=_truncate_text)
def _truncate(value: Any, options: TruncateOptions, ctx: ConversionContext) -> str:
    """Cut to `max_length` characters both ways: a write never fails on a provider's field
    length limit (Salesforce `Subject` 255)."""
    return _truncate_text(value, options, ctx)


_BLOCKS = frozenset(
    {"p", "div", "br", "li", "ul", "ol", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote"}
)


class _PlainText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCKS and tag != "br":
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)

    def text(self) -> str:
        lines = (" ".join(line.split()) for line in "".join(self.parts).split("\n"))
        return "\n".join(line for line in lines if line)


def _text_to_html(value: Any, options: NoOptions, _: ConversionContext) -> str:
    lines = expect_text(value).split("\n")
    return "".join(f"<p>{html.escape(line, quote=False)}</p>" for line in lines)


@register_converter("html_to_text", options=NoOptions, to_provider=_text_to_html)
def _html_to_text(value: Any, options: NoOptions, _: ConversionContext) -> str | None:
    """HTML (a HubSpot task body, a Salesforce rich text area) <-> plain text: tags dropped,
    entities decoded, one line per block; writes send each line as an escaped `<p>`."""
    parser = _PlainText()
    parser.feed(expect_text(value))
    parser.close()
    return parser.text() or None


# Notion refuses a request whose rich text run holds more than 2,000 characters of
# `text.content`, or whose rich text array has more than 100 runs (400 validation_error;
# https://developers.notion.com/reference/request-limits#size-limits). Its lengths are
# JavaScript's, in UTF-16 code units.
_RUN_LIMIT = 2000
_RUNS_LIMIT = 100


def _chunks(text: str, limit: int) -> list[str]:
    """`text` in pieces of at most `limit` UTF-16 code units, never splitting a character."""
    pieces: list[str] = []
    start = units = 0
    for index, char in enumerate(text):
        width = 2 if ord(char) > 0xFFFF else 1
        if units + width > limit:
            pieces.append(text[start:index])
            start, units = index, 0
        units += width
    pieces.append(text[start:])
    return pieces


def _text_to_rich(value: Any, options: NoOptions, _: ConversionContext) -> list[dict[str, Any]]:
    text = expect_text(value)
    pieces = _chunks(text, _RUN_LIMIT)
    if len(pieces) > _RUNS_LIMIT:
        raise ConversionError(
            f"rich text of {len(text)} characters exceeds Notion's "
            f"{_RUNS_LIMIT} runs of {_RUN_LIMIT}"
        )
    # A request's rich text needs only the content; `plain_text` is the API's read-only echo.
    return [{"type": "text", "text": {"content": piece}} for piece in pieces]


@register_converter("rich_text", options=NoOptions, to_provider=_text_to_rich)
def _rich_text(value: Any, options: NoOptions, _: ConversionContext) -> str | None:
    """A rich-text array (Notion's `[{"plain_text": ...}, ...]`, annotations and all) <->
    plain text; writes send one unannotated text run."""
    pieces = []
    for run in expect_list(value):
        if not isinstance(run, dict):
            raise ConversionError(f"a rich text run must be an object, got {type(run).__name__}")
        text = run.get("plain_text")
        if text is None and isinstance(run.get("text"), dict):
            text = run["text"].get("content")
        pieces.append(expect_text(text if text is not None else ""))
    return "".join(pieces) or None


class ListOptions(Options):
    """`separator` between items (HubSpot and Salesforce multi-selects use ";")."""

    separator: str = Field(default=";", min_length=1)


def _split_text(value: Any, options: ListOptions, _: ConversionContext) -> list[str]:
    return [item.strip() for item in expect_text(value).split(options.separator) if item.strip()]


def _join_items(value: Any, options: ListOptions, _: ConversionContext) -> str:
    items = [expect_text(item).strip() for item in expect_list(value)]
    for item in items:
        if options.separator in item:
            raise ConversionError(f"item {item!r} contains the separator {options.separator!r}")
    return options.separator.join(item for item in items if item)


@register_converter("split", options=ListOptions, to_provider=_join_items)
def _split(value: Any, options: ListOptions, ctx: ConversionContext) -> list[str]:
    """One text field of items ("a;b;c") <-> a list (["a", "b", "c"]); blanks dropped,
    items trimmed. Writing an item that contains the separator is an error."""
    return _split_text(value, options, ctx)


@register_converter("join", options=ListOptions, to_provider=_split_text)
def _join(value: Any, options: ListOptions, ctx: ConversionContext) -> str:
    """A provider list (["a", "b"]) <-> one canonical text ("a;b"), the reverse of `split`."""
    return _join_items(value, options, ctx)


def _only_item(value: Any, options: NoOptions, _: ConversionContext) -> list[Any]:
    return [value]


@register_converter("first", options=NoOptions, to_provider=_only_item)
def _first(value: Any, options: NoOptions, _: ConversionContext) -> Any:
    """A list's first item (None for an empty list) <-> a one-item list. Use a path filter
    instead where the provider marks the item (`emails[primary=true].value`)."""
    items = expect_list(value)
    return items[0] if items else None


class UrlOptions(Options):
    """`default_scheme` added to a URL written without one ("acme.com")."""

    default_scheme: Literal["https", "http"] = "https"


def _normal_url(value: Any, options: UrlOptions) -> str:
    text = expect_text(value).strip()
    if "://" not in text:
        text = f"{options.default_scheme}://{text}"
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as err:
        raise ConversionError(f"not a URL: {text!r}") from err
    host = parts.hostname
    if parts.scheme.lower() not in ("http", "https") or not host or " " in text:
        raise ConversionError(f"not an http(s) URL: {text!r}")
    netloc = host.lower() if port is None else f"{host.lower()}:{port}"
    return urlunsplit((parts.scheme.lower(), netloc, parts.path, parts.query, parts.fragment))


@register_converter(
    "url",
    options=UrlOptions,
    to_provider=lambda value, options, _ctx: _normal_url(value, options),
)
def _url(value: Any, options: UrlOptions, _: ConversionContext) -> str:
    """An http(s) URL, checked and normalised both ways: scheme added when missing, scheme
    and host lower case; user info is dropped."""
    return _normal_url(value, options)


def _domain_to_url(value: Any, options: NoOptions, _: ConversionContext) -> str:
    return f"https://{expect_text(value).strip().lower()}"


@register_converter("domain", options=NoOptions, to_provider=_domain_to_url)
def _domain(value: Any, options: NoOptions, _: ConversionContext) -> str:
    """The domain of a website or an email address ("https://www.Acme.com/about",
    "ops@acme.com" -> "acme.com"; a leading "www." is dropped) <-> "https://<domain>"."""
    text = expect_text(value).strip()
    if "@" in text and "://" not in text:
        text = text.rpartition("@")[2]
    host = urlsplit(_normal_url(text, UrlOptions())).hostname or ""
    return host.removeprefix("www.")


class NullIfOptions(Options):
    """`values` that mean "no value" in this provider (compared after trimming, any case)."""

    values: list[str] = Field(default_factory=lambda: ["", "n/a", "na", "none", "null", "-"])


@register_converter("null_if", options=NullIfOptions, to_provider=_same)
def _null_if(value: Any, options: NullIfOptions, _: ConversionContext) -> Any:
    """A placeholder ("N/A", "-", "none") -> None; any other value passes. Writes send the
    canonical value (None clears the field)."""
    if isinstance(value, str) and value.strip().casefold() in {
        v.strip().casefold() for v in options.values
    }:
        return None
    return value


@register_converter("text", options=NoOptions, to_provider=_same)
def _text(value: Any, options: NoOptions, _: ConversionContext) -> str:
    """Any scalar as text (17 -> "17"); a list or an object is an error."""
    return expect_text(value)
