"""Losses (component kind ``loss``), one per module, built by name from the model config's ``loss``."""
