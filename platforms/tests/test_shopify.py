"""Shopify: signature, JSON and XML order webhooks, the order list API."""
import base64
import hashlib
import hmac
import json
import pathlib
from decimal import Decimal

import pytest

from platforms import AuthenticationError, InvalidPayload, get
from platforms.testing import FakeStore

DATA = pathlib.Path(__file__).parent / "data"
SECRET = "hush"
CREDENTIALS = {"webhook_secret": SECRET}


@pytest.fixture
def shopify():
    return get("shopify")


def sign(body, secret=SECRET):
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def test_signature_is_checked_on_the_raw_bytes(shopify):
    body = (DATA / "shopify_order.json").read_bytes()
    shopify.verify({"X-Shopify-Hmac-Sha256": sign(body)}, body, CREDENTIALS)
    shopify.verify({"x-shopify-hmac-sha256": sign(body)}, body, CREDENTIALS)  # any header case
    reserialized = json.dumps(json.loads(body)).encode()
    for headers, raw in (({"X-Shopify-Hmac-Sha256": sign(body)}, reserialized),
                         ({"X-Shopify-Hmac-Sha256": sign(body, "other")}, body),
                         ({}, body)):
        with pytest.raises(AuthenticationError):
            shopify.verify(headers, raw, CREDENTIALS)
    with pytest.raises(AuthenticationError):
        shopify.verify({"X-Shopify-Hmac-Sha256": sign(body, "")}, body, {"webhook_secret": ""})


def test_json_order_is_normalized(shopify):
    order = shopify.parse((DATA / "shopify_order.json").read_bytes(), "application/json").order
    assert order.external_id == "5550001112223" and order.number == "#1042"
    assert order.currency == "EUR" and order.taxes_included
    assert order.customer.email == "anna@example.lv" and order.customer.external_id == "6101"
    assert order.customer.name == "Anna Ozola"
    assert order.billing_address.street == "Brivibas iela 1" and order.billing_address.country_code == "LV"
    assert [(l.sku, l.quantity, l.unit_price, l.discount, l.tax_rate) for l in order.lines] == [
        ("TSHIRT-RED-M", 2, Decimal("20.00"), Decimal("4.00"), Decimal("21.00")),
        ("MUG-01", 1, Decimal("20.00"), Decimal("2.00"), Decimal("21.00")),
    ]
    assert order.lines[0].name == "T-shirt - Red / M"
    assert [(s.name, s.price) for s in order.shipping_lines] == [("Omniva parcel locker", Decimal("5.90"))]
    assert order.paid and order.payment.method_code == "shopify_payments"
    assert order.payment.amount == order.total == Decimal("59.90")
    # The lines add up to the store's total: 40 - 4 + 20 - 2 + 5.90, taxes included.
    assert sum(l.unit_price * l.quantity - l.discount for l in order.lines) + order.shipping_lines[0].price == order.total
    assert order.status == "open"


def test_xml_order_gives_the_same_normalized_order(shopify):
    from_json = shopify.parse((DATA / "shopify_order.json").read_bytes(), "application/json").order
    from_xml = shopify.parse((DATA / "shopify_order.xml").read_bytes(), "application/xml").order
    assert from_xml == from_json
    assert from_xml.fingerprint() == from_json.fingerprint()


@pytest.mark.parametrize("status,paid", [("pending", False), ("authorized", False), ("paid", True),
                                         ("partially_refunded", True), ("voided", False)])
def test_financial_status(shopify, status, paid):
    data = json.loads((DATA / "shopify_order.json").read_text())
    data["financial_status"] = status
    order = shopify.parse(json.dumps(data).encode()).order
    assert order.paid is paid
    assert order.payment.amount == (order.total if paid else 0)


def test_cancelled_order(shopify):
    data = json.loads((DATA / "shopify_order.json").read_text())
    data["cancelled_at"] = "2025-03-15T09:00:00+02:00"
    assert shopify.parse(json.dumps(data).encode()).order.status == "cancelled"


@pytest.mark.parametrize("raw,ctype", [(b"<order><id>1", "application/xml"), (b"{", "application/json"),
                                       (b'{"name": "#1"}', "application/json"), (b"[]", "application/json")])
def test_unreadable_bodies(shopify, raw, ctype):
    with pytest.raises(InvalidPayload):
        shopify.parse(raw, ctype)


def test_xml_entities_are_not_expanded(shopify):
    evil = (b'<?xml version="1.0"?><!DOCTYPE order [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b'<order><id>1</id><note>&x;</note><currency>EUR</currency></order>')
    order = shopify.parse(evil, "application/xml").order
    assert "root:" not in order.note


def test_order_list_follows_link_pages_without_repeating_filters():
    with FakeStore() as store:
        path = "/admin/api/2025-01/orders.json"
        next_url = f"{store.url}{path}?limit=250&page_info=abc"

        def orders(request):
            if "page_info" in request.query:
                assert set(request.query) == {"limit", "page_info"}, "no filter with page_info"
                return 200, {}, {"orders": [{"id": 3}]}
            assert request.query["status"] == ["any"]
            assert request.headers["X-Shopify-Access-Token"] == "tok"
            return 200, {"Link": f'<{next_url}>; rel="next"'}, {"orders": [{"id": 1}, {"id": 2}]}

        store.route("GET", path, handler=orders)
        client = get("shopify").client({"store_url": store.url, "api_secret": "tok"})
        pages = list(client.orders_since("2025-01-01T00:00:00Z"))
    assert [[o["id"] for o in page] for page in pages] == [[1, 2], [3]]


def test_connection_check():
    with FakeStore() as store:
        store.route("GET", "/admin/api/2025-01/shop.json", json={"shop": {"name": "Anna's Shop"}})
        client = get("shopify").client({"store_url": store.url, "api_secret": "tok"})
        assert client.test_connection() == "Anna's Shop"
