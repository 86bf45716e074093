"""Mozello: notification hash, whole orders and patches, the Store API."""
import base64
import hashlib
import hmac
import json
import pathlib
from decimal import Decimal

import pytest

from platforms import AuthenticationError, InvalidPayload, NormalizedOrder, get
from platforms.base import apply_patch
from platforms.testing import ALLOW_LOCAL, FakeStore

DATA = pathlib.Path(__file__).parent / "data"
KEY = "MZL-123-key"


@pytest.fixture
def mozello():
    return get("mozello")


def created():
    return json.loads((DATA / "mozello_order_created.json").read_text())


def test_hash_is_checked_with_the_api_key(mozello):
    body = (DATA / "mozello_order_created.json").read_bytes()
    digest = base64.b64encode(hmac.new(KEY.encode(), body, hashlib.sha256).digest()).decode()
    mozello.verify({"X-Mozello-Hash": digest}, body, {"api_secret": KEY})
    with pytest.raises(AuthenticationError):
        mozello.verify({"X-Mozello-Hash": digest}, body, {"api_secret": "other"})
    with pytest.raises(AuthenticationError):
        mozello.verify({}, body, {"api_secret": KEY})


def test_order_created(mozello):
    delivery = mozello.parse(json.dumps(created()).encode())
    order = delivery.order
    assert delivery.patch is None and order.external_id == "MZ-7654321-000145"
    assert order.taxes_included and not order.paid and order.payment.method_code == "paypal"
    assert order.billing_address.country_code == "LV" and order.shipping_address.name == "Anna Ozola"
    # The 6.00 discount code is shared by value: 40 → 4.00, 20 → 2.00.
    assert [(l.sku, l.quantity, l.unit_price, l.discount) for l in order.lines] == [
        ("TSHIRT-RED-M", 2, Decimal("20.0"), Decimal("4.00")), ("MUG-01", 1, Decimal("20.0"), Decimal("2.00"))]
    assert order.shipping_lines[0].price == Decimal("5.9")
    lines = sum(l.unit_price * l.quantity - l.discount for l in order.lines)
    assert lines + order.shipping_lines[0].price == order.total


def test_discount_shares_add_up_to_the_cent(mozello):
    data = created()
    data["order"]["discount_amount"] = 1.00
    data["order"]["cart"].append(dict(data["order"]["cart"][1], product_sku="CAP", product_price=7.0))
    order = mozello.parse(json.dumps(data).encode()).order
    assert sum(l.discount for l in order.lines) == Decimal("1.00")


def test_payment_changed_with_changed_fields_only_is_a_patch(mozello):
    body = json.dumps({"event": "PAYMENT_CHANGED",
                       "order": {"order_id": "MZ-7654321-000145", "payment_status": "paid"}}).encode()
    delivery = mozello.parse(body)
    assert delivery.order is None and delivery.patch == {"payment": {"status": "paid"}}
    whole = mozello.parse(json.dumps(created()).encode()).order
    patched = NormalizedOrder.from_dict(apply_patch(whole.to_dict(), delivery.patch))
    assert patched.paid and patched.payment.amount == whole.total
    assert patched.lines == whole.lines


def test_payment_changed_with_the_whole_order_is_an_order(mozello):
    data = created()
    data.update(event="PAYMENT_CHANGED")
    data["order"]["payment_status"] = "paid"
    assert mozello.parse(json.dumps(data).encode()).order.paid


def test_order_deleted_is_a_cancellation(mozello):
    body = json.dumps({"event": "ORDER_DELETED", "order": {"order_id": "MZ-1"}}).encode()
    assert mozello.parse(body).patch == {"status": "cancelled"}


@pytest.mark.parametrize("body", [b'{"event": "ORDER_CREATED"}', b'{"order": {}}', b"nope",
                                  b'{"event": "PAYMENT_CHANGED", "order": {"order_id": "MZ-1"}}'])
def test_unreadable(mozello, body):
    with pytest.raises(InvalidPayload):
        mozello.parse(body)


def test_api_pages_with_next_page_uri_and_sends_the_api_key():
    with FakeStore() as store:
        def orders(request):
            assert request.headers["Authorization"] == f"ApiKey {KEY}"
            if "page_start" in request.query:
                return 200, {}, {"error": False, "orders": [{"order_id": "B"}], "next_page_uri": None}
            assert request.query["filter"] == ["modified_at>2025-01-01 00:00:00"]
            return 200, {}, {"error": False, "orders": [{"order_id": "A"}],
                             "next_page_uri": "/store/orders/?page_size=100&page_start=id:2"}
        store.route("GET", "/store/orders/", handler=orders)
        client = get("mozello").client({"api_secret": KEY, "store_url": store.url, **ALLOW_LOCAL})
        pages = list(client.orders_since("2025-01-01T00:00:00Z"))
    assert [[o["order_id"] for o in page] for page in pages] == [["A"], ["B"]]


