"""WooCommerce: signature, set-up ping, the v3 order resource, the REST API."""
import base64
import hashlib
import hmac
import json
import pathlib
from decimal import Decimal

import pytest

from platforms import AuthenticationError, InvalidPayload, get
from platforms.testing import ALLOW_LOCAL, FakeStore

DATA = pathlib.Path(__file__).parent / "data"
CREDENTIALS = {"webhook_secret": "wc-secret"}


@pytest.fixture
def woo():
    return get("woocommerce")


def sign(body, secret="wc-secret"):
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def test_signature(woo):
    body = (DATA / "woocommerce_order.json").read_bytes()
    headers = {"X-WC-Webhook-Topic": "order.created", "X-WC-Webhook-Signature": sign(body)}
    woo.verify(headers, body, CREDENTIALS)
    for bad in ({"X-WC-Webhook-Signature": sign(body, "other")}, {}):
        with pytest.raises(AuthenticationError):
            woo.verify(bad, body, CREDENTIALS)
    with pytest.raises(AuthenticationError):
        woo.verify(headers, body + b" ", CREDENTIALS)


def test_set_up_ping_is_a_handshake_and_nothing_else_is(woo):
    assert woo.is_handshake({"Content-Type": "application/x-www-form-urlencoded"}, b"webhook_id=42")
    assert not woo.is_handshake({"X-WC-Webhook-Topic": "order.created"}, b"webhook_id=42")
    assert not woo.is_handshake({}, b'{"id": 1}')


def test_order_with_prices_including_tax(woo):
    order = woo.parse((DATA / "woocommerce_order.json").read_bytes()).order
    assert (order.external_id, order.number, order.currency) == ("5821", "5821", "EUR")
    assert order.taxes_included
    # Rebuilt as the shop priced them: 2 × 20.00 less 4.00, 1 × 20.00 less 2.00 (coupon spring10).
    assert [(l.sku, l.quantity, l.unit_price, l.discount) for l in order.lines] == [
        ("TSHIRT-RED-M", 2, Decimal("20.00"), Decimal("4.00")),
        ("MUG-01", 1, Decimal("20.00"), Decimal("2.00")),
    ]
    assert [(s.name, s.price) for s in order.shipping_lines] == [("Omniva", Decimal("5.90"))]
    assert sum(l.unit_price * l.quantity - l.discount for l in order.lines) + Decimal("5.90") == order.total
    assert order.paid and order.payment.method_code == "stripe" and order.payment.amount == Decimal("59.90")
    assert order.customer.external_id == "12" and order.customer.email == "anna@example.lv"
    assert order.updated_at == "2025-03-14T08:21:09Z"


def test_the_documentation_example(woo):
    order = woo.parse((DATA / "woocommerce_order_docs.json").read_bytes()).order
    assert not order.taxes_included and order.currency == "USD"
    assert [(l.sku, l.quantity, l.unit_price, l.discount) for l in order.lines] == [
        ("", 2, Decimal("3.00"), Decimal(0)), ("Bar3", 1, Decimal("12.00"), Decimal(0))]
    assert order.customer.external_id == "" and order.customer.name == "John Doe"
    assert order.shipping_address.state == "CA" and order.billing_address.country_code == "US"
    assert order.paid and order.payment.method_code == "bacs"


@pytest.mark.parametrize("status,paid_date,paid,normalized_status", [
    ("pending", None, False, "pending"), ("on-hold", None, False, "on-hold"),
    ("processing", "2025-03-14T08:21:09", True, "processing"), ("completed", "2025-03-14T08:21:09", True, "completed"),
    ("processing", None, False, "processing"), ("cancelled", None, False, "cancelled"),
])
def test_paid_means_processing_or_completed_with_a_payment_date(woo, status, paid_date, paid, normalized_status):
    data = json.loads((DATA / "woocommerce_order.json").read_text())
    data.update(status=status, date_paid_gmt=paid_date)
    order = woo.parse(json.dumps(data).encode()).order
    assert order.paid is paid and order.status == normalized_status


