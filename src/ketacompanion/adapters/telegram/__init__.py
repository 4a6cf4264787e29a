"""Telegram: python-telegram-bot translated to and from the core's vocabulary."""
