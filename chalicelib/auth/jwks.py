"""A JWKS cache keyed by `kid`: one fetch serves many requests; key rotation needs no restart.

- The key set is kept for the `max-age` of the JWKS response's Cache-Control (default one hour).
- A token naming a `kid` we do not have causes one refetch, at most once per `cooldown` seconds, so
  a flood of made-up kids cannot hammer the JWKS endpoint.
- If a fetch fails, the keys we have keep serving and the next try waits `FAILURE_RETRY` seconds.
- One fetch at a time: concurrent requests wait for it instead of fetching too.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
import urllib.request

logger = logging.getLogger("ekiosk.auth")

DEFAULT_MAX_AGE = 3600
MAX_MAX_AGE = 24 * 3600
MIN_REFETCH_INTERVAL = 1.0  # even with `max-age=0`, at most one fetch per second
UNKNOWN_KID_COOLDOWN = 30.0  # seconds between refetches caused by unknown kids
FAILURE_RETRY = 5.0
FETCH_TIMEOUT = 5
MAX_DOCUMENT_BYTES = 512 * 1024
COOLDOWN_VARIABLE = "OIDC_JWKS_REFETCH_COOLDOWN"


def cooldown_from_environment() -> float:
    """The unknown-kid cooldown; `OIDC_JWKS_REFETCH_COOLDOWN` (seconds, ≥ 1) may change it."""
    try:
        return max(1.0, float(os.environ[COOLDOWN_VARIABLE]))
    except (KeyError, ValueError):
        return UNKNOWN_KID_COOLDOWN


def max_age_of(cache_control: str | None) -> int:
    """Seconds a response may be cached, from its Cache-Control header (no-store/no-cache mean 0)."""
    value = (cache_control or "").lower()
    if "no-store" in value or "no-cache" in value:
        return 0
    match = re.search(r"(?:^|[\s,])max-age\s*=\s*\"?(\d+)", value)
    return min(int(match.group(1)), MAX_MAX_AGE) if match else DEFAULT_MAX_AGE


def http_fetch(url: str, timeout: float = FETCH_TIMEOUT) -> tuple[dict, int]:
    """GETs a JWKS document; returns it with its max-age."""
    request = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": "ekiosk"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        document = json.loads(response.read(MAX_DOCUMENT_BYTES + 1)[:MAX_DOCUMENT_BYTES])
        return document, max_age_of(response.headers.get("Cache-Control"))


class JwksCache:
    def __init__(self, url: str, clock=time.monotonic, fetch=None, cooldown: float = UNKNOWN_KID_COOLDOWN):
        self._url = url
        self._clock = clock
        self._fetch = fetch or (lambda: http_fetch(url))
        self._cooldown = cooldown
        self._keys: dict[str, dict] = {}
        self._expires_at = float("-inf")
        self._last_fetch = float("-inf")
        self._retry_at = float("-inf")  # after a failed fetch
        self._lock = threading.Lock()
        self.fetch_count = 0

    def _refresh(self) -> None:
        self._last_fetch = self._clock()
        self.fetch_count += 1
        try:
            document, max_age = self._fetch()
            keys = {key["kid"]: key for key in document["keys"] if isinstance(key, dict) and key.get("kid")}
        except Exception as error:  # network, HTTP status, JSON or shape: keep the keys we have
            logger.warning("JWKS fetch from %s failed: %s", self._url, error)
            self._retry_at = self._last_fetch + FAILURE_RETRY
            return
        self._keys = keys
        self._expires_at = self._clock() + max_age

    def key_for(self, kid: str) -> dict | None:
        with self._lock:
            now = self._clock()
            since_last = now - self._last_fetch
            if now >= self._retry_at and since_last >= MIN_REFETCH_INTERVAL:
                expired = now >= self._expires_at
                unknown = kid not in self._keys and since_last >= self._cooldown
                if expired or unknown:
                    self._refresh()
            return self._keys.get(kid)
