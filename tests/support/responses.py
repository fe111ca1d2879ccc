"""A response body as the routes produce it (chalicelib/api/responses.py), parsed back for assertions."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.api.responses import body_of


def serialize(model: Any, value: Any) -> Any:
    return json.loads(body_of(model, value))
