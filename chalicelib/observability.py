"""Structured JSON logs for the Lambda functions, the local API and the workers.

Every line is one JSON object (aws-lambda-powertools' formatter) with a `correlation_id`:
- HTTP: the caller's `X-Request-Id` (or `X-Correlation-Id`) when it is a sane token, else API Gateway's
  request id, else a fresh one. It is echoed back in the `X-Request-Id` response header, and one
  access line per request records method, route, status and duration (never the query string).
- Other Lambda events (SQS, schedules): the Lambda request id. Workers can use `correlation(...)`.
- Outside any of these: "-".

Nothing secret leaves in full: JWTs and Bearer credentials are replaced, the values of secret-looking
keys are masked, and phone numbers keep only their first four and last two characters.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import time
import uuid
from contextvars import ContextVar

SERVICE = "ekiosk"
NO_CORRELATION = "-"
REQUEST_ID_HEADER = "X-Request-Id"
INCOMING_ID_HEADERS = ("x-request-id", "x-correlation-id")
SANE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")

_correlation: ContextVar[str] = ContextVar("correlation_id", default=NO_CORRELATION)
access_logger = logging.getLogger("ekiosk.access")

# ---- redaction --------------------------------------------------------------------------------

_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*")
_BEARER = re.compile(r"(?i)\b(bearer|basic)(\s+|%20)(?!\[redacted\])[^\s\"',;]+")
_SECRET_KEYS = re.compile(
    r"(?i)(\\?[\"']?(?:id_token|access_token|refresh_token|client_secret|code_verifier|api_?key|apikey|password|"
    r"authorization|secret)\\?[\"']?\s*[:=]\s*\\?[\"']?)([^\"'\\\s,}&]+)"
)
# E.164 (+ and 7–15 digits, spaces or dashes allowed between digits) and Kenyan numbers without "+".
_PHONE = re.compile(r"(?<![\w+])(\+\d(?:[ -]?\d){6,14})(?!\d)|(?<![\w.])((?:254|0)(?:7|1)\d{8})(?![\w.])")


def _mask_phone(match: re.Match) -> str:
    raw = match.group(0)
    digits = re.sub(r"[ -]", "", raw)
    keep_start = 4 if digits.startswith("+") else 3
    return digits[:keep_start] + "*" * (len(digits) - keep_start - 2) + digits[-2:]


def redact(text: str) -> str:
    """`text` without tokens, secrets or full phone numbers."""
    text = _JWT.sub("[redacted-jwt]", text)
    text = _BEARER.sub(lambda m: m.group(1) + m.group(2) + "[redacted]", text)
    text = _SECRET_KEYS.sub(lambda m: m.group(1) + "[redacted]", text)
    return _PHONE.sub(_mask_phone, text)


# ---- correlation ids ----------------------------------------------------------------------------


def correlation_id() -> str:
    return _correlation.get()


@contextlib.contextmanager
def correlation(value: str | None = None):
    """Log lines inside carry `value` (a fresh id when None) as their correlation_id."""
    token = _correlation.set(value or uuid.uuid4().hex)
    try:
        yield _correlation.get()
    finally:
        _correlation.reset(token)


def _request_correlation_id(request) -> str:
    headers = request.headers or {}
    for name in INCOMING_ID_HEADERS:
        value = headers.get(name)
        if value and SANE_ID.match(value):
            return value
    request_id = (request.context or {}).get("requestId")
    if request_id:
        return request_id
    lambda_context = getattr(request, "lambda_context", None)
    return getattr(lambda_context, "aws_request_id", None) or uuid.uuid4().hex


# ---- formatting ---------------------------------------------------------------------------------


def _formatter_class():
    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

    class JsonFormatter(LambdaPowertoolsFormatter):
        """Powertools' JSON lines, with our correlation id and redaction."""

        def format(self, record: logging.LogRecord) -> str:
            if not hasattr(record, "correlation_id"):
                record.correlation_id = _correlation.get()
            record.logger = record.name
            return super().format(record)

        def serialize(self, log: dict) -> str:
            return redact(super().serialize(log))

    return JsonFormatter


def json_formatter() -> logging.Formatter:
    return _formatter_class()(
        service=SERVICE,
        utc=True,
        use_rfc3339=True,
        log_record_order=["timestamp", "level", "correlation_id", "logger", "message"],
    )


def _install_record_factory() -> None:
    """Every LogRecord carries the correlation id current where it was created (whichever handler sees it)."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "ekiosk", False):
        return

    def factory(*args, **kwargs):
        record = previous(*args, **kwargs)
        record.correlation_id = _correlation.get()
        return record

    factory.ekiosk = True
    logging.setLogRecordFactory(factory)


def configure_logging(app=None) -> None:
    """JSON lines on stdout for every logger; with a Chalice `app`, the correlation-id middleware too.

    Chalice's `app.log` is the logger named after the app ("ekiosk", not propagating): every
    "ekiosk.*" logger ends there, so its handler gets the same format as the root's.
    """
    level = os.environ.get("LOG_LEVEL", "INFO").upper()
    _install_record_factory()
    formatter = json_formatter()
    root = logging.getLogger()
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        # The Lambda runtime's own handler knows where logs go: keep it, reformat it.
        for handler in root.handlers:
            handler.setFormatter(formatter)
    ours = [handler for handler in root.handlers if getattr(handler, "ekiosk", False)]
    if not ours and not os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        handler = logging.StreamHandler(sys.stdout)
        handler.ekiosk = True
        root.addHandler(handler)
        ours = [handler]
    for handler in ours:
        handler.setFormatter(formatter)
    root.setLevel(level)
    # gunicorn's own loggers (local stack, container): same format; its access line is replaced by ours.
    for handler in logging.getLogger("gunicorn.error").handlers:
        handler.setFormatter(formatter)
    logging.getLogger("gunicorn.access").disabled = True
    if app is not None:
        app.log.setLevel(level)
        for handler in app.log.handlers:
            handler.setFormatter(formatter)
        app.register_middleware(_http_middleware, "http")
        for event_type in ("sqs", "scheduled", "cloudwatch", "sns", "s3", "kinesis", "dynamodb", "pure_lambda"):
            app.register_middleware(_event_middleware, event_type)


def _http_middleware(request, get_response):
    token = _correlation.set(_request_correlation_id(request))
    started = time.perf_counter()
    status = 500
    try:
        response = get_response(request)
        status = response.status_code
        response.headers[REQUEST_ID_HEADER] = _correlation.get()
        return response
    finally:
        route = (request.context or {}).get("resourcePath")
        access_logger.info(
            "%s %s %s",
            request.method,
            route,
            status,
            extra={
                "http_method": request.method,
                "route": route,
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )
        _correlation.reset(token)


def _event_middleware(event, get_response):
    context = getattr(event, "context", None)
    with correlation(getattr(context, "aws_request_id", None)):
        return get_response(event)
