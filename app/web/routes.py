"""The public HTTP API (design.md, "Public HTTP API") as Starlette routes.

Handlers are thin: parse, call ``ChatService`` on behalf of the request's actor (identified
by ``access.AccessGate``), shape the JSON. Engine exceptions map to the contract's error shape
in one place (``_guard``).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.engine.run_input import Forbidden, InputError, RunRequest
from app.engine.service import ChatService
from app.web.diagnostics import OpenStreams, counted, diagnostics_routes
from app.web.access import actor_of
from app.web.admin import admin_routes
from app.web.responses import guarded as _guard
from app.web.responses import read_json_object
from app.web.sign_in import sign_in_routes
from app.web.stream import run_events, run_poll

def _created(run, created: bool) -> JSONResponse:
    payload = {
        "run_id": run.id,
        "conversation_id": run.conversation_id,
        "message_id": run.message_id,
        "events_url": f"/api/runs/{run.id}/events",
    }
    return JSONResponse(payload, status_code=201 if created else 200)


def api_routes(service: ChatService) -> list[Route]:
    streams = OpenStreams()  # event streams open now, per caller (GET /api/diagnostics)

    async def create_run(request: Request) -> Response:
        body = await read_json_object(request, service.settings.max_request_bytes)
        unknown = set(body) - set(RunRequest.__dataclass_fields__)
        if unknown:
            raise InputError("unknown_field", f"Unknown field(s): {', '.join(sorted(unknown))}.")
        run, created = await service.start_run(actor_of(request), RunRequest(**body))
        return _created(run, created)

    async def get_run(request: Request) -> Response:
        return JSONResponse(await service.run_view(actor_of(request), request.path_params["run_id"]))

    async def events(request: Request) -> Response:
        return counted(streams, request, await run_events(service, request, request.path_params["run_id"]))

    async def poll(request: Request) -> Response:
        return await run_poll(service, request, request.path_params["run_id"])

    async def stop(request: Request) -> Response:
        await service.stop_run(actor_of(request), request.path_params["run_id"])
        return JSONResponse(await service.run_view(actor_of(request), request.path_params["run_id"]))

    async def continue_(request: Request) -> Response:
        await service.continue_run(actor_of(request), request.path_params["run_id"])
        return JSONResponse(await service.run_view(actor_of(request), request.path_params["run_id"]))

    async def timeline(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        run = await service.get_run(actor_of(request), run_id)
        return JSONResponse({"run_id": run_id, "entries": await service.records.timeline(run)})

    async def report(request: Request) -> Response:
        run = await service.get_run(actor_of(request), request.path_params["run_id"])
        return JSONResponse(await service.records.report(run))

    async def client_events(request: Request) -> Response:
        body = await read_json_object(request, service.settings.max_request_bytes)
        run = await service.get_run(actor_of(request), request.path_params["run_id"])
        kept = await service.records.record_browser_events(run, body)
        return JSONResponse({"kept": kept}, status_code=202)

    async def models(request: Request) -> Response:
        registry = service.registry
        return JSONResponse({
            "models": [{"id": m.id, "provider": m.provider, "model": m.model, "label": m.label} for m in registry.models],
            "default": registry.default.id,
        })

    async def retry(request: Request) -> Response:
        body = await read_json_object(request, service.settings.max_request_bytes, optional=True)
        run, created = await service.retry_run(actor_of(request), request.path_params["run_id"],
                                               body.get("client_request_id"))
        return _created(run, created)

    async def conversations(request: Request) -> Response:
        found = await service.conversations.list(actor_of(request), request.query_params.get("q", ""))
        return JSONResponse({"conversations": [
            {"id": c.id, "title": c.title, "updated_at": c.updated_at.isoformat()} for c in found
        ]})

    async def conversation(request: Request) -> Response:
        conversation_id, actor = request.path_params["conversation_id"], actor_of(request)
        if request.method == "DELETE":
            await service.conversations.delete(actor, conversation_id)
            return Response(status_code=204)
        if request.method == "GET":
            return JSONResponse(await service.conversations.view(actor, conversation_id))
        body = await read_json_object(request, service.settings.max_request_bytes)
        await service.conversations.update(actor, conversation_id, body)
        view = await service.conversations.view(actor, conversation_id)
        return JSONResponse({"id": view["id"], "title": view["title"], "settings": view["settings"]})

    async def branch(request: Request) -> Response:
        conversation_id = request.path_params["conversation_id"]
        body = await read_json_object(request, service.settings.max_request_bytes)
        await service.conversations.show_branch(actor_of(request), conversation_id, body.get("message_id"))
        return JSONResponse(await service.conversations.view(actor_of(request), conversation_id))

    async def chaos(request: Request) -> Response:
        # Switching is for admins; with auth "none" the one user is the admin.
        if request.method == "PUT":
            body = await read_json_object(request, service.settings.max_request_bytes)
            return JSONResponse(service.set_chaos(actor_of(request), body))
        return JSONResponse(service.chaos.view())

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def metrics(request: Request) -> Response:
        # Counts across all users: for admins (a scraper signs in with an admin's API token).
        if not actor_of(request).is_admin:
            raise Forbidden("The metrics are for admins: scrape them with an admin's API token.")
        body, content_type = service.telemetry.metrics.render()
        return Response(body, headers={"Content-Type": content_type})

    return [
        Route("/api/runs", _guard(create_run), methods=["POST"]),
        Route("/api/runs/{run_id}", _guard(get_run), methods=["GET"]),
        Route("/api/runs/{run_id}/events", _guard(events), methods=["GET"]),
        Route("/api/runs/{run_id}/poll", _guard(poll), methods=["GET"]),
        Route("/api/runs/{run_id}/stop", _guard(stop), methods=["POST"]),
        Route("/api/runs/{run_id}/continue", _guard(continue_), methods=["POST"]),
        Route("/api/runs/{run_id}/retry", _guard(retry), methods=["POST"]),
        Route("/api/runs/{run_id}/timeline", _guard(timeline), methods=["GET"]),
        Route("/api/runs/{run_id}/report", _guard(report), methods=["GET"]),
        Route("/api/runs/{run_id}/client-events", _guard(client_events), methods=["POST"]),
        Route("/api/models", models, methods=["GET"]),
        Route("/api/conversations", _guard(conversations), methods=["GET"]),
        Route("/api/conversations/{conversation_id}", _guard(conversation), methods=["GET", "PATCH", "DELETE"]),
        Route("/api/conversations/{conversation_id}/branch", _guard(branch), methods=["POST"]),
        Route("/api/chaos", _guard(chaos), methods=["GET", "PUT"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", _guard(metrics), methods=["GET"]),
        *diagnostics_routes(service.settings, streams),
        *sign_in_routes(service),
        *admin_routes(service),
    ]
