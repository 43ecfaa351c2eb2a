"""The four wire formats the fake upstream speaks, as frames of bytes.

Each format says how its stream opens, how one piece of text travels, how the answer ends
(the end marker), what its in-stream error and a malformed chunk look like, the JSON an
HTTP error carries, and the JSON of a whole answer to a request that did not ask to stream. ``tests/fakes/upstream.py`` decides which frames go out, and when.
The shapes follow each API's documentation, trimmed to what a client reads.
"""

from __future__ import annotations

import json


def sse(payload: dict | str, event: str | None = None) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload)
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {data}\n\n".encode()


def ndjson(payload: dict) -> bytes:
    return (json.dumps(payload) + "\n").encode()


def openai_error_body(status: int, message: str) -> dict:
    kind = {401: "invalid_request_error", 429: "rate_limit_exceeded"}.get(status, "server_error")
    return {"error": {"message": message, "type": kind, "code": kind}}


class OpenAIChat:
    path = "/v1/chat/completions"
    media_type = "text/event-stream"
    malformed = b'data: {"choices": [{"delta": \n\n'
    error_body = staticmethod(openai_error_body)

    def opening(self, model: str) -> list[bytes]:
        return []

    def text(self, piece: str, model: str) -> bytes:
        return sse({"id": "c1", "model": model, "choices": [{"index": 0, "delta": {"content": piece},
                                                              "finish_reason": None}]})

    def ending(self, finish_reason: str | None, send_done: bool, model: str) -> list[bytes]:
        frames = []
        if finish_reason:
            frames.append(sse({"id": "c1", "model": model, "choices": [{"index": 0, "delta": {},
                                                                        "finish_reason": finish_reason}]}))
        if send_done:
            frames.append(sse("[DONE]"))
        return frames

    def error_event(self, error: dict | None) -> bytes:
        return sse({"error": error or {"message": "The server had an error processing your request.",
                                       "type": "server_error"}})

    def whole(self, text: str, finish_reason: str | None, ended: bool, model: str) -> dict:
        return {"id": "c1", "object": "chat.completion", "model": model, "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish_reason}]}


class AnthropicMessages:
    path = "/v1/messages"
    media_type = "text/event-stream"
    malformed = b'event: content_block_delta\ndata: {"type": "content_block_delta", "delta": \n\n'
    _STOP_REASONS = {"stop": "end_turn", "length": "max_tokens"}
    _ERROR_TYPES = {401: "authentication_error", 429: "rate_limit_error", 529: "overloaded_error"}

    def error_body(self, status: int, message: str) -> dict:
        return {"type": "error", "error": {"type": self._ERROR_TYPES.get(status, "api_error"), "message": message}}

    def opening(self, model: str) -> list[bytes]:
        message = {"id": "msg_1", "type": "message", "role": "assistant", "model": model, "content": [],
                   "stop_reason": None, "usage": {"input_tokens": 10, "output_tokens": 1}}
        return [
            sse({"type": "message_start", "message": message}, "message_start"),
            sse({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                "content_block_start"),
            sse({"type": "ping"}, "ping"),
        ]

    def text(self, piece: str, model: str) -> bytes:
        delta = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}
        return sse(delta, "content_block_delta")

    def ending(self, finish_reason: str | None, send_done: bool, model: str) -> list[bytes]:
        stop_reason = self._STOP_REASONS.get(finish_reason or "stop", finish_reason)
        return [
            sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
            sse({"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                 "usage": {"output_tokens": 12}}, "message_delta"),
            sse({"type": "message_stop"}, "message_stop"),
        ]

    def error_event(self, error: dict | None) -> bytes:
        return sse({"type": "error", "error": error or {"type": "overloaded_error", "message": "Overloaded"}},
                   "error")

    def whole(self, text: str, finish_reason: str | None, ended: bool, model: str) -> dict:
        return {"id": "msg_1", "type": "message", "role": "assistant", "model": model,
                "content": [{"type": "text", "text": text}],
                "stop_reason": self._STOP_REASONS.get(finish_reason or "stop", finish_reason) if ended else None}


class OllamaChat:
    path = "/api/chat"
    media_type = "application/x-ndjson"
    malformed = b'{"message": {"content": \n'

    def error_body(self, status: int, message: str) -> dict:
        return {"error": message}

    def opening(self, model: str) -> list[bytes]:
        return []

    def text(self, piece: str, model: str) -> bytes:
        return ndjson({"model": model, "created_at": "2026-01-01T00:00:00Z",
                       "message": {"role": "assistant", "content": piece}, "done": False})

    def ending(self, finish_reason: str | None, send_done: bool, model: str) -> list[bytes]:
        return [ndjson({"model": model, "created_at": "2026-01-01T00:00:01Z",
                        "message": {"role": "assistant", "content": ""}, "done": True,
                        "done_reason": finish_reason or "stop", "eval_count": 12})]

    def error_event(self, error: dict | None) -> bytes:
        return ndjson({"error": (error or {}).get("message", "an error was encountered while running the model")})

    def whole(self, text: str, finish_reason: str | None, ended: bool, model: str) -> dict:
        return {"model": model, "message": {"role": "assistant", "content": text}, "done": ended,
                "done_reason": finish_reason or "stop"}


class OpenAIResponses:
    path = "/v1/responses"
    media_type = "text/event-stream"
    malformed = b'event: response.output_text.delta\ndata: {"delta": \n\n'
    error_body = staticmethod(openai_error_body)

    def opening(self, model: str) -> list[bytes]:
        response = {"id": "resp_1", "object": "response", "status": "in_progress", "model": model, "output": []}
        item = {"id": "msg_1", "type": "message", "role": "assistant", "status": "in_progress", "content": []}
        return [
            sse({"type": "response.created", "response": response}, "response.created"),
            sse({"type": "response.output_item.added", "output_index": 0, "item": item},
                "response.output_item.added"),
            sse({"type": "response.content_part.added", "item_id": "msg_1", "output_index": 0, "content_index": 0,
                 "part": {"type": "output_text", "text": ""}}, "response.content_part.added"),
        ]

    def text(self, piece: str, model: str) -> bytes:
        delta = {"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0,
                 "content_index": 0, "delta": piece}
        return sse(delta, "response.output_text.delta")

    def ending(self, finish_reason: str | None, send_done: bool, model: str) -> list[bytes]:
        if finish_reason in (None, "stop"):
            return [sse({"type": "response.completed", "response": self._response(model, "completed")},
                        "response.completed")]
        reason = "max_output_tokens" if finish_reason == "length" else finish_reason
        response = {**self._response(model, "incomplete"), "incomplete_details": {"reason": reason}}
        return [sse({"type": "response.incomplete", "response": response}, "response.incomplete")]

    def error_event(self, error: dict | None) -> bytes:
        error = error or {"code": "server_error", "message": "The model failed to generate a response."}
        response = {**self._response("fake", "failed"), "error": error}
        return sse({"type": "response.failed", "response": response}, "response.failed")

    def whole(self, text: str, finish_reason: str | None, ended: bool, model: str) -> dict:
        item = {"id": "msg_1", "type": "message", "role": "assistant", "status": "completed",
                "content": [{"type": "output_text", "text": text}]}
        if not ended:
            return {**self._response(model, "in_progress"), "output": [item]}
        if finish_reason in (None, "stop"):
            return {**self._response(model, "completed"), "output": [item]}
        reason = "max_output_tokens" if finish_reason == "length" else finish_reason
        return {**self._response(model, "incomplete"), "output": [item], "incomplete_details": {"reason": reason}}

    @staticmethod
    def _response(model: str, status: str) -> dict:
        return {"id": "resp_1", "object": "response", "status": status, "model": model}


FORMATS = (OpenAIChat(), AnthropicMessages(), OllamaChat(), OpenAIResponses())
