"""PayPal Checkout: verification through PayPal's API (a fake PayPal on 127.0.0.1), the
approved order and the capture events."""
import json
import pathlib
from decimal import Decimal

import pytest

from platforms import AuthenticationError, IgnoredEvent, InvalidPayload, get
from platforms.http import ApiUnavailable, RetryPolicy
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
