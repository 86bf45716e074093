"""PayPal Checkout: verification through PayPal's API (a fake PayPal on 127.0.0.1), the
approved order and the capture events."""
import json
import pathlib
import threading
import time
from decimal import Decimal

import pytest

from platforms import AuthenticationError, IgnoredEvent, InvalidPayload, get
from platforms import paypal as paypal_module
from platforms.http import ApiAuthError, ApiError, ApiUnavailable, RetryPolicy
from platforms.paypal import TOKENS
from platforms.testing import ALLOW_LOCAL, FakeStore

DATA = pathlib.Path(__file__).parent / "data"
HEADERS = {"PAYPAL-TRANSMISSION-ID": "t-1", "PAYPAL-TRANSMISSION-TIME": "2025-03-14T08:21:10Z",
           "PAYPAL-TRANSMISSION-SIG": "good-signature", "PAYPAL-CERT-URL": "https://api.paypal.com/cert",
           "PAYPAL-AUTH-ALGO": "SHA256withRSA"}


def fake_paypal(store, webhook_id="WH-ID-1"):
    def token(request):
        assert request.headers["Authorization"].startswith("Basic ")
        assert request.body == b"grant_type=client_credentials"
        return 200, {}, {"access_token": "A21AA", "token_type": "Bearer", "expires_in": 32400}

    def verify(request):
        assert request.headers["Authorization"] == "Bearer A21AA"
        sent = request.json()
        good = (sent["transmission_sig"] == "good-signature" and sent["webhook_id"] == webhook_id
                and sent["webhook_event"]["id"].startswith("WH-"))
        return 200, {}, {"verification_status": "SUCCESS" if good else "FAILURE"}

    store.route("POST", "/v1/oauth2/token", handler=token)
    store.route("POST", "/v1/notifications/verify-webhook-signature", handler=verify)


def credentials(store):
    return {"api_login": "client", "api_secret": "secret", "webhook_secret": "WH-ID-1", "store_url": store.url,
            **ALLOW_LOCAL}


@pytest.fixture
def paypal():
    return get("paypal")


def test_verification_goes_through_paypal(paypal):
    body = (DATA / "paypal_order_approved.json").read_bytes()
    with FakeStore() as store:
        fake_paypal(store)
        paypal.verify(HEADERS, body, credentials(store))
        with pytest.raises(AuthenticationError):
            paypal.verify(dict(HEADERS, **{"PAYPAL-TRANSMISSION-SIG": "forged"}), body, credentials(store))
        with pytest.raises(AuthenticationError):
            paypal.verify(HEADERS, body, dict(credentials(store), webhook_secret="WH-OTHER"))
        with pytest.raises(AuthenticationError):
            paypal.verify({}, body, credentials(store))
        with pytest.raises(AuthenticationError):
            paypal.verify(HEADERS, b"not json", credentials(store))


def test_paypal_down_is_not_an_authentication_failure(paypal):
    body = (DATA / "paypal_order_approved.json").read_bytes()
    with FakeStore() as store:
        store.route("POST", "/v1/oauth2/token", status=503, json={"name": "SERVICE_UNAVAILABLE"})
        client = paypal.client(credentials(store), retry=RetryPolicy(attempts=1))
        with pytest.raises(ApiUnavailable):
            client.verify_webhook_signature(HEADERS, "WH-ID-1", json.loads(body))


def test_approved_order_is_not_paid(paypal):
    order = paypal.parse((DATA / "paypal_order_approved.json").read_bytes()).order
    assert (order.external_id, order.number, order.currency) == ("5O190127TN364715T", "SO0042", "EUR")
    assert not order.paid and order.payment.method_code == "paypal"
    assert [(l.sku, l.quantity, l.unit_price) for l in order.lines] == [
        ("TSHIRT-RED-M", 2, Decimal("16.53")), ("MUG-01", 1, Decimal("16.53"))]
    assert sum(l.discount for l in order.lines) == Decimal("4.98")
    assert order.shipping_lines[0].price == Decimal("4.88")
    assert order.shipping_address.city == "Riga" and order.customer.email == "anna@example.lv"
    assert order.total == Decimal("59.90")


def test_order_with_a_completed_capture_is_paid(paypal):
    event = json.loads((DATA / "paypal_order_approved.json").read_text())
    event["event_type"] = "CHECKOUT.ORDER.COMPLETED"
    event["resource"]["purchase_units"][0]["payments"] = {"captures": [
        {"id": "CAP1", "status": "COMPLETED", "amount": {"currency_code": "EUR", "value": "59.90"}}]}
    order = paypal.parse(json.dumps(event).encode()).order
    assert order.paid and order.payment.amount == Decimal("59.90") and order.payment.transaction_id == "CAP1"