def test_fee_lines(woo):
    data = json.loads((DATA / "woocommerce_order_docs.json").read_text())
    data["fee_lines"] = [{"id": 1, "name": "Cash on delivery fee", "total": "2.00", "total_tax": "0.00"}]
    assert [(f.name, f.price) for f in woo.parse(json.dumps(data).encode()).order.fee_lines] == [
        ("Cash on delivery fee", Decimal("2.00"))]


@pytest.mark.parametrize("raw", [b"webhook_id=1", b"{}", b"[1]", b'{"id": 5, "total": "x"}'])
def test_unreadable(woo, raw):
    with pytest.raises(InvalidPayload):
        woo.parse(raw)


def test_orders_are_paged_by_total_pages_with_basic_auth():
    with FakeStore() as store:
        def orders(request):
            page = int(request.query["page"][0])
            assert request.query["modified_after"] == ["2025-01-01T00:00:00"]
            assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"ck_1:cs_1").decode()
            return 200, {"X-WP-Total": "3", "X-WP-TotalPages": "2"}, [{"id": page * 10}]
        store.route("GET", "/wp-json/wc/v3/orders", handler=orders)
        client = get("woocommerce").client({"store_url": store.url, "api_login": "ck_1", "api_secret": "cs_1",
                                             **ALLOW_LOCAL})
        assert [[o["id"] for o in page] for page in client.orders_since("2025-01-01T00:00:00Z")] == [[10], [20]]


def test_payment_gateways_enabled_only():
    with FakeStore() as store:
        store.route("GET", "/wp-json/wc/v3/payment_gateways", json=[
            {"id": "bacs", "title": "Direct bank transfer", "enabled": True},
            {"id": "cheque", "title": "Check payments", "enabled": False},
            {"id": "stripe", "title": "Credit card", "enabled": True}])
        client = get("woocommerce").client({"store_url": store.url, **ALLOW_LOCAL, "api_login": "k", "api_secret": "s"})
        assert client.payment_methods() == [("bacs", "Direct bank transfer"), ("stripe", "Credit card")]


def test_wrong_keys_are_an_auth_error():
    from platforms.http import ApiAuthError
    with FakeStore() as store:
        store.route("GET", "/wp-json/wc/v3/orders", status=401, json={
            "code": "woocommerce_rest_cannot_view", "message": "Sorry, you cannot list resources.",
            "data": {"status": 401}})
        client = get("woocommerce").client({"store_url": store.url, **ALLOW_LOCAL, "api_login": "k", "api_secret": "s"})
        with pytest.raises(ApiAuthError, match="cannot list resources"):
            client.test_connection()


def test_paging_without_the_total_pages_header_goes_on_while_pages_are_full():
    with FakeStore() as store:
        def orders(request):
            page = int(request.query["page"][0])
            return 200, {}, [{"id": page * 100 + i} for i in range(100 if page < 3 else 7)]
        store.route("GET", "/wp-json/wc/v3/orders", handler=orders)
        client = get("woocommerce").client({"store_url": store.url, **ALLOW_LOCAL, "api_login": "k", "api_secret": "s"})
        assert [len(page) for page in client.orders_since("2025-01-01T00:00:00Z")] == [100, 100, 7]


