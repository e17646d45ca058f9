"""CORS for browser apps on other origins: MEMQL_CORS_ORIGINS, no credentials, Authorization."""

from __future__ import annotations

import pytest

from tests.support.client import running_app
from tests.support.stores import make_settings


async def test_allowed_origins_get_cors_headers_and_preflight_allows_authorization() -> None:
    async with running_app(make_settings(cors_origins=["https://chat.example"])) as api:
        preflight = await api.http.options(
            "/graphql",
            headers={
                "origin": "https://chat.example",
                "access-control-request-method": "POST",
                "access-control-request-headers": "authorization, content-type",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://chat.example"
        allowed = preflight.headers["access-control-allow-headers"].lower()
        assert "authorization" in allowed and "content-type" in allowed
        assert "access-control-allow-credentials" not in preflight.headers
        response = await api.http.post(
            "/graphql",
            json={"query": "{ users { totalCount } }"},
            headers={"origin": "https://chat.example"},
        )
        assert response.status_code == 200
        assert response.json() == {"data": {"users": {"totalCount": 0}}}
        assert response.headers["access-control-allow-origin"] == "https://chat.example"


async def test_other_origins_get_no_cors_headers() -> None:
    async with running_app(make_settings(cors_origins=["https://chat.example"])) as api:
        response = await api.http.post(
            "/graphql",
            json={"query": "{ users { totalCount } }"},
            headers={"origin": "https://evil.example"},
        )
        # Any POST from an origin not allowed is refused (the origin rule: a POST may write),
        # and without a CORS header the page could not read the answer anyway.
        assert response.status_code == 403
        assert "access-control-allow-origin" not in response.headers
        preflight = await api.http.options(
            "/graphql",
            headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
        )
        assert preflight.status_code == 400


async def test_without_the_setting_no_origin_is_allowed() -> None:
    async with running_app() as api:
        response = await api.http.post(
            "/graphql",
            json={"query": "{ users { totalCount } }"},
            headers={"origin": "https://chat.example"},
        )
        assert response.status_code == 403
        assert "access-control-allow-origin" not in response.headers
        same_origin = await api.http.post(
            "/graphql",
            json={"query": "{ users { totalCount } }"},
            headers={"origin": "http://localhost"},
        )
        assert same_origin.status_code == 200


def test_cors_origins_setting_is_a_comma_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEMQL_CORS_ORIGINS", "https://a.example, https://b.example")
    assert make_settings().cors_origins == ["https://a.example", "https://b.example"]


async def test_a_413_from_the_body_limit_carries_cors_headers() -> None:
    settings = make_settings(cors_origins=["https://chat.example"], max_body_bytes=2048)
    async with running_app(settings) as api:
        response = await api.http.post(
            "/graphql",
            json={"query": "{ users { totalCount } }", "variables": {"pad": "x" * 4096}},
            headers={"origin": "https://chat.example"},
        )
        assert response.status_code == 413
        assert response.headers["access-control-allow-origin"] == "https://chat.example"
        assert response.headers["access-control-expose-headers"].lower() == "x-request-id"
        assert response.headers["x-request-id"]
