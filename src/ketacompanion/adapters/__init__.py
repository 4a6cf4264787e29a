"""Adapters: each turns one platform's events into the core's Inbound and renders Replies."""
