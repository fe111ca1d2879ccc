"""Route registration in one place: authentication, the staff check and the error envelope.

Every view is declared with `endpoint(...)`; views never check roles or catch errors themselves.
"""

from __future__ import annotations

import functools
import logging

from chalice import Blueprint, ChaliceViewError

from chalicelib.adapters.dynamodb import retry
from chalicelib.api.authorizer import bearer
from chalicelib.api.caller import Caller
from chalicelib.api.request_text import check_request_text
from chalicelib.api.responses import answer, domain_error_response, error_response
from chalicelib.domain.errors import DomainError, NotFound, TryAgain
from chalicelib.domain.keys import MAX_ID_BYTES, plausible_id

logger = logging.getLogger("ekiosk.api")

API_PREFIX = "/api/v1"
ANY_CONTENT_TYPE = ["*/*"]  # bodies are checked by our own parsers, with our own 4xx
# Documentation-only keywords of `endpoint(...)`, stored on the handler as `api_doc` for the OpenAPI generator.
DOC_KEYWORDS = frozenset({
    "summary", "description", "body", "response", "status", "query", "headers", "responses",
    "response_headers", "media_type", "tags",
})


def _chalice_error_code(error: ChaliceViewError) -> str:
    name = type(error).__name__.removesuffix("Error")
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_") or "error"


def check_path_ids(params: dict) -> None:
    """Path parameters are opaque ids: one that could not be stored (over MAX_ID_BYTES) names nothing → 404."""
    for name, value in params.items():
        if not plausible_id(value):
            raise NotFound("no such resource", details={name: [f"no id is longer than {MAX_ID_BYTES} bytes"]})


def guarded(view, *, public: bool, staff: bool, request_of, doc: dict):
    """Wraps a view: checks the request's text, builds the Caller, enforces the role, then the path ids,
    serializes the view's result through its documented response model and maps every error to the envelope."""

    @functools.wraps(view)
    def handler(*args, **kwargs):
        try:
            check_request_text(request_of())
            if public:
                check_path_ids(kwargs)
                return answer(view(*args, **kwargs), doc)
            caller = Caller.from_request(request_of())
            if staff:
                caller.require_staff()
            check_path_ids(kwargs)
            return answer(view(caller, *args, **kwargs), doc)
        except DomainError as error:
            return domain_error_response(error)
        except ChaliceViewError as error:
            return error_response(_chalice_error_code(error), str(error), error.STATUS_CODE)
        except Exception as error:
            if retry.is_transient(error):  # a store failure that outlasted botocore's retries (reads)
                logger.warning("transient store failure in %s: %s", view.__name__, retry.error_code(error) or error)
                return domain_error_response(TryAgain("the store is busy; please try again"))
            logger.exception("unhandled error in %s", view.__name__)
            return error_response("internal_error", "An internal error occurred.", 500)

    return handler


def endpoint(
    bp: Blueprint,
    path: str,
    methods: list[str],
    *,
    public: bool = False,
    staff: bool = False,
    **doc,
):
    """Registers `view` on `bp` for `path` (relative to /api/v1) and `methods`.

    Views of non-public routes receive the Caller as their first argument. A view returns a domain value
    (or a `responses.Reply` with its own status and headers), serialized through the response model
    documented for that status, or a chalice Response it built itself (no JSON body model: HTML, 204, files).

    Optional keyword arguments document the operation in the OpenAPI document (chalicelib/api/openapi.py
    reads them; nothing here imports it): `summary`, `description`, `body` (a pydantic model, or
    {media type: model or schema}), `response` (the pydantic model of the success body, which is also
    its serializer), `status` (success status, default 200), `query` and `headers` (a pydantic model, or a
    list of parameter names from openapi.COMMON_PARAMETERS and parameter dicts), `responses` ({status:
    description, model or response object}), `response_headers`, `media_type`, `tags`. A model may be
    named "package.module:Name" so that a module documenting itself need not import pydantic at cold start.
    """
    unknown = set(doc) - DOC_KEYWORDS
    if unknown:
        raise TypeError(f"endpoint() got unexpected keyword arguments: {', '.join(sorted(unknown))}")

    def register(view):
        api_doc = {**doc, "public": public, "staff": staff}
        handler = guarded(view, public=public, staff=staff, request_of=lambda: bp.current_request, doc=api_doc)
        handler.api_doc = api_doc
        bp.route(
            path,
            methods=methods,
            authorizer=None if public else bearer,
            content_types=ANY_CONTENT_TYPE,
        )(handler)
        return view

    return register
