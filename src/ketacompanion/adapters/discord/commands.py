"""The slash commands: each one hands its name and text to the adapter. Descriptions
come from the docstrings. ``Range`` and choices are not checked on the bot's side: the
core validates every value."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands

Interaction = discord.Interaction[Any]


def register(tree: app_commands.CommandTree[Any], adapter: Any) -> None:
    tree.allowed_contexts = app_commands.AppCommandContext(guild=True, dm_channel=True, private_channel=False)
    tree.allowed_installs = app_commands.AppInstallationType(guild=True, user=False)

    @tree.command()
    async def start(interaction: Interaction) -> None:
        """Begin: what I do, your consent, your country and timezone."""
        await adapter.on_command(interaction, "start")

    @tree.command()
    async def learn(interaction: Interaction) -> None:
        """Short lessons about ketamine therapy, with their sources."""
        await adapter.on_command(interaction, "learn")

    @tree.command()
    @app_commands.describe(which="daily (the default), phq9 or gad7")
    async def checkin(interaction: Interaction, which: str = "") -> None:
        """Check in now, privately."""
        await adapter.on_command(interaction, "checkin", which)

    @tree.command()
    async def mood(interaction: Interaction) -> None:
        """Your mood over time, as a chart (private)."""
        await adapter.on_command(interaction, "mood")

    @tree.command()
    async def summary(interaction: Interaction) -> None:
        """A one-page summary to bring to your clinician (private)."""
        await adapter.on_command(interaction, "summary")

    @tree.command()
    async def history(interaction: Interaction) -> None:
        """Your recent check-ins, and correcting an answer within 7 days (private)."""
        await adapter.on_command(interaction, "history")

    @tree.command()
    @app_commands.describe(note="what you want to note (leave empty to see your entries)")
    async def journal(interaction: Interaction, note: str = "") -> None:
        """Notes you keep, encrypted; shown in your clinician summary only if you choose (private)."""
        await adapter.on_command(interaction, "journal", note)

    @tree.command()
    async def sessions(interaction: Interaction) -> None:
        """Your dosing sessions and the check-ins around them (private)."""
        await adapter.on_command(interaction, "sessions")

    @tree.command()
    async def schedule(interaction: Interaction) -> None:
        """When your check-ins arrive."""
        await adapter.on_command(interaction, "schedule")

    @tree.command()
    @app_commands.describe(until="how long, such as 3 days or 2026-12-24")
    async def pause(interaction: Interaction, until: str = "") -> None:
        """Pause check-ins for a while."""
        await adapter.on_command(interaction, "pause", until)

    @tree.command()
    async def resume(interaction: Interaction) -> None:
        """Resume paused check-ins."""
        await adapter.on_command(interaction, "resume")

    @tree.command()
    async def safetyplan(interaction: Interaction) -> None:
        """Your own safety plan: warning signs, coping steps, people to reach (private)."""
        await adapter.on_command(interaction, "safetyplan")

    @tree.command()
    async def crisis(interaction: Interaction) -> None:
        """Crisis lines for your country, now. Works anywhere."""
        await adapter.on_command(interaction, "crisis")

    @tree.command()
    async def privacy(interaction: Interaction) -> None:
        """What I keep about you, and why."""
        await adapter.on_command(interaction, "privacy")

    @tree.command()
    async def export(interaction: Interaction) -> None:
        """Everything I keep about you, as a file (private)."""
        await adapter.on_command(interaction, "export")

    @tree.command()
    async def delete(interaction: Interaction) -> None:
        """Erase everything I keep about you."""
        await adapter.on_command(interaction, "delete")

    @tree.command()
    async def settings(interaction: Interaction) -> None:
        """Your country, timezone, language and notes."""
        await adapter.on_command(interaction, "settings")

    @tree.command(name="help")
    async def help_(interaction: Interaction) -> None:
        """What I can do."""
        await adapter.on_command(interaction, "help")

    @tree.command()
    @app_commands.guild_only()
    async def screening(interaction: Interaction, on: bool) -> None:
        """Whether I may read your messages in this server's screened channels."""
        await adapter.on_setup(interaction, "screening", on=on)

    tree.add_command(SetupGroup(adapter))


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class SetupGroup(app_commands.Group, name="setup"):
    """Set up this server: moderator alerts, crisis lines, screened channels."""

    def __init__(self, adapter: Any) -> None:
        super().__init__()
        self._adapter = adapter

    @app_commands.command()
    @app_commands.describe(channel="where alerts go (leave empty to turn alerts off)", role="who is pinged")
    async def alerts(
        self, interaction: Interaction, channel: discord.TextChannel | None = None, role: discord.Role | None = None
    ) -> None:
        """Where moderator alerts go, and which role they ping."""
        can_post = False
        if channel is not None and interaction.guild is not None:
            found = interaction.guild.get_channel(channel.id)
            me = interaction.guild.me
            if found is not None and me is not None:
                perms = found.permissions_for(me)
                can_post = perms.view_channel and perms.send_messages and perms.embed_links
        await self._adapter.on_setup(
            interaction, "alerts", channel_id=str(channel.id) if channel else None,
            role_id=str(role.id) if role else None, can_post=can_post,
        )  # fmt: skip

    @app_commands.command()
    @app_commands.describe(code="two-letter country code, such as US, GB or DE")
    async def country(self, interaction: Interaction, code: str) -> None:
        """The server's default country for crisis lines."""
        await self._adapter.on_setup(interaction, "country", code=code)

    @app_commands.command()
    @app_commands.describe(mode="screened, venting (I stay silent) or off")
    @app_commands.choices(mode=[app_commands.Choice(name=m, value=m) for m in ("screened", "venting", "off")])
    async def channel(self, interaction: Interaction, channel: discord.TextChannel, mode: str) -> None:
        """Screen a channel for members who may need support, or mark it for venting."""
        await self._adapter.on_setup(interaction, "channel", channel_id=str(channel.id), mode=mode)

    @app_commands.command()
    async def show(self, interaction: Interaction) -> None:
        """This server's setup."""
        await self._adapter.on_setup(interaction, "show")
