"""Shopify: signature, JSON and XML order webhooks, the order list API."""
import base64
import hashlib
import hmac
import json
import pathlib
from decimal import Decimal

import pytest

from platforms import AuthenticationError, InvalidPayload, get
from platforms.testing import ALLOW_LOCAL, FakeShopifyAdmin, FakeStore

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
    lines = sum(l.unit_price * l.quantity - l.discount for l in order.lines)
    assert lines + order.shipping_lines[0].price == order.total
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
        client = get("shopify").client({"store_url": store.url, **ALLOW_LOCAL, "api_secret": "tok"})
        pages = list(client.orders_since("2025-01-01T00:00:00Z"))
    assert [[o["id"] for o in page] for page in pages] == [[1, 2], [3]]


def test_connection_check():
    with FakeStore() as store:
        store.route("GET", "/admin/api/2025-01/shop.json", json={"shop": {"name": "Anna's Shop"}})
        client = get("shopify").client({"store_url": store.url, **ALLOW_LOCAL, "api_secret": "tok"})
        assert client.test_connection() == "Anna's Shop"


def shop_variants(count):
    return [{"sku": f"SKU-{i}", "id": f"gid://shopify/ProductVariant/{i}", "product": f"gid://shopify/Product/{i // 3}",
             "item": f"gid://shopify/InventoryItem/{i}", "price": "10.00", "available": i} for i in range(count)]


def shopify_client(store, location=FakeShopifyAdmin.LOCATION, waits=None):
    sleep = waits.append if waits is not None else (lambda _s: None)
    return get("shopify").client({"store_url": store.url, "api_secret": "shpat", "stock_location": location,
                                  **ALLOW_LOCAL},
                                 sleep=sleep)


def test_skus_are_found_by_search_in_pages_with_their_inventory_items():
    with FakeStore() as store:
        admin = FakeShopifyAdmin(store, shop_variants(120), page_size=25)
        client = shopify_client(store)
        client.skus_per_search = 40
        found = client.find_skus([f"SKU-{i}" for i in range(0, 120, 2)] + ["NOPE"])
        searches = store.calls("POST", admin.path)
    assert len(found) == 60
    assert found["SKU-10"].ids() == ("gid://shopify/ProductVariant/10", "gid://shopify/Product/3",
                                     "gid://shopify/InventoryItem/10")
    assert found["SKU-10"].quantity == 10
    # 61 SKUs in searches of 40 → 2 searches; the first matches 40 variants → 2 pages of 25.
    assert len(searches) == 3
    assert searches[0].headers["X-Shopify-Access-Token"] == "shpat"


def test_quantities_are_set_at_the_location_in_one_mutation_per_250():
    from platforms.base import StockUpdate
    with FakeStore() as store:
        admin = FakeShopifyAdmin(store, shop_variants(300))
        client = shopify_client(store)
        updates = [StockUpdate(f"SKU-{i}", Decimal(i + 1), inventory_id=f"gid://shopify/InventoryItem/{i}")
                   for i in range(300)]
        results = client.push_stock(updates)
        calls = [c.json()["variables"]["input"] for c in store.calls("POST", admin.path)]
    assert [len(c["quantities"]) for c in calls] == [250, 50]
    assert calls[0]["name"] == "available" and calls[0]["ignoreCompareQuantity"] is True
    assert calls[0]["quantities"][0]["locationId"] == FakeShopifyAdmin.LOCATION
    assert all(value is None for value in results.values()) and len(results) == 300
    assert admin.by_sku("SKU-299")["available"] == 300


def test_a_refused_item_is_reported_and_the_others_sent_again_without_it():
    from platforms.base import StockUpdate
    with FakeStore() as store:
        admin = FakeShopifyAdmin(store, shop_variants(3))
        client = shopify_client(store)
        results = client.push_stock([
            StockUpdate("SKU-0", Decimal(5), inventory_id="gid://shopify/InventoryItem/0"),
            StockUpdate("GONE", Decimal(5), inventory_id="gid://shopify/InventoryItem/999"),
            StockUpdate("SKU-2", Decimal(7), inventory_id="gid://shopify/InventoryItem/2"),
        ])
        assert len(store.calls("POST", admin.path)) == 2
    assert results == {"SKU-0": None, "GONE": "The specified inventory item could not be found.", "SKU-2": None}
    assert admin.by_sku("SKU-2")["available"] == 7, "applied by the second request"


def test_prices_are_updated_per_product():
    from platforms.base import StockUpdate
    with FakeStore() as store:
        admin = FakeShopifyAdmin(store, shop_variants(4))
        client = shopify_client(store)
        client.push_stock([StockUpdate(v["sku"], Decimal(1), v["id"], v["product"], Decimal("12.10"), v["item"])
                           for v in shop_variants(4)])
        price_calls = [c.json()["variables"] for c in store.calls("POST", admin.path)
                       if "productVariantsBulkUpdate" in c.json()["query"]]
    assert [(c["productId"], len(c["variants"])) for c in price_calls] == [
        ("gid://shopify/Product/0", 3), ("gid://shopify/Product/1", 1)]
    assert admin.by_sku("SKU-3")["price"] == "12.10"


