"""A reload of a cached page is answered 304: its headers join the cached page's in the
browser, so the gate must not give it a CSP that would replace the page's own."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.routing import Route

from app.web.access import NON_PAGE_CSP, _SecureHeaders


def app_with(response: Response) -> Starlette:
    async def page(_request):
        return response

    inner = Starlette(routes=[Route("/page", page)])

    async def gated(scope, receive, send):
        await inner(scope, receive, _SecureHeaders(send, Headers(headers={"host": "app"}), 3000))

    return gated


async def answer(response: Response) -> httpx.Response:
    transport = httpx.ASGITransport(app=app_with(response))
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        return await client.get("/page")


async def test_a_not_modified_answer_carries_no_csp_of_its_own():
    got = await answer(Response(status_code=304, headers={"etag": '"v1"'}))
    assert got.status_code == 304
    assert "content-security-policy" not in got.headers
    assert got.headers["x-content-type-options"] == "nosniff"


async def test_other_answers_without_a_page_still_get_the_strict_csp():
    got = await answer(Response(b"{}", media_type="application/json"))
    assert got.headers["content-security-policy"] == NON_PAGE_CSP
