"""What a provider package brings to the sandbox, found through the provider registry.

A provider's :class:`~spaces_calendar.calendars.registry.ProviderPackage` names its :class:`SandboxPieces`: how the
sandbox process starts its fake with the demo tenant's rooms and meetings (:attr:`SandboxPieces.start`), and the
module that draws its part of the sandbox page (:attr:`SandboxPieces.page`). The runner and the page know no
provider by name.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from importlib import import_module
from pathlib import Path
from typing import Any, Protocol

from django.utils.module_loading import import_string

from spaces_calendar.calendars import registry


class PortTaken(OSError):
    """A fake could not listen on its port; the message says which setting chooses another."""


@dataclass(frozen=True)
class StartOptions:
    #: The ports the provider's fake listens on, by the provider's own names for them (``login``, ``graph`` ...);
    #: None: the ports its ``SANDBOX_*_PORT`` settings choose. A name left out is any free port (tests).
    ports: Mapping[str, int] | None
    #: Where the fake keeps what must survive a restart (subscriptions); None: nothing is kept.
    state_dir: Path | None
    now: datetime


class RunningFake(Protocol):
    """A provider's fake as the sandbox process runs it."""

    #: The provider's fake server object itself (tests and the sandbox controls reach into it).
    fake: Any

    def describe(self) -> str:
        """One line for the console: where it listens and what the demo holds."""
        ...

    def bookings(self) -> list[Any]:
        """The demo meetings as :class:`spaces_calendar.sandbox.spaces_demo.Booking`, which the simulated
        occupancy follows."""
        ...

    def maintain(self) -> None:
        """Called every second or so: keep memory bounded, save what must survive a restart."""
        ...

    def stop(self) -> None: ...


@dataclass(frozen=True)
class SandboxPieces:
    #: Shown on the console and in errors, e.g. "Microsoft 365".
    title: str
    #: Start the seeded fake; raises :class:`PortTaken`.
    start: Callable[[StartOptions], RunningFake]
    #: Dotted path of the module drawing the provider's part of the sandbox page: ``SUMMARY_TEMPLATE`` (an item of
    #: "What is simulated"), ``TEMPLATE`` (its section), ``page_context(request) -> dict`` and ``urlpatterns``
    #: (included under ``sandbox/``).
    page: str = ""


def sandbox_providers() -> list[tuple[str, SandboxPieces]]:
    """(provider key, its pieces) of every registered provider that has a sandbox."""
    return [(provider.key, import_string(provider.sandbox)) for provider in registry.registered() if provider.sandbox]


def page_modules() -> list[Any]:
    """The page modules of the registered providers' sandboxes, in registry order."""
    return [import_module(pieces.page) for _, pieces in sandbox_providers() if pieces.page]


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so that a sandbox killed mid-write leaves the old file, never half a new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_text(text)
    temporary.replace(path)
