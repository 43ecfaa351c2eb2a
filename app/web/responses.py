"""JSON in and out: the error shape of the contract and a size-limited body reader."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse


class HTTPProblem(Exception):
    """Raised inside a handler; turned into ``{"error": {"code", "message"}}`` with ``status``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def response(self) -> JSONResponse:
        return error_response(self.status, self.code, self.message)


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


async def read_json_object(request: Request, max_bytes: int, *, optional: bool = False) -> dict:
    """The request body as a JSON object, refusing (413) before reading more than ``max_bytes``;
    with ``optional``, an empty body reads as ``{}``."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise _too_large(max_bytes)
    if optional and not body.strip():
        return {}
    try:
        value = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise HTTPProblem(400, "bad_json", "The request body is not valid JSON.") from None
    if not isinstance(value, dict):
        raise HTTPProblem(400, "bad_json", "The request body must be a JSON object.")
    return value


def _too_large(max_bytes: int) -> HTTPProblem:
    return HTTPProblem(413, "request_too_large", f"The request body is larger than {max_bytes} bytes.")
