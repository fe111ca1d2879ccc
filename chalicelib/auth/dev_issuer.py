"""The local development issuer (`make token`): a key pair kept in the stack's data folder.

Only a local stack trusts it (SPEC §3: STAGE=local set explicitly, AWS_ENDPOINT_URL set, no OIDC_* set, not
on Lambda; config.dev_issuer_allowed and `trusted` here), so a token minted here is worthless anywhere else.

On such a stack it is also the login flow's provider (auth/dev_provider.py): `/oidc/dev/authorize` asks for an
email and answers with an authorization code (`issue_code`), a short JWT signed with this key and bound to the
email, nonce, PKCE challenge, redirect URI and client ID; the callback redeems it in-process (`redeem_code`)
instead of calling a token endpoint. A code only completes the state it was issued for (its nonce), and states
are single use, so a code is too.

python-jose and cryptography are imported when a key or token is first needed, not at import time.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from functools import lru_cache
from pathlib import Path

from chalicelib.config import Settings, get_settings
from chalicelib.domain.oauth import pkce_challenge

ISSUER = "https://ekiosk.local/dev-issuer"
AUDIENCE = "ekiosk-local"
KEY_FILE = "dev-issuer-key.pem"
# A code's audience differs from an ID token's: a code is never accepted as a Bearer token, nor the reverse.
CODE_AUDIENCE = AUDIENCE + "/authorization-code"
CODE_TTL = 300
LOGIN_TOKEN_TTL = 3600


def trusted(settings: Settings) -> bool:
    """Whether this process trusts the development issuer (SPEC §3, config.dev_issuer_allowed); the process
    environment is checked for Lambda again, whatever environment the settings were read from."""
    return settings.uses_dev_issuer and not os.environ.get("AWS_LAMBDA_FUNCTION_NAME")


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


def public_key(settings: Settings) -> dict:
    """The issuer's public JWK, with its `kid`: what a verifier of its tokens needs."""
    return _public_jwk(_private_pem(settings))


def subject_for(email: str) -> str:
    """The same email always gets the same subject, hence the same customer."""
    return "dev-" + hashlib.sha256(email.strip().lower().encode()).hexdigest()[:20]


def _sign(settings: Settings, claims: dict) -> str:
    from jose import jwt

    private = _private_pem(settings)
    return jwt.encode(claims, _signing_key(private), algorithm="RS256", headers={"kid": _public_jwk(private)["kid"]})


def mint(
    settings: Settings, email: str, name: str | None = None, ttl: int = 12 * 3600, nonce: str | None = None
) -> str:
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
    if nonce is not None:
        claims["nonce"] = nonce
    return _sign(settings, claims)


class CodeRefused(Exception):
    """The authorization code is not one this issuer gave for this login (the reason is the message)."""


def issue_code(
    settings: Settings, *, email: str, name: str | None, nonce: str, code_challenge: str, redirect_uri: str,
    client_id: str,
) -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER, "aud": CODE_AUDIENCE, "iat": now, "exp": now + CODE_TTL,
        "email": email.strip().lower(), "nonce": nonce, "code_challenge": code_challenge,
        "redirect_uri": redirect_uri, "client_id": client_id,
    }
    if name:
        claims["name"] = name
    return _sign(settings, claims)


def redeem_code(
    settings: Settings, code: str, *, redirect_uri: str, client_id: str, code_verifier: str, nonce: str
) -> dict:
    """The code's claims when it is ours, unexpired and issued for exactly this login; else CodeRefused."""
    from jose import JWTError, jwt

    try:
        claims = jwt.decode(code, _public_jwk(_private_pem(settings)), algorithms=["RS256"], audience=CODE_AUDIENCE,
                            issuer=ISSUER)
    except (JWTError, ValueError, TypeError) as error:
        raise CodeRefused(f"not a valid code ({error})") from None
    expected = {"redirect_uri": redirect_uri, "client_id": client_id, "nonce": nonce,
                "code_challenge": pkce_challenge(code_verifier)}
    for field, value in expected.items():
        if not hmac.compare_digest(str(claims.get(field, "")).encode(), value.encode()):
            raise CodeRefused(f"the code was not issued for this {field}")
    if not isinstance(claims.get("email"), str) or "@" not in claims["email"]:
        raise CodeRefused("the code names no email")
    return claims


def main() -> None:
    import argparse  # the command line's only

    parser = argparse.ArgumentParser(description="Print a Bearer ID token for the local stack.")
    parser.add_argument("email")
    parser.add_argument("--name")
    args = parser.parse_args()
    settings = get_settings()
    if not trusted(settings):
        raise SystemExit("the development issuer is only for a local stack (STAGE=local, AWS_ENDPOINT_URL set, "
                         "no OIDC_* settings, not on Lambda)")
    print(mint(settings, args.email, args.name))


if __name__ == "__main__":
    main()
