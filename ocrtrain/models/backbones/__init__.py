"""Backbones (component kind ``backbone``), one per module."""
