"""Reading small JSON request bodies with clear errors."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from stream_server import strict_json
from stream_server.errors import BadRequest, UnsupportedMediaType
from stream_server.web.bodies import read_body

#: The JSON bodies of this API are a few fields; anything bigger is a mistake or abuse.
MAX_JSON_BYTES = 16 * 1024


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object, or a 4xx that says what is wrong with it."""
    if request.content_type != "application/json":
        raise UnsupportedMediaType(
            f"Content-Type must be application/json, not {request.content_type or 'missing'}",
            code="wrong_content_type",
        )
    body = await read_body(request, MAX_JSON_BYTES, too_large_code="too_large", what="JSON body")
    try:
        data = strict_json.loads(body)
    except strict_json.JsonRefused as exc:
        raise BadRequest(f"body is not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(data, dict):
        raise BadRequest("body must be a JSON object", code="invalid_json")
    return data
