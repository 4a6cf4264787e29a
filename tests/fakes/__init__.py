"""Offline stand-ins for chat platforms, so adapters are tested without the network."""
