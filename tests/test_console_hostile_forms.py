"""Hostile input at the console's forms (issue 15, item 1): every form the console takes (each POST
route, its path parameters included) gets fields Hypothesis draws (bench.hostile's nasty strings,
huge values, unknown fields), with and without the page's CSRF token, from a visitor of every
kind. No answer is a server error, and each comes within a second. Through the ASGI app against
the real registry and complaints services (tests/test_console_routes.py's fixture)."""

from __future__ import annotations

import re
import time
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from starlette.routing import Mount, Route

from bench.hostile import ANSWER_SECONDS, texts
from tests.test_console_routes import console, sign_in  # noqa: F401 - console is a fixture

pytestmark = pytest.mark.slow
EXAMPLES = 6
VISITORS = ("nobody", "citizen", "handler", "supervisor", "inspector", "operator")
FIELD_NAMES = ("csrf", "idempotency_key", "reason", "assignee", "agency", "category", "description", "occurred_on",
               "identity", "name", "phone", "resident_id", "email", "privacy", "token", "role", "subject",
               "region", "next", "tracking_code", "tracking_secret", "penalty_kind", "fine_cny", "hearing_on",
               "seed_value", "ends_on", "year", "target_region_code", "association_id", "amount_cny", "x" * 300)


def post_routes(routes, prefix: str = "") -> list[str]:
    found = []
    for route in routes:
        if isinstance(route, Mount):
            found += post_routes(route.routes or [], prefix + route.path)
        elif isinstance(route, Route) and route.methods and "POST" in route.methods:
            found.append(prefix + route.path)
    return found


def draw_forms(count: int) -> list[tuple[dict[str, str], list[str], bool]]:
    """(form fields, path parameter values, whether to send the visitor's CSRF token)."""
    drawn = []

    @settings(max_examples=count, deadline=None, derandomize=True, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(fields=st.dictionaries(st.sampled_from(FIELD_NAMES), texts(), max_size=12),
           parameters=st.lists(st.one_of(texts(), st.integers(-2**70, 2**70).map(str)), min_size=3, max_size=3),
           with_csrf=st.booleans())
    def draw(fields, parameters, with_csrf):
        drawn.append((fields, parameters, with_csrf))
    draw()
    return drawn


def filled(path: str, parameters: list[str]) -> str:
    values = iter(parameters)
    return re.sub(r"\{[^}]+\}", lambda _: quote(next(values)[:500], safe="") or "x", path)


async def csrf_of(client: httpx.AsyncClient) -> str:
    page = await client.get("/portal")
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    return found.group(1) if found else ""


@pytest.mark.parametrize("visitor", VISITORS)
async def test_no_form_answers_hostile_input_with_a_server_error_or_slowly(console, visitor):  # noqa: F811
    if visitor != "nobody":
        await sign_in(console, visitor)
    csrf = await csrf_of(console)
    routes = post_routes(console._transport.app.routes)
    assert "/portal" in routes and "/cases/{case_id}/actions/{action}" in routes
    for index, (fields, parameters, with_csrf) in enumerate(draw_forms(EXAMPLES * len(routes))):
        path = filled(routes[index % len(routes)], parameters)
        data = {**fields, "csrf": csrf} if with_csrf else fields
        started = time.perf_counter()
        answer = await console.post(path, data=data)
        elapsed = time.perf_counter() - started
        assert answer.status_code < 500, (visitor, path, answer.status_code, answer.text[:300])
        assert elapsed < ANSWER_SECONDS, (visitor, path, round(elapsed, 3))
