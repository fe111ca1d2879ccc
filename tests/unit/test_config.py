from chalicelib.config import GOOGLE_ISSUERS, load_settings


def test_local_defaults():
    settings = load_settings({})
    assert settings.stage == "local"
    assert settings.region == "us-east-1"
    assert settings.oidc_issuers == GOOGLE_ISSUERS
    assert settings.uses_dev_issuer
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
