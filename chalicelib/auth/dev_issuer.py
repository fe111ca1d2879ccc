"""The local development issuer (`make token`): a key pair kept in the stack's data folder.

Only a local stack with no OIDC_* settings trusts it (see tokens.dev_issuer_trusted), so a token
minted here is worthless anywhere else.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from functools import lru_cache
from pathlib import Path

from chalicelib.auth.tokens import StaticKeys
from chalicelib.config import Settings

ISSUER = "https://ekiosk.local/dev-issuer"
AUDIENCE = "ekiosk-local"
KEY_FILE = "dev-issuer-key.pem"


def _private_pem(settings: Settings) -> bytes:
    """The issuer's key, created on first use; of two processes creating it at once, one key wins for both."""
    path = Path(settings.data_dir) / KEY_FILE
    if not path.exists():
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.{secrets.token_hex(4)}.tmp")
        temporary.write_bytes(pem)
        temporary.chmod(0o600)
        try:
            os.link(temporary, path)  # fails if another process created the key first: keep that one
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    return path.read_bytes()


@lru_cache(maxsize=4)
def _signing_key(private_pem: bytes):
    """jose's key for the PEM, built once (loading an RSA private key validates it, which is slow)."""
    from jose import jwk

    return jwk.construct(private_pem, "RS256")


def _public_jwk(private_pem: bytes) -> dict:
    public = _signing_key(private_pem).public_key().to_dict()
    public["kid"] = hashlib.sha256(public["n"].encode()).hexdigest()[:16]
    return public


def key_source(settings: Settings) -> StaticKeys:
    public = _public_jwk(_private_pem(settings))
    return StaticKeys({public["kid"]: public})


def subject_for(email: str) -> str:
    """The same email always gets the same subject, hence the same customer."""
    return "dev-" + hashlib.sha256(email.strip().lower().encode()).hexdigest()[:20]


def mint(settings: Settings, email: str, name: str | None = None, ttl: int = 12 * 3600) -> str:
    from jose import jwt

    private = _private_pem(settings)
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": subject_for(email),
        "email": email.strip().lower(),
        "email_verified": True,
        "name": name or email.split("@")[0],
        "iat": now,
        "exp": now + ttl,
    }
    return jwt.encode(claims, _signing_key(private), algorithm="RS256", headers={"kid": _public_jwk(private)["kid"]})


def main() -> None:
    import argparse

    from chalicelib.config import get_settings

    parser = argparse.ArgumentParser(description="Print a Bearer ID token for the local stack.")
    parser.add_argument("email")
    parser.add_argument("--name")
    args = parser.parse_args()
    from chalicelib.auth.tokens import dev_issuer_trusted

    settings = get_settings()
    if not dev_issuer_trusted(settings):
        raise SystemExit("the development issuer is only for a local stack without OIDC_* settings")
    print(mint(settings, args.email, args.name))


if __name__ == "__main__":
    main()