def test_capture_completed_is_a_payment_patch_of_its_order(paypal):
    delivery = paypal.parse((DATA / "paypal_capture_completed.json").read_bytes())
    assert delivery.order is None and delivery.external_id == "5O190127TN364715T"
    assert delivery.patch == {"payment": {"status": "paid", "amount": 59.9, "transaction_id": "7NW873794T343360M"}}


@pytest.mark.parametrize("event_type,patch", [
    ("PAYMENT.CAPTURE.DENIED", {"payment": {"status": "failed"}, "status": "cancelled"}),
    ("PAYMENT.CAPTURE.REVERSED", {"payment": {"status": "refunded"}, "status": "cancelled"}),
])
def test_denied_or_reversed_capture_cancels(paypal, event_type, patch):
    event = json.loads((DATA / "paypal_capture_completed.json").read_text())
    event["event_type"] = event_type
    del event["resource"]["supplementary_data"]  # the order id then comes from the "up" link
    delivery = paypal.parse(json.dumps(event).encode())
    assert delivery.external_id == "5O190127TN364715T" and delivery.patch == patch


def test_other_events_are_ignored_and_broken_ones_refused(paypal):
    event = json.loads((DATA / "paypal_capture_completed.json").read_text())
    event["event_type"] = "BILLING.SUBSCRIPTION.CREATED"
    with pytest.raises(IgnoredEvent):
        paypal.parse(json.dumps(event).encode())
    with pytest.raises(InvalidPayload):
        paypal.parse(b'{"event_type": "CHECKOUT.ORDER.APPROVED"}')


# What a delivery costs the merchant: PayPal calls with the merchant's credentials.

def approved_body(**changes):
    event = json.loads((DATA / "paypal_order_approved.json").read_text())
    event.update(changes)
    return json.dumps(event).encode()


def calls(store):
    return len(store.calls("POST", "/v1/oauth2/token")), len(
        store.calls("POST", "/v1/notifications/verify-webhook-signature"))


@pytest.fixture
def tokens():
    TOKENS.clear()
    yield TOKENS
    TOKENS.clear()


def test_one_token_serves_many_deliveries(paypal, tokens):
    with FakeStore() as store:
        fake_paypal(store)
        for _ in range(5):
            paypal.verify(HEADERS, approved_body(), credentials(store))
        assert calls(store) == (1, 5)
        # Another secret (rotated, or another app at the same address) gets its own token.
        store.route("POST", "/v1/oauth2/token", json={"access_token": "A21AA", "expires_in": 32400})
        paypal.verify(HEADERS, approved_body(), dict(credentials(store), api_secret="rotated"))
        assert calls(store) == (2, 6)


def test_a_token_is_not_used_past_its_lifetime(paypal, tokens):
    with FakeStore() as store:
        fake_paypal(store)
        store.route("POST", "/v1/oauth2/token", json={"access_token": "A21AA", "expires_in": 0.3})
        paypal.verify(HEADERS, approved_body(), credentials(store))
        paypal.verify(HEADERS, approved_body(), credentials(store))
        assert calls(store) == (1, 2)
        time.sleep(0.4)
        paypal.verify(HEADERS, approved_body(), credentials(store))
        assert calls(store) == (2, 3)


