"""The shared HTTP client against a real HTTP server on 127.0.0.1."""
import pytest

from platforms.http import (
    ApiAuthError,
    ApiError,
    ApiRateLimited,
    ApiUnavailable,
    HttpClient,
    RetryPolicy,
    retry_after_seconds,
)
from platforms.testing import ALLOW_LOCAL, FakeStore


@pytest.fixture
def store():
    with FakeStore() as fake:
        yield fake


def client(store, **kwargs):
    waits = []
    http = HttpClient(store.url, **ALLOW_LOCAL, sleep=waits.append, **kwargs)
    return http, waits


def test_429_is_retried_after_the_time_the_store_asks(store):
    store.route("GET", "/orders", responses=[
        (429, {"Retry-After": "2"}, {"errors": "Exceeded 2 calls per second"}),
        (200, {}, {"orders": [1]}),
    ])
    http, waits = client(store)
    assert http.get_json("orders") == {"orders": [1]}
    assert waits == [2.0]
    assert len(store.calls("GET", "/orders")) == 2


def test_5xx_is_retried_with_growing_back_off_then_reported(store):
    store.route("GET", "/orders", status=503, json={"message": "maintenance"})
    http, waits = client(store, retry=RetryPolicy(attempts=3, backoff=0.5))
    with pytest.raises(ApiUnavailable) as info:
        http.get_json("orders")
    assert waits == [0.5, 1.0]
    assert info.value.status == 503
    assert "maintenance" in str(info.value)
    assert len(store.calls("GET", "/orders")) == 3


def test_rate_limit_that_never_clears_is_its_own_error(store):
    store.route("GET", "/orders", status=429, headers={"Retry-After": "1"})
    http, _waits = client(store, retry=RetryPolicy(attempts=2))
    with pytest.raises(ApiRateLimited):
        http.get_json("orders")


def test_too_long_retry_after_fails_at_once(store):
    store.route("GET", "/orders", status=429, headers={"Retry-After": "3600"})
    http, waits = client(store)
    with pytest.raises(ApiRateLimited):
        http.get_json("orders")
    assert waits == [] and len(store.calls("GET", "/orders")) == 1


def test_401_is_not_retried_and_says_so(store):
    store.route("GET", "/shop.json", status=401, json={"errors": "[API] Invalid API key or access token"})
    http, waits = client(store)
    with pytest.raises(ApiAuthError) as info:
        http.get_json("shop.json")
    assert "Invalid API key" in str(info.value)
    assert waits == [] and len(store.calls("GET", "/shop.json")) == 1


def test_4xx_is_an_error_with_the_store_message(store):
    store.route("POST", "/products/batch", status=413,
                json={"code": "woocommerce_rest_request_entity_too_large",
                      "message": "Unable to accept more than 100 items for this request."})
    http, _ = client(store)
    with pytest.raises(ApiError) as info:
        http.post_json("products/batch", {"update": []})
    assert info.value.status == 413 and "100 items" in str(info.value)


def test_no_server_is_unavailable_after_retries():
    with FakeStore() as gone:
        url = gone.url
    waits = []
    http = HttpClient(url, **ALLOW_LOCAL, sleep=waits.append, retry=RetryPolicy(attempts=2), timeout=2)
    with pytest.raises(ApiUnavailable):
        http.get_json("orders")
    assert waits == [0.5]


def test_retry_after_forms():
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds("0.5") == 0.5
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert retry_after_seconds("soon") is None


@pytest.mark.parametrize("content_type, body", [
    ("application/json", '{"message": "bad request\\r\\n2026-01-01 ERROR odoo: forged line\\n' + "x" * 500 + '"}'),
    ("application/json", '{"errors": {"base": ["line one\\nline two"], "more": "' + "y" * 500 + '"}}'),
    ("text/plain", "upstream failed\n2026-01-01 ERROR odoo: forged line\n" + "z" * 500),
], ids=["json-message", "json-errors", "text"])
def test_the_store_s_words_in_an_error_are_one_short_line(store, content_type, body):
    store.route("GET", "/orders", responses=[(422, {"Content-Type": content_type}, body)])
    http, _waits = client(store, retry=RetryPolicy(attempts=1))
    with pytest.raises(ApiError) as caught:
        http.get_json("orders")
    message = str(caught.value)
    assert "\n" not in message and "\r" not in message
    assert "forged line" in message or "line one" in message
    assert len(message) < len(f"GET {store.url}/orders: HTTP 422 — ") + 201


def test_an_html_page_instead_of_json_is_quoted_on_one_short_line(store):
    page = "<html>\n<body>\r\n<h1>Maintenance</h1>\n" + "<p>back soon</p>\n" * 100 + "</body></html>"
    store.route("GET", "/orders", responses=[(200, {"Content-Type": "text/html"}, page)])
    http, _waits = client(store)
    with pytest.raises(ApiError, match="HTML page instead of JSON") as caught:
        http.get_json("orders")
    assert "\n" not in str(caught.value) and "\r" not in str(caught.value)
    assert "<h1>Maintenance</h1>" in str(caught.value)
    assert str(caught.value).endswith("…")
