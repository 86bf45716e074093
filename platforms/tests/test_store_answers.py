"""Answers a store's API should not give, and ids a store cannot take: each is an ApiError that
says what went wrong, never a bare decoding error or a crash of the whole batch."""
from datetime import datetime

import pytest

from platforms import get
from platforms.base import StatusUpdate
from platforms.http import (
    ApiBadAnswer,
    ApiError,
    ApiUnavailable,
    HttpClient,
    RetryPolicy,
)
from platforms.testing import ALLOW_LOCAL, FakeIdoSell, FakeStore

HTML = (200, {"Content-Type": "text/html; charset=UTF-8"}, "<!DOCTYPE html><html><body>Maintenance</body></html>")
BATCH = "/wp-json/wc/v3/orders/batch"


@pytest.fixture
def store():
    with FakeStore() as fake:
        yield fake


def woo(store_url):
    return get("woocommerce").client({"store_url": store_url, **ALLOW_LOCAL, "api_login": "k", "api_secret": "s"},
                                     sleep=lambda _s: None)


def test_an_html_page_with_200_is_an_api_error_that_says_so(store):
    store.route("GET", "/orders", responses=[HTML])
    store.route("POST", "/orders", responses=[HTML])
    http = HttpClient(store.url, **ALLOW_LOCAL)
    for call in (lambda: http.get_json("orders"), lambda: http.post_json("orders", {})):
        with pytest.raises(ApiBadAnswer, match="HTML page instead of JSON") as info:
            call()
        assert info.value.status == 200
        assert "Maintenance" in str(info.value)
        assert isinstance(info.value, ValueError), "still what requests' own error is, for code written for it"


def test_an_empty_200_is_an_api_error_and_a_204_is_no_content(store):
    store.route("POST", "/empty", responses=[(200, {}, b"")])
    store.route("POST", "/none", responses=[(204, {}, b"")])
    http = HttpClient(store.url, **ALLOW_LOCAL)
    with pytest.raises(ApiBadAnswer, match="empty answer"):
        http.post_json("empty", {})
    assert http.post_json("none", {}) is None


def test_pages_read_by_a_platform_client_raise_the_same_error(store):
    store.route("GET", "/wp-json/wc/v3/orders", responses=[HTML])
    with pytest.raises(ApiBadAnswer, match="HTML"):
        list(woo(store.url).orders_since("2026-11-24T09:00:00Z"))


def test_an_error_status_with_an_html_body_is_still_read_as_that_error(store):
    store.route("GET", "/orders", responses=[(503, {"Content-Type": "text/html"}, "<html>Down</html>")])
    with pytest.raises(ApiUnavailable, match="503"):
        HttpClient(store.url, **ALLOW_LOCAL, retry=RetryPolicy(attempts=1)).get_json("orders")


@pytest.mark.parametrize("url", ["shop.example.com", "ftp://shop.example.com", "https://"])
def test_a_store_url_that_is_no_url_is_an_api_error_not_retried(url):
    waits = []
    http = HttpClient(url, **ALLOW_LOCAL, sleep=waits.append)
    with pytest.raises(ApiError, match="not a URL the store can be reached at") as info:
        http.get_json("orders")
    assert not isinstance(info.value, ApiUnavailable)
    assert waits == [] and http.calls == 1


@pytest.mark.parametrize("key", ["secret-key\n", "secret-kęy"])
def test_a_credential_that_cannot_be_a_header_is_not_repeated_in_the_error(store, key):
    http = HttpClient(store.url, **ALLOW_LOCAL, headers={"X-API-KEY": key})
    with pytest.raises(ApiError, match="the request could not be made") as info:
        http.get_json("orders")
    assert "secret-key" not in str(info.value)


def test_woocommerce_an_order_id_that_is_no_number_fails_alone(store):
    store.route("POST", BATCH, handler=lambda r: (200, {}, {"update": r.json()["update"]}))
    results = woo(store.url).set_order_statuses([
        StatusUpdate("727", "completed"), StatusUpdate("WC-728", "completed"), StatusUpdate("0729", "completed")])
    assert [c.json() for c in store.calls("POST", BATCH)] == [
        {"update": [{"id": 727, "status": "completed"}, {"id": 729, "status": "completed"}]}]
    assert results["727"] == "status completed" and results["0729"] == "status completed"
    assert isinstance(results["WC-728"], ApiError) and "WC-728" in str(results["WC-728"])


def test_woocommerce_no_request_when_no_order_id_is_a_number(store):
    results = woo(store.url).set_order_statuses([StatusUpdate("x", "completed")])
    assert isinstance(results["x"], ApiError)
    assert store.requests == []


@pytest.mark.parametrize("answer", [HTML, (200, {}, b""), (200, {}, ["unexpected"])])
def test_woocommerce_a_batch_answer_that_is_no_list_of_orders_is_a_bad_answer(store, answer):
    store.route("POST", BATCH, responses=[answer])
    with pytest.raises(ApiBadAnswer):
        woo(store.url).set_order_statuses([StatusUpdate("727", "completed")])


def test_idosell_an_order_id_that_is_no_serial_number_fails_alone(store):
    shop = FakeIdoSell(store, [])
    ido = get("idosell").client({"store_url": store.url, "api_secret": "ido-key", "timezone": "Europe/Warsaw",
                                 **ALLOW_LOCAL},
                                clock=lambda: datetime(2026, 11, 24))
    results = ido.set_order_statuses([StatusUpdate("4521", "packed"), StatusUpdate("4522-B", "packed")])
    assert shop.statuses == [(4521, "packed")]
    assert results["4521"] == "status packed"
    assert isinstance(results["4522-B"], ApiError) and "4522-B" in str(results["4522-B"])


@pytest.mark.parametrize("answer", [HTML, (200, {}, b""), (200, {}, [])])
def test_idosell_a_status_answer_that_is_not_its_results_confirms_nothing(store, answer):
    ido = get("idosell").client({"store_url": store.url, "api_secret": "ido-key", "timezone": "Europe/Warsaw",
                                 **ALLOW_LOCAL},
                                clock=lambda: datetime(2026, 11, 24), sleep=lambda _s: None)
    store.route("PUT", "/api/admin/v6/orders/orders", responses=[answer])
    with pytest.raises(ApiBadAnswer):
        ido.set_order_statuses([StatusUpdate("4521", "packed")])