def test_notifications_are_pointed_at_odoo():
    with FakeStore() as store:
        store.route("PUT", "/store/notifications/", json={"error": False})
        get("mozello").client({"api_secret": KEY, "store_url": store.url, **ALLOW_LOCAL}).set_notifications("https://odoo/x")
        sent = store.calls("PUT", "/store/notifications/")[0].json()
    assert sent["notifications_url"] == "https://odoo/x"
    assert "PAYMENT_CHANGED" in sent["notifications_wanted"]


def test_stock_is_pushed_by_sku_in_batches_of_1000():
    from platforms.base import StockUpdate
    with FakeStore() as store:
        sizes = []

        def batch(request):
            products = request.json()["products"]
            sizes.append(len(products))
            return 200, {}, {"error": False, "errors": [{"sku": "S3", "error_message": "Product not found"}]}

        store.route("POST", "/store/products/batch_update_by_sku/", handler=batch)
        client = get("mozello").client({"api_secret": KEY, "store_url": store.url, **ALLOW_LOCAL})
        results = client.push_stock([StockUpdate(f"S{i}", Decimal(i)) for i in range(1500)])
    assert sizes == [1000, 500]
    assert results["S3"] == "Product not found" and results["S4"] is None


def test_prices_go_with_the_stock_when_synced():
    from platforms.base import StockUpdate
    with FakeStore() as store:
        store.route("POST", "/store/products/batch_update_by_sku/", json={"error": False})
        client = get("mozello").client({"api_secret": KEY, "store_url": store.url, **ALLOW_LOCAL})
        client.push_stock([StockUpdate("A", Decimal(2), price=Decimal("19.90")), StockUpdate("B", Decimal(1))])
        sent = store.calls("POST", "/store/products/batch_update_by_sku/")[0].json()["products"]
    assert sent == [{"sku": "A", "stock": 2, "price": 19.9}, {"sku": "B", "stock": 1}]


def test_the_catalog_lists_products_and_variants_with_their_stock():
    with FakeStore() as store:
        store.route("GET", "/store/products/", responses=[
            (200, {}, {"products": [{"handle": "uid-1", "sku": "MUG-01", "stock": 40, "price": 19.9},
                                    {"handle": "uid-2", "sku": "", "variants": [
                                        {"variant_handle": "v1", "sku": "TSHIRT-RED-M", "stock": None, "price": 20}]}],
                       "next_page_uri": "/store/products/?page_size=100&page_start=id:2"}),
            (200, {}, {"products": [{"handle": "uid-3", "sku": "CAP", "stock": 0}], "next_page_uri": None}),
        ])
        client = get("mozello").client({"api_secret": KEY, "store_url": store.url, **ALLOW_LOCAL})
        items = {item.sku: item for page in client.catalog() for item in page}
        assert store.calls("GET", "/store/products/")[1].query["page_start"] == ["id:2"]
    assert set(items) == {"MUG-01", "TSHIRT-RED-M", "CAP"}
    assert items["MUG-01"].quantity == 40 and items["CAP"].quantity == 0
    assert items["TSHIRT-RED-M"].quantity is None, "stock: null means not tracked"


def test_paid_and_dispatched_set_mozellos_flags():
    from platforms.base import StatusUpdate
    with FakeStore() as store:
        store.route("PUT", "/store/order/MZ-1/", json={"error": False})
        client = get("mozello").client({"api_secret": KEY, "store_url": store.url, **ALLOW_LOCAL})
        client.set_order_status(StatusUpdate("MZ-1", "paid"))
        client.set_order_status(StatusUpdate("MZ-1", "dispatched", tracking_number="LV123",
                                             tracking_url="https://track.example/LV123"))
        assert client.set_order_status(StatusUpdate("MZ-1", "cancelled")).startswith("nothing to send")
        sent = [c.json()["order"] for c in store.calls("PUT", "/store/order/MZ-1/")]
    assert sent == [{"payment_status": "paid"},
                    {"dispatched": True, "shipping_tracking_code": "LV123",
                     "shipping_tracking_url": "https://track.example/LV123"}]
