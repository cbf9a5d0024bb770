"""Keyed pseudonyms for patient identifiers (SPEC 7): HMAC-SHA256 under WOW_PSEUDONYM_KEY."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets

ENV_VAR = "WOW_PSEUDONYM_KEY"
_BLOCK = 64  # SHA-256 block size in bytes


class MissingKeyError(RuntimeError):
    """A production run was started without a pseudonym key in the environment."""


def key_from_env() -> bytes:
    """Return the key from the environment, or fail with a message saying how to set it."""
    value = os.environ.get(ENV_VAR, "")
    if not value.strip():
        raise MissingKeyError(
            f"{ENV_VAR} is not set: patient identifiers must be pseudonymised with a secret key "
            f"kept outside the repository. Set it, e.g. export {ENV_VAR}=$(python -c "
            "'import secrets; print(secrets.token_hex(32))'), and keep it in your secret store: "
            "the same key must be used for every run over one warehouse. (`wow demo` uses a "
            "throwaway key of its own.)"
        )
    return value.encode("utf-8")


def throwaway_key() -> bytes:
    """A random key for the demo on synthetic data; never for real data."""
    return secrets.token_hex(32).encode("ascii")


def hmac_pads(key: bytes) -> tuple[bytes, bytes]:
    """Return the (inner, outer) HMAC pads so SQL can compute sha256(opad || sha256(ipad || m))."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def pseudonymize(key: bytes, value: str) -> str:
    """The hex HMAC-SHA256 of one identifier (what the ingest SQL computes, for tests and tools)."""
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()


def key_fingerprint(key: bytes) -> str:
    """A short, non-reversible tag telling whether two runs used the same key."""
    return pseudonymize(key, "wow-metrics key fingerprint")[:16]
