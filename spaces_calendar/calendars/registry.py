"""The calendar providers this server offers, each one package that describes itself.

``settings.CALENDAR_PROVIDERS`` maps a provider's key to its package's :class:`ProviderPackage` (by dotted path, in
``<package>/provider.py``). Everything that used to be edited per provider reads it from here: the root URLconf
includes each package's ``urls``, the Integrations page builds a tile from its metadata, the sync engine gets its
:class:`~spaces_calendar.calendars.remote.CalendarProvider` and the sandbox its demo. The engine imports no
provider: the dependency points from the packages to this module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.urls import URLResolver, include, path
from django.utils.module_loading import import_string

if TYPE_CHECKING:
    from .remote import CalendarProvider


@dataclass(frozen=True)
class ProviderPackage:
    """What a provider package tells the rest of the app about itself."""

    #: The ``Provider`` value its connections are stored under, and the ``<provider>`` of the rooms pages' URLs.
    key: str
    #: The Integrations tile's heading, e.g. "Office 365".
    title: str
    #: One sentence under the heading: what connecting it does.
    tile_text: str
    #: What the connection's ``external_tenant_id`` is called at this provider (shown on the tile).
    account_label: str
    #: Name of the URL that starts onboarding (one of the package's ``urls``).
    connect_url: str
    #: Dotted path of the package's URLconf module, included by the root URLconf at the site's root.
    urls: str
    #: Dotted path of its ``CalendarProvider`` class (instantiated once per process).
    calendar: str
    #: Whether this server has the provider's credentials (read at call time, so settings can change in tests).
    is_configured: Callable[[], bool]
    #: Dotted path of its :class:`spaces_calendar.sandbox.pieces.SandboxPieces`, or "" for none.
    sandbox: str = ""


def registered() -> list[ProviderPackage]:
    """Every registered provider, in the order the settings list them."""
    return [_load(key, dotted) for key, dotted in settings.CALENDAR_PROVIDERS.items()]


def is_registered(key: str) -> bool:
    return key in settings.CALENDAR_PROVIDERS


def package(key: str) -> ProviderPackage:
    try:
        dotted = settings.CALENDAR_PROVIDERS[key]
    except KeyError:
        raise LookupError(f"no calendar provider registered as {key!r}") from None
    return _load(key, dotted)


def calendar_provider(key: str) -> CalendarProvider:
    """The provider's ``CalendarProvider``, one instance per class and process (they cache clients and tokens)."""
    dotted = package(key).calendar
    return _instances.get(dotted) or _instances.setdefault(dotted, import_string(dotted)())


def url_patterns() -> list[URLResolver]:
    """One ``include`` per registered provider; each package's ``urls`` spells out its own full paths."""
    return [path("", include(provider.urls)) for provider in registered()]


def _load(key: str, dotted: str) -> ProviderPackage:
    provider = import_string(dotted)
    if not isinstance(provider, ProviderPackage) or provider.key != key:
        raise LookupError(f"CALENDAR_PROVIDERS[{key!r}] = {dotted!r} is not the ProviderPackage of {key!r}")
    return provider


_instances: dict[str, CalendarProvider] = {}
