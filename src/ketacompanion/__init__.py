"""ketacompanion: a companion bot for people in ketamine therapy."""

__version__ = "0.1.0"
