"""JSON in and out: the error shape of the contract, the one place engine refusals become
HTTP statuses (``guarded``), and a size-limited body reader."""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from app.engine.run_input import Conflict, Forbidden, InputError, NotFound, OverLimit, TooLarge

Handler = Callable[[Request], Awaitable[Response]]

# What a refused body may still be read (and dropped) to keep the 413 intact: above the
# largest body the recommended nginx config lets through (client_max_body_size 4m).
DRAIN_MAX_BYTES = 8 * 1024 * 1024


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
    """The request body as a JSON object, refusing (413) once it is over ``max_bytes`` (never
    keeping more than that); with ``optional``, an empty body reads as ``{}``."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise await too_large(request, _too_large(max_bytes))
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise await too_large(request, _too_large(max_bytes))
    if optional and not body.strip():
        return {}
    try:
        value = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise HTTPProblem(400, "bad_json", "The request body is not valid JSON.") from None
    if not isinstance(value, dict):
        raise HTTPProblem(400, "bad_json", "The request body must be a JSON object.")
    return value


async def too_large(request: Request, problem: HTTPProblem) -> HTTPProblem:
    """``problem`` (a 413), once the rest of the body is read and dropped, up to a bound.

    A server that answers and closes while the body is still arriving resets the connection,
    and the reset can destroy its own answer on the way: a proxy in front (nginx sends the
    body it buffered) then reports a 502 instead of the 413. Reading the rest first keeps the
    answer; past ``DRAIN_MAX_BYTES`` the connection is simply closed.
    """
    drained = 0
    try:
        async for chunk in request.stream():
            drained += len(chunk)
            if drained > DRAIN_MAX_BYTES:
                break
    except (RuntimeError, ClientDisconnect):  # read already ("Stream consumed"), or the client left
        pass
    return problem


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
