"""Prefect flows over the wow_metrics library (see README.md here)."""

from wow_metrics import quiet_third_parties as _quiet_third_parties

_quiet_third_parties()  # before Prefect reads its settings
