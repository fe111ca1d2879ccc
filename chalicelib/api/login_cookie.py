"""The login cookie: binds a sign-in's state to the browser that started it (login CSRF, services/login.py).

`/oidc/authenticate` sets it to the login's binding for as long as the state lives (HttpOnly, SameSite=Lax so
that it comes back on the provider's top-level redirect, `__Host-` prefixed and Secure); `/oidc/callback` reads
it and clears it. Plain http to a loopback host (a local stack, where browsers may refuse Secure cookies) uses
`LOCAL_LOGIN_COOKIE`.
"""

from __future__ import annotations

LOGIN_COOKIE = "__Host-ekiosk-login"
LOCAL_LOGIN_COOKIE = "ekiosk-login-local"  # plain http on 127.0.0.1/localhost only (no Secure, no prefix)
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")


def is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return name in LOOPBACK_HOSTS or name.endswith(".localhost")


def name_for(scheme: str, host: str) -> str:
    """`__Host-` (Secure) everywhere but plain http to a loopback host (a local stack)."""
    return LOCAL_LOGIN_COOKIE if scheme == "http" and is_loopback(host) else LOGIN_COOKIE


def set_cookie(name: str, value: str, max_age: int) -> str:
    """A Set-Cookie value: HttpOnly, Path=/, SameSite=Lax (sent on the provider's top-level redirect back),
    Secure for the `__Host-` name. An empty value with max_age 0 clears it."""
    secure = "; Secure" if name.startswith("__Host-") else ""
    return f"{name}={value}; Max-Age={max_age}; Path=/; HttpOnly; SameSite=Lax{secure}"


def value_in(header: str | None, name: str) -> str | None:
    """The value of cookie `name` in a Cookie request header (the first one), or None."""
    for part in (header or "").split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name and value:
            return value
    return None
