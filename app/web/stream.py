"""``GET /api/runs/{run_id}/events``: replay the run log after the resume point, then tail it.

The endpoint never touches the run: it only reads the log (``ChatService.follow``). Wire
details (design.md): ``retry:`` first, a ``ping`` event without ``id:`` at once and then at
least every heartbeat interval, ``id: <seq>`` on every log event, close after ``end``,
``204`` when a finished run has nothing after the resume point.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from app.engine.service import ChatService
from app.engine.sse import encode_event, encode_events, encode_retry
from app.engine.rows import RunRow
from app.web.access import actor_of
from app.web.responses import HTTPProblem

PING = encode_event("ping", "{}")
POLL_WAIT_S = 25.0
SSE_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # nginx: do not buffer this response
}
_MAX_SEQ_DIGITS = 18


def parse_resume_point(last_event_id: str | None, after: str | None) -> int:
    """The seq to resume after: ``Last-Event-ID``, else ``?after=``, else 0.

    Raises ValueError for anything but a plain non-negative whole number.
    """
    raw = last_event_id if last_event_id else after
    if raw is None:
        return 0
    raw = raw.strip()
    if not raw.isascii() or not raw.isdigit() or len(raw) > _MAX_SEQ_DIGITS:
        raise ValueError(f"not a sequence number: {raw[:40]!r}")
    return int(raw)


async def run_events(service: ChatService, request: Request, run_id: str) -> Response:
    try:
        after = parse_resume_point(request.headers.get("last-event-id"), request.query_params.get("after"))
    except ValueError:
        raise HTTPProblem(400, "bad_resume_point", "Last-Event-ID / after must be a whole number ≥ 0.") from None
    run = await service.get_run(actor_of(request), run_id)
    if run.state.is_terminal and after >= run.last_seq and not service.is_live(run):
        return Response(status_code=204)
    client = request.client.host if request.client else None
    return StreamingResponse(
        _event_stream(service, run, after, client), media_type="text/event-stream", headers=SSE_HEADERS
    )


async def run_poll(service: ChatService, request: Request, run_id: str) -> Response:
    """``GET /api/runs/{run_id}/poll?after=N``: the same events as JSON, for paths that break
    event streams. Answers at once when events after N exist, else holds up to the poll wait."""
    try:
        after = parse_resume_point(None, request.query_params.get("after"))
    except ValueError:
        raise HTTPProblem(400, "bad_resume_point", "after must be a whole number ≥ 0.") from None
    await service.get_run(actor_of(request), run_id)
    events: list = []
    stream = service.follow(run_id, after, tick_s=POLL_WAIT_S)
    try:
        async for batch in stream:
            events = batch
            break  # the first batch, or [] when the wait ran out
    finally:
        await stream.aclose()
    run = await service.get_run(actor_of(request), run_id)
    return JSONResponse({
        "state": str(run.state),
        "events": [{"seq": e.seq, "event": e.kind, "data": e.payload} for e in events],
    })


async def _event_stream(service: ChatService, run: RunRow, after: int, client: str | None) -> AsyncIterator[bytes]:
    """The stream's bytes. Its opening (with the resume point) and its closing are noted once,
    by a ``StreamWatch``: the run's timeline shows every reconnect, the metrics count them, the
    lifecycle log has a line for each. In chaos mode the server may cut it after a few events,
    as a dropped connection would (no ``end``)."""
    run_id = run.id
    watch = service.records.watch_stream(run, after, client)
    cut_after = service.chaos.stream_cut_after(run_id)
    closed_by = "client"  # unless the loop below finishes: then the server closed it
    try:
        chunk = encode_retry(service.settings.sse_retry_ms) + PING
        watch.sent(len(chunk))
        yield chunk
        async for batch in service.follow(run_id, after):
            # Everything committed since the last write goes out in one write.
            chunk = encode_events((e.kind, e.data, e.seq) for e in batch) if batch else PING
            watch.sent(len(chunk), events=len(batch))
            yield chunk
            if cut_after is not None and watch.events >= cut_after and batch[-1].kind != "end":
                closed_by = "chaos"
                return
        closed_by = "server"
    finally:
        watch.closed(closed_by)
