"""What the run loop and the platform runners share: a service, a platform, and the two
ways a platform can refuse to start. Kept apart from ``runtime`` so the runners never
import the module that imports them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ketacompanion.app import App
from ketacompanion.settings import Settings

Service = Callable[[asyncio.Event], Awaitable[None]]
ServiceFactory = Callable[[App], Service]  # called after every platform is in app.senders


class PlatformConfigError(Exception):
    """A platform setting is missing or contradicts another; the message names it."""


class PlatformUnavailable(Exception):
    """A platform could not be reached or refused the token at start; one line says which."""


@dataclass(frozen=True, slots=True)
class Platform:
    """A chat platform as ``run`` needs it: a settings check before anything is built,
    and a factory that builds its adapter, adds its sender and returns its service."""

    name: str
    check: Callable[[Settings], None]
    service: ServiceFactory
