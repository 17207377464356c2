"""Heads (component kind ``head``), one per module."""