def test_stock_is_found_by_sku_and_pushed_in_batches_of_100():
    from platforms.base import StockUpdate
    with FakeStore() as store:
        store.route("GET", "/wp-json/wc/v3/products", handler=lambda r: (200, {"X-WP-TotalPages": "1"}, [
            {"id": 140, "sku": "TSHIRT", "parent_id": 0},
            {"id": 152, "sku": "TSHIRT-RED-M", "parent_id": 140},
        ]))
        posted = []

        def batch(request):
            items = request.json()["update"]
            posted.append((request.path, len(items)))
            answers = [dict(item) for item in items]
            if request.path.endswith("/variations/batch"):
                answers[0] = {"id": items[0]["id"], "error": {"code": "woocommerce_rest_invalid_id",
                                                               "message": "Invalid ID."}}
            return 200, {}, {"update": answers}

        store.route("POST", "/wp-json/wc/v3/products/batch", handler=batch)
        store.route("POST", "/wp-json/wc/v3/products/140/variations/batch", handler=batch)
        client = get("woocommerce").client({"store_url": store.url, **ALLOW_LOCAL, "api_login": "k", "api_secret": "s"})
        found = client.find_skus(["TSHIRT", "TSHIRT-RED-M", "NOPE"])
        assert {sku: item.ids()[:2] for sku, item in found.items()} == {
            "TSHIRT": ("140", ""), "TSHIRT-RED-M": ("152", "140")}
        updates = [StockUpdate(f"S{i}", Decimal(i), str(1000 + i)) for i in range(230)]
        updates.append(StockUpdate("TSHIRT-RED-M", Decimal(4), "152", "140"))
        results = client.push_stock(updates)
    assert posted == [("/wp-json/wc/v3/products/batch", 100), ("/wp-json/wc/v3/products/batch", 100),
                      ("/wp-json/wc/v3/products/batch", 30), ("/wp-json/wc/v3/products/140/variations/batch", 1)]
    assert results["S5"] is None and results["TSHIRT-RED-M"] == "Invalid ID."


def test_the_catalog_reads_products_in_pages_then_the_variations_of_variable_ones():
    with FakeStore() as store:
        def products(request):
            page = int(request.query["page"][0])
            if page == 1:
                body = [{"id": i, "sku": f"P{i}", "type": "simple", "manage_stock": True, "stock_quantity": i,
                         "regular_price": "9.50"} for i in range(1, 101)]
            else:
                body = [{"id": 140, "sku": "TSHIRT", "type": "variable", "manage_stock": False,
                         "stock_quantity": None, "regular_price": ""},
                        {"id": 200, "sku": "", "type": "simple"}]
            return 200, {"X-WP-TotalPages": "2"}, body
        store.route("GET", "/wp-json/wc/v3/products", handler=products)
        store.route("GET", "/wp-json/wc/v3/products/140/variations", headers={"X-WP-TotalPages": "1"}, json=[
            {"id": 152, "sku": "TSHIRT-RED-M", "manage_stock": True, "stock_quantity": 3, "regular_price": "20"}])
        client = get("woocommerce").client({"store_url": store.url, **ALLOW_LOCAL, "api_login": "k", "api_secret": "s"})
        items = [item for page in client.catalog() for item in page]
    by_sku = {item.sku: item for item in items}
    assert len(items) == 102, "100 + the variable product + its variation; no SKU, not listed"
    assert by_sku["P7"].quantity == 7 and by_sku["P7"].price == Decimal("9.50")
    assert by_sku["TSHIRT"].quantity is None, "stock not managed"
    assert by_sku["TSHIRT-RED-M"].ids()[:2] == ("152", "140") and by_sku["TSHIRT-RED-M"].quantity == 3


def test_statuses_go_in_one_batch_and_a_tracking_number_to_the_customer():
    from platforms.base import StatusUpdate
    with FakeStore() as store:
        def batch(request):
            items = request.json()["update"]
            return 200, {}, {"update": [items[0], {"id": items[1]["id"], "error": {
                "code": "woocommerce_rest_shop_order_invalid_id", "message": "Invalid ID."}}]}
        store.route("POST", "/wp-json/wc/v3/orders/batch", handler=batch)
        store.route("POST", "/wp-json/wc/v3/orders/727/notes", status=201, json={"id": 1})
        client = get("woocommerce").client({"store_url": store.url, **ALLOW_LOCAL, "api_login": "k", "api_secret": "s"})
        results = client.set_order_statuses([
            StatusUpdate("727", "completed", tracking_number="LV123", carrier="Omniva"),
            StatusUpdate("728", "completed")])
        sent = store.calls("POST", "/wp-json/wc/v3/orders/batch")[0].json()
        note = store.calls("POST", "/wp-json/wc/v3/orders/727/notes")[0].json()
    assert sent == {"update": [{"id": 727, "status": "completed"}, {"id": 728, "status": "completed"}]}
    assert results["727"] == "status completed, tracking LV123"
    assert "Invalid ID." in str(results["728"])
    assert note == {"note": "Tracking: Omniva LV123", "customer_note": True}
