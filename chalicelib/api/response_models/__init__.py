"""Response models (SPEC §4–§8): the one definition of every body the API answers.

A route names its model in `endpoint(response=...)`; `api/routing.py` serializes what the view returns
through that very model and the OpenAPI document (`api/openapi.py`) describes that same model, so a field
added here appears in the answer and in the document together. A model reads its domain object's
attributes (`from_attributes`); where an API field is not an attribute (money in cents, a total), the
model's `_from_domain` says how it is computed. Imported on use, never at cold start (pydantic).
"""
