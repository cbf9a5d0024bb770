"""Keyed pseudonyms for patient identifiers (SPEC 7): HMAC-SHA256 under WOW_PSEUDONYM_KEY.

The lake keeps a patient's pseudonym as the first 64 bits of that HMAC, an unsigned 64-bit
integer (patient_key, PATIENT_KEY_BITS), not 64 hex digits: 8 bytes a row instead of 64. Its
collision bound: among n distinct patient ids of one warehouse, the chance that any two share a
key is at most n(n-1)/2 / 2^64 (the birthday bound of a keyed pseudo-random function):
2.7e-10 for 100,000 patients, 2.7e-6 for 10 million, 2.7e-4 for 100 million. The key's only
use in the metrics is telling duplicates apart (SPEC 4: same clinician, instant, action, report,
patient and workstation), where a collision matters only between two events of one clinician at
the same microsecond with the same action, report and workstation: at most 1 in 2^64 for each
such pair.

The key must be strong (check_key): a patient id is a short number, so anyone holding the lake
and a weak key can rebuild every patient's pseudonym by enumerating the ids. The lake records
only a salted, memory-hard check of the key (new_key_check, key_matches), never an HMAC of it,
so the record cannot be used to guess the key cheaply.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import os
import re
import secrets
from collections import Counter

ENV_VAR = "WOW_PSEUDONYM_KEY"
_BLOCK = 64  # SHA-256 block size in bytes

# What a key needs (check_key). A key from `secrets.token_hex(32)` (64 hex digits, 256 bits)
# fails it with a chance under 1e-11 (9 or fewer different digits in 64 draws); a word, a date
# or a short phrase repeated does not pass.
MIN_KEY_CHARACTERS = 32
MIN_KEY_DISTINCT = 10
MIN_KEY_BITS = 90  # length x the entropy of the key's own character frequencies
KEY_RULE = (f"at least {MIN_KEY_CHARACTERS} characters, at least {MIN_KEY_DISTINCT} different "
            f"characters and at least {MIN_KEY_BITS} bits of estimated entropy (its length times "
            "the entropy of its own character frequencies)")
HOW_TO_MAKE_ONE = (f"export {ENV_VAR}=$(python -c 'import secrets; "
                   "print(secrets.token_hex(32))')")

# The lake's key check: scrypt (memory-hard) of the key under a random salt of the lake's own.
# About 0.1-0.2 s and 16 MiB per guess instead of one HMAC (under a microsecond).
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
_CHECK = re.compile(r"^scrypt\$(\d+)\$(\d+)\$(\d+)\$([0-9a-f]{32})\$([0-9a-f]{64})$")
# Before issue 22 the lake recorded HMAC(key, this text)[:16]: one HMAC per guess.
_LEGACY_TEXT = "wow-metrics key fingerprint"
_LEGACY = re.compile(r"^[0-9a-f]{16}$")


class MissingKeyError(RuntimeError):
    """A production run was started without a pseudonym key in the environment."""


class WeakKeyError(MissingKeyError):
    """The pseudonym key given is too weak to protect patient identifiers (a missing key, too)."""


def key_from_env() -> bytes:
    """Return the key from the environment, or fail with a message saying how to set it."""
    value = os.environ.get(ENV_VAR, "")
    if not value.strip():
        raise MissingKeyError(
            f"{ENV_VAR} is not set: patient identifiers must be pseudonymised with a secret key "
            f"kept outside the repository. Set it, e.g. {HOW_TO_MAKE_ONE}, and keep it in your "
            "secret store: the same key must be used for every run over one warehouse. (`wow "
            "demo` uses a throwaway key of its own.)"
        )
    return check_key(value.encode("utf-8"))


def estimated_bits(text: str) -> float:
    """The key's length times the Shannon entropy of its own character frequencies: an upper
    estimate (a typed key scores higher than it is), good at catching repeated, short keys."""
    if not text:
        return 0.0
    counts = Counter(text)
    n = len(text)
    return n * -sum(c / n * math.log2(c / n) for c in counts.values())


def check_key(key: bytes) -> bytes:
    """Return the key if it is strong enough (KEY_RULE), else raise WeakKeyError."""
    text = key.decode("utf-8", errors="surrogateescape")
    problems = []
    if len(text) < MIN_KEY_CHARACTERS:
        problems.append(f"it has {len(text)} character(s)")
    if len(set(text)) < MIN_KEY_DISTINCT:
        problems.append(f"it has {len(set(text))} different character(s)")
    bits = estimated_bits(text)
    if bits < MIN_KEY_BITS:
        problems.append(f"its estimated entropy is {bits:.0f} bits")
    if problems:
        # Never echo the key: only its shape.
        raise WeakKeyError(
            f"{ENV_VAR} is too weak to protect patient identifiers ({'; '.join(problems)}): a "
            f"key needs {KEY_RULE}. Patient ids are short numbers, so with a weak key anyone "
            f"who can read the lake could rebuild every pseudonym. Make one with "
            f"{HOW_TO_MAKE_ONE} and keep it in your secret store (the same key for every run "
            "over one warehouse).")
    return key


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


PATIENT_KEY_BITS = 64


def patient_key(key: bytes, value: str) -> int:
    """The lake's patient_key of one trimmed identifier: the first 64 bits of its HMAC-SHA256, as
    an unsigned big-endian integer (what the ingest SQL computes, for tests and tools)."""
    digest = hmac.new(key, value.encode("utf-8"), hashlib.sha256).digest()
    return int.from_bytes(digest[:PATIENT_KEY_BITS // 8], "big")


def _scrypt(key: bytes, salt: bytes, n: int, r: int, p: int) -> str:
    return hashlib.scrypt(key, salt=salt, n=n, r=r, p=p, maxmem=64 * 2**20, dklen=32).hex()


def new_key_check(key: bytes) -> str:
    """A check of the key for a new lake: 'scrypt$n$r$p$<salt>$<digest>', under a fresh salt."""
    salt = secrets.token_bytes(16)
    n, r, p = _SCRYPT["n"], _SCRYPT["r"], _SCRYPT["p"]
    return f"scrypt${n}${r}${p}${salt.hex()}${_scrypt(key, salt, n, r, p)}"


def is_key_check(recorded: str | None) -> bool:
    """Whether a recorded value is a key check of this scheme."""
    return bool(recorded and _CHECK.match(recorded))


def is_legacy_fingerprint(recorded: str | None) -> bool:
    """Whether a recorded value is the unsalted fingerprint lakes recorded before issue 22."""
    return bool(recorded and _LEGACY.match(recorded))


def key_matches(key: bytes, recorded: str) -> bool:
    """Whether the key is the one a recorded check (of either scheme) was made with."""
    found = _CHECK.match(recorded or "")
    if found:
        n, r, p = (int(found.group(i)) for i in (1, 2, 3))
        return hmac.compare_digest(
            _scrypt(key, bytes.fromhex(found.group(4)), n, r, p), found.group(5))
    if is_legacy_fingerprint(recorded):
        return hmac.compare_digest(pseudonymize(key, _LEGACY_TEXT)[:16], recorded)
    return False
