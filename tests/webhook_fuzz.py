"""The fuzz test every webhook endpoint runs, whoever calls it: Graph today, Webex and Cisco Spaces tomorrow.

An endpoint registers a :class:`WebhookSpec`: how to set up the world a valid request needs, the JSON document of a
valid, authentic request, what the endpoint may write, and which fields make a request unauthentic when changed.
:func:`fuzz` then sends that request and variants of it: malformed bytes, wrong content types, oversized bodies and
batches, JSON nested thousands deep, every field replaced by a value of another type, strings with lone surrogates
and NUL bytes, boundary and impossible dates, hostile query strings. Every answer must be a 4xx or one of the
endpoint's documented successes (never a 5xx, never an exception), every refusal must leave a log line of the
endpoint's own, a request must never log more than a few lines (so a big batch cannot flood the log), and a
refused or unauthentic request must write nothing.

:func:`discover` walks the URLconf for endpoints that take POSTs from outside (everything under ``webhooks/``,
partner endpoints under ``partner/`` that accept a POST, and any other CSRF-exempt view that is not part of the
token-authenticated REST API), so ``tests/test_webhook_fuzz.py`` fails when one is added without a spec here.
"""

from __future__ import annotations

import copy
import json
import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class WebhookSpec:
    """What the fuzz needs to know about one webhook endpoint."""

    #: The URL name (``reverse`` gives the path).
    url_name: str
    #: Creates what a valid request needs (tenant, subscription, ...) and returns it.
    setup: Callable[[], Any]
    #: The JSON document of a valid, authentic request for what ``setup`` returned.
    valid: Callable[[Any], Any]
    #: Everything the endpoint may write, as a value compared with ``==`` before and after each request.
    state: Callable[[], Any]
    #: The endpoint's documented success statuses.
    success: frozenset[int]
    #: Keys whose values make a request authentic (a subscription id, a shared secret): a request with one of them
    #: changed, dropped or replaced together with what contains it must write nothing.
    secret_keys: frozenset[str]
    #: The largest body the endpoint accepts; one byte more must be refused.
    max_body_bytes: int
    #: Prefix of the endpoint's own loggers: a refusal must be logged there (Django's "Bad Request" line alone
    #: says nothing about why).
    logger: str
    #: The key of the batch list and the most items it may hold, for a batch one item too long.
    batch_key: str | None = None
    max_items: int | None = None
    #: Headers a request needs for the body it carries (a signature over it, say); none by default.
    headers_for: Callable[[bytes], dict[str, str]] = field(default=lambda body: {})
    #: Log lines one request may write at most (ours, plus Django's own line for a 4xx).
    max_log_lines: int = 3


REGISTRY: dict[str, WebhookSpec] = {}


def register(spec: WebhookSpec) -> WebhookSpec:
    REGISTRY[spec.url_name] = spec
    return spec


# --------------------------------------------------------------------------------------------------------
# Which endpoints take POSTs from outside
# --------------------------------------------------------------------------------------------------------

_PLACEHOLDERS = {"int": "1", "str": "x", "slug": "x", "path": "x", "uuid": "00000000-0000-0000-0000-000000000000"}


def _routes(patterns: list, prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), pattern


def _example_path(route: str) -> str:
    return "/" + re.sub(r"<(?:(\w+):)?\w+>", lambda match: _PLACEHOLDERS.get(match.group(1) or "str", "x"), route)


def discover(client: Client) -> dict[str, str]:
    """URL name -> route of every endpoint that takes POSTs from outside (needs the database: a partner endpoint
    is asked with a bare POST whether it takes one)."""
    found: dict[str, str] = {}
    for route, pattern in _routes(get_resolver().url_patterns):
        callback = pattern.callback
        # DRF views are CSRF-exempt too, but they are the token-authenticated API, which schemathesis covers.
        outside = route.startswith("partner/") or (getattr(callback, "csrf_exempt", False) and
                                                   not hasattr(callback, "cls"))
        if route.startswith("webhooks/") or (outside and client.post(_example_path(route)).status_code != 405):
            found[pattern.name or route] = route
    return found


