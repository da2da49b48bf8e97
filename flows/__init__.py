"""Prefect flows: thin wiring of the library in ``src/newswatch``."""
