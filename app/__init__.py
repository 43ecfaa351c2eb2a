"""Unbroken: a self-hostable chat UI for LLM APIs whose answers survive every drop."""

__version__ = "0.1.0"
