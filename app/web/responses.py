"""JSON in and out: the error shape of the contract, the one place engine refusals become
HTTP statuses (``guarded``), and a size-limited body reader."""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.engine.run_input import Conflict, Forbidden, InputError, NotFound, OverLimit, TooLarge

Handler = Callable[[Request], Awaitable[Response]]


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


def guarded(handler: Handler) -> Handler:
    @functools.wraps(handler)
    async def guarded(request: Request) -> Response:
        try:
            return await handler(request)
        except HTTPProblem as problem:
            return problem.response()
        except TooLarge as exc:
            return error_response(413, exc.code, exc.message)
        except InputError as exc:
            return error_response(400, exc.code, exc.message)
        except Conflict as exc:
            return error_response(409, exc.code, exc.message)
        except OverLimit as exc:
            refused = error_response(429, exc.code, exc.message)
            refused.headers["Retry-After"] = str(exc.retry_after_s)
            return refused
        except Forbidden as exc:
            return error_response(403, "forbidden", exc.message)
        except NotFound as exc:
            return error_response(404, "not_found", f"No such {exc.args[0] if exc.args else 'resource'}.")

    return guarded
