"""Necks (component kind ``neck``), one per module."""