def test_a_throttled_query_waits_for_the_bucket_then_runs_again():
    with FakeStore() as store:
        admin = FakeShopifyAdmin(store, shop_variants(2))
        admin.throttle_next = 2
        waits = []
        items = [i for page in shopify_client(store, waits=waits).catalog() for i in page]
    assert len(items) == 2
    assert waits == [pytest.approx(0.6), pytest.approx(0.6)], "(52 requested − 2 available) / 100 per s, + 0.1"


def test_without_a_location_nothing_is_sent():
    from platforms.base import StockUpdate
    from platforms.http import ApiError
    with FakeStore() as store:
        FakeShopifyAdmin(store, shop_variants(1))
        with pytest.raises(ApiError, match="location"):
            shopify_client(store, location="").push_stock([StockUpdate("SKU-0", Decimal(1))])
        assert shopify_client(store, location="").locations() == [(FakeShopifyAdmin.LOCATION, "Shop location")]


def test_fulfilled_fulfils_the_open_fulfilment_orders_with_the_tracking_number():
    from platforms.base import StatusUpdate
    with FakeStore() as store:
        base = "/admin/api/2025-01"
        store.route("GET", f"{base}/orders/450789469/fulfillment_orders.json", json={"fulfillment_orders": [
            {"id": 1046000778, "status": "open"}, {"id": 1046000779, "status": "closed"}]})
        store.route("POST", f"{base}/fulfillments.json", status=201, json={"fulfillment": {"id": 255858046}})
        client = shopify_client(store)
        done = client.set_order_status(StatusUpdate("450789469", "fulfilled", tracking_number="LV123",
                                                    tracking_url="https://track.example/LV123", carrier="Omniva"))
        sent = store.calls("POST", f"{base}/fulfillments.json")[0].json()["fulfillment"]
    assert done == "fulfilled, tracking LV123"
    assert sent["line_items_by_fulfillment_order"] == [{"fulfillment_order_id": 1046000778}]
    assert sent["tracking_info"] == {"number": "LV123", "url": "https://track.example/LV123", "company": "Omniva"}
    assert sent["notify_customer"] is False


def test_cancelled_cancels_and_other_statuses_send_nothing():
    from platforms.base import StatusUpdate
    from platforms.http import ApiError
    with FakeStore() as store:
        base = "/admin/api/2025-01"
        store.route("POST", f"{base}/orders/7/cancel.json", json={"order": {"id": 7}})
        store.route("POST", f"{base}/orders/8/cancel.json", status=422,
                    json={"errors": {"base": ["Cannot cancel an order that has been fulfilled"]}})
        client = shopify_client(store)
        assert client.set_order_status(StatusUpdate("7", "cancelled")) == "cancelled"
        assert client.set_order_status(StatusUpdate("7", "open")).startswith("nothing to send")
        with pytest.raises(ApiError, match="422"):
            client.set_order_status(StatusUpdate("8", "cancelled"))
        assert len(store.requests) == 2, "'open' made no call"


def test_partial_fulfils_what_odoo_delivered_beyond_what_shopify_fulfilled():
    from platforms.base import StatusUpdate
    with FakeStore() as store:
        base = "/admin/api/2025-01"
        store.route("GET", f"{base}/orders/450789469.json", json={"order": {"id": 450789469, "line_items": [
            {"id": 11, "sku": "TSHIRT-RED-M", "quantity": 3}, {"id": 12, "sku": "MUG-01", "quantity": 2}]}})
        store.route("GET", f"{base}/orders/450789469/fulfillment_orders.json", json={"fulfillment_orders": [
            {"id": 900, "status": "in_progress", "line_items": [
                # one T-shirt fulfilled in Shopify already; no mug yet
                {"id": 901, "line_item_id": 11, "quantity": 3, "fulfillable_quantity": 2},
                {"id": 902, "line_item_id": 12, "quantity": 2, "fulfillable_quantity": 2}]}]})
        store.route("POST", f"{base}/fulfillments.json", status=201, json={"fulfillment": {"id": 1}})
        client = shopify_client(store)
        done = client.set_order_status(StatusUpdate(
            "450789469", "partial", delivered={"TSHIRT-RED-M": Decimal(2), "MUG-01": Decimal(1), "CAP": Decimal(1)}))
        sent = store.calls("POST", f"{base}/fulfillments.json")[0].json()["fulfillment"]
    assert sent["line_items_by_fulfillment_order"] == [{"fulfillment_order_id": 900, "fulfillment_order_line_items": [
        {"id": 901, "quantity": 1}, {"id": 902, "quantity": 1}]}]
    assert done == "partly fulfilled: MUG-01 × 1, TSHIRT-RED-M × 1"
