import itertools

import pytest

from chalicelib.auth import dev_issuer
from chalicelib.config import GOOGLE_ISSUERS, OIDC_VARIABLES, load_settings


def test_local_defaults():
    settings = load_settings({})
    assert settings.stage == "local"
    assert settings.region == "us-east-1"
    assert settings.oidc_issuers == GOOGLE_ISSUERS
    assert not settings.uses_dev_issuer  # STAGE must be set to `local` explicitly (SPEC §3)
    assert settings.uses_sms_sink
    assert settings.table_name("orders") == "ekiosk-local-orders"


def test_explicit_values_win_and_lists_are_parsed():
    settings = load_settings(
        {
            "STAGE": "prod",
            "AWS_DEFAULT_REGION": "eu-west-1",
            "ADMIN_EMAILS": " Boss@Example.com , ops@example.com,",
            "OIDC_ISSUERS": "https://issuer.example",
            "OIDC_AUDIENCE": "client-id",
        }
    )
    assert settings.region == "eu-west-1"
    assert settings.admin_emails == ("boss@example.com", "ops@example.com")
    assert settings.admin_notification_emails == settings.admin_emails
    assert settings.oidc_issuers == ("https://issuer.example",)
    assert settings.queue_name("notifications") == "ekiosk-prod-notifications"


def test_development_issuer_and_sms_sink_are_local_only():
    assert not load_settings({"STAGE": "dev"}).uses_dev_issuer
    assert not load_settings({"STAGE": "dev"}).uses_sms_sink
    assert not load_settings({"OIDC_AUDIENCE": "client"}).uses_dev_issuer
    assert not load_settings({"AT_USERNAME": "sandbox", "AT_API_KEY": "k"}).uses_sms_sink


def test_notification_emails_can_differ_from_admins():
    settings = load_settings({"ADMIN_EMAILS": "a@x.io", "ADMIN_NOTIFICATION_EMAILS": "orders@x.io"})
    assert settings.admin_notification_emails == ("orders@x.io",)


# SPEC §3: the development issuer is trusted only when STAGE=local (explicitly), AWS_ENDPOINT_URL is set, no
# OIDC_* is set and not on Lambda. Every combination of those inputs:
STAGES = {"unset": None, "local": "local", "dev": "dev"}
ENDPOINTS = {"no-endpoint": None, "endpoint": "http://127.0.0.1:4566"}
OIDC = {"no-oidc": None, **{name: name for name in OIDC_VARIABLES}}
LAMBDA = {"not-lambda": None, "lambda": "ekiosk-dev-api"}
OIDC_VALUES = {"OIDC_ISSUERS": "https://issuer.example", "OIDC_AUDIENCE": "client", "OIDC_JWKS_URL": "https://x/jwks",
               "OIDC_CLIENT_SECRET": "s", "OIDC_REDIRECT_URI": "https://x/api/v1/oidc/callback",
               "OIDC_CLIENT_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:1:secret:x"}


@pytest.mark.parametrize(
    ("stage", "endpoint", "oidc", "on_lambda"),
    list(itertools.product(STAGES, ENDPOINTS, OIDC, LAMBDA)),
)
def test_dev_issuer_trust_over_every_combination(stage, endpoint, oidc, on_lambda, monkeypatch):
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    environ = {}
    if STAGES[stage]:
        environ["STAGE"] = STAGES[stage]
    if ENDPOINTS[endpoint]:
        environ["AWS_ENDPOINT_URL"] = ENDPOINTS[endpoint]
    if OIDC[oidc]:
        environ[oidc] = OIDC_VALUES[oidc]
    if LAMBDA[on_lambda]:
        environ["AWS_LAMBDA_FUNCTION_NAME"] = LAMBDA[on_lambda]
    expected = (stage, endpoint, oidc, on_lambda) == ("local", "endpoint", "no-oidc", "not-lambda")
    settings = load_settings(environ)
    assert settings.uses_dev_issuer is expected
    assert dev_issuer.trusted(settings) is expected
    if LAMBDA[on_lambda]:  # the process environment alone also says Lambda
        monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", LAMBDA[on_lambda])
        environ.pop("AWS_LAMBDA_FUNCTION_NAME")
        assert not dev_issuer.trusted(load_settings(environ))
    if not expected:  # then only OIDC_ISSUERS (default Google's two) are trusted
        assert settings.oidc_issuers == ((OIDC_VALUES["OIDC_ISSUERS"],) if oidc == "OIDC_ISSUERS" else GOOGLE_ISSUERS)


@pytest.mark.parametrize("name", [*OIDC_VARIABLES, "AWS_ENDPOINT_URL"])
def test_empty_values_count_as_unset(name):
    environ = {"STAGE": "local", "AWS_ENDPOINT_URL": "http://127.0.0.1:4566", name: ""}
    assert load_settings(environ).uses_dev_issuer is (name != "AWS_ENDPOINT_URL")


def test_phone_regions_are_parsed_and_checked():
    assert load_settings({}).phone_regions == ()
    assert load_settings({"PHONE_REGIONS": " ke, UG ,"}).phone_regions == ("KE", "UG")
    with pytest.raises(ValueError, match="PHONE_REGIONS"):
        load_settings({"PHONE_REGIONS": "KE,Kenya"})
