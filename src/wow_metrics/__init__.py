"""wow-metrics: EHR work-outside-of-work metrics from audit logs."""
__version__ = "0.1.0"


def quiet_third_parties() -> None:
    """Environment defaults for Prefect and Great Expectations, set before either reads its
    settings (the CLI, `flows/` and the tests call it; a value already set is kept)."""
    import os

    # Both libraries try to phone home; offline runs must not wait on it.
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    # Prefect's temporary local API server (no PREFECT_API_URL set) can take more than its
    # default 20 s to start on a busy machine (seen in a parallel test run on 2 cores): a
    # nightly run waits for it rather than fail.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
