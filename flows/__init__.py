"""Prefect flows over the wow_metrics library (see README.md here)."""

import os as _os

# Before Prefect reads its settings: no phoning home, and a temporary local API server (started
# when no PREFECT_API_URL is set) may take longer than Prefect's default 20 s to come up on a busy
# machine; a nightly run should wait for it rather than fail.
_os.environ.setdefault("DO_NOT_TRACK", "1")
_os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
_os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
_os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
