import json
from decimal import Decimal

import pytest

from platforms import AuthenticationError, InvalidPayload, NormalizedOrder, get
from platforms.connect import bearer_token, key_digest


@pytest.fixture
def connect():
    return get("connect")


def body(data):
    return json.dumps(data).encode()


def test_verify_accepts_the_channel_key_only(connect):
    key = {"api_key": "s3cret"}
    connect.verify({"Authorization": "Bearer s3cret"}, b"{}", key)
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret"},
                    {"Authorization": "Bearer "}):
        with pytest.raises(AuthenticationError):
            connect.verify(headers, b"{}", key)
    with pytest.raises(AuthenticationError):
        connect.verify({"Authorization": "Bearer "}, b"{}", {"api_key": ""})


def test_bearer_token_and_digest():
    assert bearer_token({"authorization": "bearer abc "}) == "abc"
    assert bearer_token({"Authorization": "Token abc"}) == ""
    assert key_digest("abc") != key_digest("abd") and len(key_digest("abc")) == 64


def test_parse_normalizes_a_full_order(connect, connect_order):
    delivery = connect.parse(body(connect_order))
    order = delivery.order
    assert delivery.external_id == "1001"
    assert order.number == "#1001" and order.currency == "EUR"
    assert order.customer.email == "anna.berzina@example.com"
    assert order.customer.external_id == "cust-17"
    assert order.billing_address.country_code == "LV"
    assert order.shipping_address.street == "Skolas iela 5"
    assert [(l.sku, l.quantity, l.unit_price, l.discount) for l in order.lines] == [
        ("SI-MUG", Decimal(2), Decimal("12.5"), Decimal("2.5")),
        ("SI-TEE", Decimal(1), Decimal(30), Decimal(0)),
    ]
    assert order.shipping_lines[0].price == Decimal(5)
    assert order.paid and order.payment.method_code == "card"
    assert order.total == Decimal("57.5")


def test_every_faulty_field_is_named(connect, connect_order):
    connect_order["currency"] = "euro"
    connect_order["lines"][0]["quantity"] = 0
    connect_order["lines"][1]["unit_price"] = "ten"
    del connect_order["lines"][1]["sku"]
    connect_order["payment"]["status"] = "maybe"
    connect_order["billing_address"]["country"] = "Latvia"
    del connect_order["total"]
    with pytest.raises(InvalidPayload) as info:
        connect.parse(body(connect_order))
    fields = {e.path for e in info.value.errors}
    assert fields == {"currency", "lines[0].quantity", "lines[1].unit_price", "lines[1].sku",
                      "payment.status", "billing_address.country", "total"}


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b"\xff\xfe", b""])
def test_unreadable_bodies_are_refused(connect, raw):
    with pytest.raises(InvalidPayload):
        connect.parse(raw)


def test_missing_lines_and_customer(connect):
    with pytest.raises(InvalidPayload) as info:
        connect.parse(body({"id": "1", "currency": "EUR", "total": 1}))
    assert {e.path for e in info.value.errors} == {"customer", "lines"}


def test_discount_cannot_exceed_the_line(connect, connect_order):
    connect_order["lines"][0]["discount"] = 26
    with pytest.raises(InvalidPayload) as info:
        connect.parse(body(connect_order))
    assert [e.path for e in info.value.errors] == ["lines[0].discount"]


def test_paid_without_amount_means_the_total(connect, connect_order):
    del connect_order["payment"]["amount"]
    assert connect.parse(body(connect_order)).order.payment.amount == Decimal("57.5")


def test_normalized_order_round_trips_through_json(connect, connect_order):
    order = connect.parse(body(connect_order)).order
    again = NormalizedOrder.from_dict(json.loads(order.to_json()))
    assert again == order
    assert again.fingerprint() == order.fingerprint()
    connect_order["payment"]["status"] = "pending"
    assert connect.parse(body(connect_order)).order.fingerprint() != order.fingerprint()


def test_hand_corrected_json_is_validated():
    with pytest.raises(InvalidPayload) as info:
        NormalizedOrder.from_dict({"external_id": "1", "currency": "EUR", "total": "x",
                                   "lines": [{"sku": "A", "quantity": "two", "unit_price": 1}]})
    assert {e.path for e in info.value.errors} == {"total", "lines[0].quantity"}
