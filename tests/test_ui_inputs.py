"""The Administration UI under input no browser sends: CSRF tokens that are not ASCII, control names that
nest inside another control, ids with a NUL, and secrets typed into a form that comes back with an error.
Each is a 4xx naming what is wrong (or the form again), never a 500, and never a secret in the page."""

from __future__ import annotations

import contextlib

from tests.conftest import RunningApi
from tests.test_ui import _client, _logged_in


async def test_a_csrf_token_that_is_not_ascii_is_refused_like_a_wrong_one(running_api: RunningApi) -> None:
    browser = await _logged_in(running_api, await _client(running_api))
    async with contextlib.aclosing(browser):
        for sent in (
            {"data": {"csrf_token": "é"}},
            {"headers": {b"X-CSRF-Token": "é".encode("latin-1")}},
            {"data": {"csrf_token": "\u2603" * 64}},
        ):
            response = await browser.post("/ui/logout", **sent)  # type: ignore[arg-type]
            assert response.status_code == 403, (sent, response.status_code, response.text[:200])
            assert "CSRF" in response.text
        check = await browser.post(
            "/ui/validate-filter",
            json={"filter": "$.a", "input": {"a": 1}},
            headers={b"X-CSRF-Token": "é".encode("latin-1")},
        )
        assert check.status_code == 403, check.text
        assert (await browser.get("/ui/")).status_code == 200, "the session was not ended"
