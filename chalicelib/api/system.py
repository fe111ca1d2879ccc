"""Health, and the 405 answers for methods a path does not support."""

from chalice import Blueprint, Chalice, Response

from chalicelib.api.responses import error_body
from chalicelib.api.routing import endpoint

bp = Blueprint(__name__)

STANDARD_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


@endpoint(bp, "/health", ["GET"], public=True, summary="Liveness: {\"status\": \"ok\"}",
          response="chalicelib.api.response_models.common:Health")  # named: no pydantic import at cold start
def health():
    return {"status": "ok"}


def add_method_not_allowed_routes(app: Chalice) -> None:
    """Gives every path an enveloped 405 for the standard methods it lacks (API Gateway would say 403)."""
    for path, views in list(app.routes.items()):
        allowed = sorted(views)
        missing = [method for method in STANDARD_METHODS if method not in views]
        if not missing:
            continue

        def not_allowed(allowed=allowed, **_params):
            body = error_body("method_not_allowed", "This method is not allowed here.", {"allowed": allowed})
            return Response(
                body=body,
                status_code=405,
                headers={"Content-Type": "application/json", "Allow": ", ".join(allowed)},
            )

        name = "method_not_allowed_" + "".join(c if c.isalnum() else "_" for c in path)
        not_allowed.__name__ = name
        app.route(path, methods=missing, name=name, content_types=["*/*"])(not_allowed)
