"""A JWKS cache keyed by `kid`: one fetch serves many requests; key rotation needs no restart."""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.request

DEFAULT_MAX_AGE = 3600
UNKNOWN_KID_COOLDOWN = 30  # seconds between refetches caused by unknown kids
FETCH_TIMEOUT = 5


class JwksCache:
    def __init__(self, url: str, clock=time.monotonic, fetch=None):
        self._url = url
        self._clock = clock
        self._fetch = fetch or self._http_fetch
        self._keys: dict[str, dict] = {}
        self._expires_at = 0.0
        self._last_fetch = float("-inf")
        self._lock = threading.Lock()
        self.fetch_count = 0

    def _http_fetch(self) -> tuple[dict, int]:
        with urllib.request.urlopen(self._url, timeout=FETCH_TIMEOUT) as response:
            match = re.search(r"max-age=(\d+)", response.headers.get("Cache-Control", ""))
            return json.load(response), int(match.group(1)) if match else DEFAULT_MAX_AGE

    def _refresh(self) -> None:
        self._last_fetch = self._clock()
        self.fetch_count += 1
        try:
            document, max_age = self._fetch()
        except (OSError, ValueError):
            return  # keep serving the keys we have; the next request may try again after cooldown
        self._keys = {key["kid"]: key for key in document.get("keys", []) if "kid" in key}
        self._expires_at = self._clock() + max_age

    def key_for(self, kid: str) -> dict | None:
        with self._lock:
            now = self._clock()
            expired = now >= self._expires_at and now - self._last_fetch >= 1
            unknown = kid not in self._keys and now - self._last_fetch >= UNKNOWN_KID_COOLDOWN
            if expired or unknown:
                self._refresh()
            return self._keys.get(kid)