# --------------------------------------------------------------------------------------------------------
# Variants
# --------------------------------------------------------------------------------------------------------


class Raw(str):
    """JSON text put into the document verbatim (nesting too deep for ``json.dumps``, NaN, huge numbers)."""


def deep(depth: int, kind: str = "[") -> Raw:
    return Raw("[" * depth + "]" * depth if kind == "[" else '{"a":' * depth + "1" + "}" * depth)


BOUNDARY_DATES = [
    "0001-01-01T00:00:00+14:00", "0001-01-01T00:00:00Z", "0001-01-01T00:00:00.0000000-14:00",
    "9999-12-31T23:59:59.9999999-14:00", "9999-12-31T23:59:59+14:00", "9999-12-31T23:59:59.9999999Z",
    "0000-01-01T00:00:00Z", "-0001-01-01T00:00:00Z", "+10000-01-01T00:00:00Z", "2024-02-30T00:00:00Z",
    "2024-13-01T00:00:00Z", "2024-01-01T24:00:00Z", "2024-01-01T00:00:60Z", "2024-01-01T00:00:00+99:99",
    "2024-01-01T00:00:00-24:00", "2024-01-01T00:00:00.123456789012345Z", "2024-01-01", "T", "",
]
HOSTILE_TEXT = ["\ud800", "\udfff", "a\ud83db", "\x00", "id\x00tail", "\ufeff", "\u2028", "\ufffe", "%00", "'; --",
                "x" * 100_000]
HOSTILE_RAW = [deep(1000), deep(1000, "{"), deep(100_000), Raw("NaN"), Raw("-Infinity"), Raw("1e999999"),
               Raw("1" * 5000), Raw("-0"), Raw("1.0e-400")]
CONTENT_TYPES = ["application/json", "application/json; charset=utf-16", "text/plain", "",
                 "application/x-www-form-urlencoded", "multipart/form-data; boundary=xyz"]
QUERIES = ["", "?validationToken=", "?validationToken=%00", "?validationToken=%ED%A0%80", "?validationToken=%FF",
           "?validationToken=" + "a" * 10_000, "?validationToken=x&validationToken=y"]


@dataclass(frozen=True)
class Variant:
    label: str
    body: bytes
    #: False when a secret was changed: such a request must write nothing, whatever it is answered.
    authentic: bool
    content_type: str = "application/json"
    query: str = ""


def encode(document: Any) -> bytes:
    """JSON with :class:`Raw` text verbatim and lone surrogates escaped (``\\ud800``, as JSON allows)."""
    raws: list[str] = []

    def placeholders(value: Any) -> Any:
        if isinstance(value, Raw):
            raws.append(str(value))
            return f"@@raw{len(raws) - 1}@@"
        if isinstance(value, dict):
            return {key: placeholders(item) for key, item in value.items()}
        if isinstance(value, list):
            return [placeholders(item) for item in value]
        return value

    text = json.dumps(placeholders(document), ensure_ascii=True, allow_nan=True)
    for index, raw in enumerate(raws):
        text = text.replace(f'"@@raw{index}@@"', raw, 1)
    return text.encode("ascii")


