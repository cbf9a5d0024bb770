"""Prefect flows over the wow_metrics library (see README.md here)."""