def test_deliveries_at_once_fetch_one_token(paypal, tokens):
    with FakeStore() as store:
        fake_paypal(store)

        def slow_token(_request):
            time.sleep(0.3)
            return 200, {}, {"access_token": "A21AA", "expires_in": 32400}

        store.route("POST", "/v1/oauth2/token", handler=slow_token, concurrent=True)
        errors = []

        def deliver():
            try:
                paypal.verify(HEADERS, approved_body(), credentials(store))
            except Exception as exc:  # noqa: BLE001 -- collected for the assertion
                errors.append(exc)

        threads = [threading.Thread(target=deliver) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert not errors
        assert calls(store) == (1, 8)


def test_a_token_paypal_refuses_is_dropped(paypal, tokens):
    with FakeStore() as store:
        fake_paypal(store)
        paypal.verify(HEADERS, approved_body(), credentials(store))
        store.route("POST", "/v1/notifications/verify-webhook-signature",
                    responses=[(401, {}, {"error": "invalid_token"}), (200, {}, {"verification_status": "SUCCESS"})])
        with pytest.raises(ApiAuthError):
            paypal.verify(HEADERS, approved_body(), credentials(store))
        paypal.verify(HEADERS, approved_body(), credentials(store))
        assert calls(store) == (2, 3)


def test_events_we_do_not_read_cost_no_paypal_call(paypal, tokens):
    with FakeStore() as store:
        fake_paypal(store)
        dispute = approved_body(event_type="CUSTOMER.DISPUTE.CREATED")
        assert paypal.ignored_event(HEADERS, dispute)
        with pytest.raises(AuthenticationError):
            paypal.verify(HEADERS, dispute, credentials(store))
        for handled in ("CHECKOUT.ORDER.APPROVED", "PAYMENT.CAPTURE.COMPLETED", "CHECKOUT.PAYMENT-APPROVAL.REVERSED"):
            assert not paypal.ignored_event(HEADERS, approved_body(event_type=handled))
        # Not an event at all: left to verify, which refuses it (401) without a call either.
        assert not paypal.ignored_event(HEADERS, b"not json")
        assert calls(store) == (0, 0)


@pytest.mark.parametrize("headers,body", [
    (dict(HEADERS, **{"PAYPAL-CERT-URL": "https://evil.example/paypal.com/cert"}), None),
    (dict(HEADERS, **{"PAYPAL-CERT-URL": "http://api.paypal.com/cert"}), None),
    ({k: v for k, v in HEADERS.items() if k != "PAYPAL-TRANSMISSION-SIG"}, None),
    (HEADERS, b"not json"),
    (HEADERS, b"[1, 2]"),
    (HEADERS, "\ufeff".encode() + approved_body()),
    (HEADERS, b"[" * 100000),
])
def test_what_cannot_be_paypals_is_refused_without_a_call(paypal, tokens, headers, body):
    with FakeStore() as store:
        fake_paypal(store)
        with pytest.raises(AuthenticationError):
            paypal.verify(headers, body if body is not None else approved_body(), credentials(store))
        assert calls(store) == (0, 0)


def test_the_event_is_sent_to_paypal_as_it_came(paypal, tokens):
    # Read and written again, this body would change (spaces, "59.90", "Rīga" as \u012b).
    body = b'{"id":"WH-1",  "event_type":"CHECKOUT.ORDER.APPROVED", "amount": 59.90, "city": "R\xc4\xabga"}'
    with FakeStore() as store:
        fake_paypal(store)
        paypal.verify(HEADERS, body, credentials(store))
        sent = store.calls("POST", "/v1/notifications/verify-webhook-signature")[0].body
        assert body in sent and json.loads(sent)["webhook_id"] == "WH-ID-1"


@pytest.mark.parametrize("route", [
    {"responses": [(429, {"Retry-After": "5"}, {"name": "RATE_LIMIT_REACHED"})]},
    {"responses": [(503, {}, {"name": "SERVICE_UNAVAILABLE"})]},
])
def test_paypal_limiting_our_rate_is_one_attempt(paypal, tokens, route):
    with FakeStore() as store:
        fake_paypal(store)
        store.route("POST", "/v1/oauth2/token", **route)
        started = time.monotonic()
        with pytest.raises(ApiError) as info:
            paypal.verify(HEADERS, approved_body(), credentials(store))
        assert not isinstance(info.value, ApiAuthError)
        assert time.monotonic() - started < 2
        assert calls(store) == (1, 0)


def test_a_slow_paypal_is_waited_for_within_the_budget(paypal, tokens, monkeypatch):
    monkeypatch.setattr(paypal_module, "VERIFY_BUDGET", 1.5)  # the route's figure, shortened for the test
    with FakeStore() as store:
        fake_paypal(store)

        def slow_token(_request):
            time.sleep(paypal_module.VERIFY_BUDGET * 0.7)
            return 200, {}, {"access_token": "A21AA", "expires_in": 32400}

        def slow_verify(_request):
            time.sleep(paypal_module.VERIFY_BUDGET + 5)
            return 200, {}, {"verification_status": "SUCCESS"}

        store.route("POST", "/v1/oauth2/token", handler=slow_token, concurrent=True)
        store.route("POST", "/v1/notifications/verify-webhook-signature", handler=slow_verify, concurrent=True)
        started = time.monotonic()
        with pytest.raises(ApiUnavailable):
            paypal.verify(HEADERS, approved_body(), credentials(store))
        # The token and the check share the budget: not a full budget each.
        assert time.monotonic() - started < paypal_module.VERIFY_BUDGET + 0.5
        assert calls(store) == (1, 1)