def paths(document: Any, prefix: Path = ()) -> Iterator[Path]:
    yield prefix
    if isinstance(document, dict):
        for key, value in document.items():
            yield from paths(value, (*prefix, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield from paths(value, (*prefix, index))


def replaced(document: Any, path: Path, value: Any) -> Any:
    if not path:
        return value
    result = copy.deepcopy(document)
    parent = result
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    return result


def dropped(document: Any, path: Path) -> Any:
    result = copy.deepcopy(document)
    parent = result
    for step in path[:-1]:
        parent = parent[step]
    del parent[path[-1]]
    return result


def _touches_secret(document: Any, path: Path, secret_keys: frozenset[str]) -> bool:
    """Whether changing what is at ``path`` changes a secret: the secret itself or anything that holds one."""
    return any(secret and secret[:len(path)] == path and isinstance(secret[-1], str) and secret[-1] in secret_keys
               for secret in paths(document))


def _strings(document: Any) -> list[Path]:
    return [path for path in paths(document) if isinstance(_at(document, path), str)]


def _at(document: Any, path: Path) -> Any:
    for step in path:
        document = document[step]
    return document


def _is_date_field(document: Any, path: Path) -> bool:
    return bool(path) and isinstance(path[-1], str) and (
        path[-1].lower().endswith(("datetime", "date", "time", "at")) or
        bool(re.match(r"\d{4}-\d\d-\d\dT", str(_at(document, path)))))


def fixed_variants(spec: WebhookSpec, document: Any) -> Iterator[Variant]:
    """The attacks known to have hurt, each sent once: they must never depend on a random draw."""
    body = encode(document)
    yield Variant("empty body", b"", False)
    yield Variant("not JSON", b"{not json", False)
    yield Variant("invalid UTF-8", b"\xff\xfe" + body, False)
    yield Variant("truncated", body[: len(body) // 2], False)
    for raw in HOSTILE_RAW:
        yield Variant(f"top level {raw[:20]!r}", encode(raw), False)
    for path in paths(document):
        if path:
            yield Variant(f"{path} nested 1000 deep", encode(replaced(document, path, deep(1000))),
                          not _touches_secret(document, path, spec.secret_keys))
    for path in _strings(document):
        authentic = not _touches_secret(document, path, spec.secret_keys)
        for text in HOSTILE_TEXT[:6]:
            yield Variant(f"{path} = {text!r}", encode(replaced(document, path, text)), authentic)
        if _is_date_field(document, path):
            for moment in BOUNDARY_DATES:
                yield Variant(f"{path} = {moment!r}", encode(replaced(document, path, moment)), authentic)
    padding = spec.max_body_bytes + 1 - len(encode({**document, "padding": ""}))
    yield Variant("one byte over the body limit", encode({**document, "padding": " " * max(padding, 0)}), False)
    yield Variant("a body of 8 MB", b" " * (8 << 20) + body, False)
    if spec.batch_key is not None and spec.max_items is not None:
        items = document[spec.batch_key]
        too_many = {**document, spec.batch_key: (items * (spec.max_items + 1))[: spec.max_items + 1]}
        yield Variant(f"{spec.max_items + 1} items", encode(too_many), False)
    for content_type in CONTENT_TYPES[1:]:
        yield Variant(f"content type {content_type!r}", body, True, content_type=content_type)
    for query in QUERIES[1:]:
        yield Variant(f"query {query[:40]!r}", body, True, query=query)


def _hostile_text() -> st.SearchStrategy[str]:
    pieces = st.one_of(st.characters(), st.characters(categories=["Cs"]), st.sampled_from(["\x00", "\ufeff", "\\"]))
    return st.one_of(st.lists(pieces, max_size=12).map("".join), st.sampled_from(HOSTILE_TEXT))


def _hostile_dates() -> st.SearchStrategy[str]:
    offsets = st.sampled_from(["Z", "+14:00", "-14:00", "+00:00", "+05:45", "-23:59", ""])
    generated = st.tuples(st.datetimes(), offsets).map(lambda pair: pair[0].isoformat() + pair[1])
    return st.one_of(st.sampled_from(BOUNDARY_DATES), generated)


def hostile_values() -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.none(), st.booleans(), st.integers(), st.sampled_from([2**63, -(2**63) - 1, 2**64]),
        st.floats(allow_nan=False, allow_infinity=False), _hostile_text(), _hostile_dates(),
        st.sampled_from(HOSTILE_RAW),
    )
    return st.recursive(scalars, lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=8), children, max_size=3)), max_leaves=6)


