"""The Discord adapter: interactions and messages in, the core's replies out."""
