"""Running the bot: every configured platform and the scheduler under one task group.

A service is ``async def serve(stop: asyncio.Event)``: it starts, waits for ``stop`` and
cleans up after itself. ``run`` builds the app once, asks each configured platform for
its service (each platform adds its sender to the app first), then starts the extra
services (the scheduler) beside them. On a signal the extra services stop first, then the
platforms; when one fails, the others are cancelled and still run their clean-up. The event loop belongs to the caller: nothing here lets a chat
library own it.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Sequence

from ketacompanion.app import build_app
from ketacompanion.services import Platform, Service, ServiceFactory
from ketacompanion.settings import Settings


def configured_platforms(settings: Settings) -> list[Platform]:
    """Every platform whose token is set. Imported only when used, so a deployment on one
    platform never loads the other's library."""
    found: list[Platform] = []
    if settings.telegram_token is not None:
        from ketacompanion.adapters.telegram.runner import check_settings, telegram_platform

        found.append(Platform("telegram", check_settings, telegram_platform))
    if settings.discord_token is not None:
        from ketacompanion.adapters.discord.runner import check_settings as check_discord
        from ketacompanion.adapters.discord.runner import discord_platform

        found.append(Platform("discord", check_discord, discord_platform))
    return found


async def run_services(services: Sequence[Service], stop: asyncio.Event, first: Sequence[Service] = ()) -> None:
    """Run every service until ``stop``; the first failure stops the rest and is raised.

    The ``first`` services (the scheduler) stop first, and ``services`` (the platforms)
    only once those have finished: a scheduled send under way completes through a client
    that is still open, instead of ending with an outcome nobody knows."""
    after = asyncio.Event()
    try:
        async with asyncio.TaskGroup() as group:
            leading = [group.create_task(service(stop)) for service in first]
            for service in services:
                group.create_task(service(after))
            await stop.wait()
            if leading:
                await asyncio.wait(leading)
            after.set()
    except BaseExceptionGroup as failed:
        if len(failed.exceptions) == 1:
            raise failed.exceptions[0] from None
        raise


def stop_on_signals(stop: asyncio.Event) -> Callable[[], None]:
    """SIGTERM and SIGINT set ``stop``; returns the function that removes the handlers."""
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT)
    for signum in signals:
        loop.add_signal_handler(signum, stop.set)

    def remove() -> None:
        for signum in signals:
            loop.remove_signal_handler(signum)

    return remove


async def run(
    settings: Settings, platforms: Sequence[Platform], extra: Sequence[ServiceFactory] = ()
) -> None:
    """``ketacompanion run``: the platforms plus ``extra`` services, until a signal."""
    for platform in platforms:
        platform.check(settings)
    app = await build_app(settings)
    try:
        services = [platform.service(app) for platform in platforms]
        extras = [make(app) for make in extra]
        stop = asyncio.Event()
        remove = stop_on_signals(stop)
        try:
            await run_services(services, stop, first=extras)
        finally:
            remove()
    finally:
        await app.close()