def variants(spec: WebhookSpec, document: Any) -> st.SearchStrategy[Variant]:
    """Random variants: up to three fields changed or dropped, optionally another content type or query string,
    or bytes that are not the document at all."""
    all_paths = list(paths(document))
    change = st.tuples(st.sampled_from(all_paths), st.one_of(st.just(_DROP), hostile_values()))

    @st.composite
    def mutated(draw: st.DrawFn) -> Variant:
        current, authentic, labels = document, True, []
        for path, value in draw(st.lists(change, min_size=1, max_size=3)):
            if value is _DROP and not path:
                continue  # dropping the whole document: the empty body is a fixed variant
            try:
                current = dropped(current, path) if value is _DROP else replaced(current, path, value)
            except (KeyError, IndexError, TypeError):
                continue  # an earlier change removed or replaced what this one names
            authentic = authentic and not _touches_secret(document, path, spec.secret_keys)
            labels.append(f"{path} {'dropped' if value is _DROP else '= ' + repr(value)[:60]}")
        return Variant("; ".join(labels), encode(current), authentic,
                       content_type=draw(st.sampled_from(CONTENT_TYPES)), query=draw(st.sampled_from(QUERIES)))

    garbage = st.binary(max_size=2000).map(lambda data: Variant("random bytes", data, False))
    return st.one_of(mutated(), garbage)


_DROP = object()


# --------------------------------------------------------------------------------------------------------
# Sending and judging
# --------------------------------------------------------------------------------------------------------


@contextmanager
def captured_logs() -> Iterator[list[logging.LogRecord]]:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler, root = Keep(level=logging.DEBUG), logging.getLogger()
    root.addHandler(handler)
    try:
        yield records
    finally:
        root.removeHandler(handler)


def send(client: Client, spec: WebhookSpec, variant: Variant) -> tuple[int, bool, list[logging.LogRecord]]:
    """Send one variant in a savepoint rolled back afterwards (each variant meets the same world); returns the
    status, whether anything the endpoint may write changed, and the log records."""
    with transaction.atomic():
        before = spec.state()
        with captured_logs() as records:
            response = client.generic("POST", reverse(spec.url_name) + variant.query, data=variant.body,
                                      content_type=variant.content_type, headers=spec.headers_for(variant.body))
        changed = spec.state() != before
        transaction.set_rollback(True)
    return response.status_code, changed, records


def judge(spec: WebhookSpec, variant: Variant, status: int, changed: bool, records: list[logging.LogRecord]) -> None:
    where = f"{spec.url_name}, {variant.label}"
    assert status < 500, f"{where}: {status}"
    assert 400 <= status < 500 or status in spec.success, f"{where}: {status}, not a 4xx or a documented success"
    if status >= 400:
        assert not changed, f"{where}: refused with {status}, but it wrote"
        assert any(record.levelno >= logging.WARNING and record.name.startswith(spec.logger) for record in records), (
            f"{where}: refused with {status} without a log line of {spec.logger}")
    if not variant.authentic:
        assert not changed, f"{where}: not authentic, answered {status}, but it wrote"
    assert len(records) <= spec.max_log_lines, f"{where}: {len(records)} log lines"


FUZZ_SETTINGS = hypothesis_settings(
    max_examples=150, deadline=None, database=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


def fuzz(client: Client, spec: WebhookSpec, *, max_examples: int | None = None) -> int:
    """Send the valid request (it must succeed and write), the fixed variants and the random ones; returns how
    many requests were sent."""
    document = spec.valid(spec.setup())
    status, changed, records = send(client, spec, Variant("the valid request", encode(document), True))
    assert status in spec.success and changed, f"{spec.url_name}: the valid request got {status} (wrote: {changed})"
    sent = [1]
    for variant in fixed_variants(spec, document):
        judge(spec, variant, *send(client, spec, variant))
        sent[0] += 1

    @(FUZZ_SETTINGS if max_examples is None else hypothesis_settings(FUZZ_SETTINGS, max_examples=max_examples))
    @given(variant=variants(spec, document))
    def random_variants(variant: Variant) -> None:
        judge(spec, variant, *send(client, spec, variant))
        sent[0] += 1

    random_variants()
    return sent[0]
