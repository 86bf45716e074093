"""Mozello: order notifications, their hash, and the Store API.

Facts used (most of them second-hand, not confirmed by Mozello's own pages): notifications are
``{"event": …, "order": {…}}``; ``X-Mozello-Hash`` is base64(HMAC-SHA256(store API key, raw
body)); ``ORDER_CREATED`` comes with ``payment_status: "pending"`` and ``PAYMENT_CHANGED`` may
carry only the changed fields, so it becomes a patch of the order; the API authenticates with
``Authorization: ApiKey …`` and pages with ``next_page_uri``.

Decided here, where the facts are unconfirmed: a line's ``product_price`` is what the customer
pays per unit (with ``product_price_discounted`` taking its place when set), prices include tax
when the lines give ``tax_inclusive_percent``, and the order's ``discount_amount`` is spread
over the lines in proportion to their value. Whatever Mozello really does, the amount check
compares the result with Mozello's ``total`` and holds any order where they differ.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

from .base import (
    Address,
    Credential,
    Customer,
    Delivery,
    InvalidPayload,
    NormalizedOrder,
    OrderLine,
    OrderStatus,
    Payment,
    Platform,
    ShippingLine,
    StatusClient,
    StatusUpdate,
    StockClient,
    StockUpdate,
    StoreItem,
    as_object,
    as_objects,
    as_text,
    batches,
    check_hmac,
    read_json,
    spread_discount,
    to_decimal,
    utc_naive,
)
from .http import HttpClient, client_options

API_BASE = "https://api.mozello.com/v1"
PAYMENT_STATUS = {"paid": "paid", "pending": "pending", "failed": "failed"}



class Mozello(Platform):
    code = "mozello"
    label = "Mozello"
    # Mozello has no order status, only flags: paid and dispatched (each set on its own,
    # hence the same rank) and the order's deletion.
    order_statuses = (
        OrderStatus("open", "Not dispatched", 0),
        OrderStatus("paid", "Paid", 1),
        OrderStatus("dispatched", "Dispatched", 1),
        OrderStatus("cancelled", "Deleted", 9),
    )
    default_status_map = {
        "quotation": "open", "confirmed": "open", "partially_delivered": "open", "delivered": "dispatched",
        "invoiced": "open", "paid": "paid", "cancelled": "cancelled",
    }
    credentials = (
        Credential("api_secret", "API Key",
                   "The store's API key (Store → Store settings → API). Mozello signs its notifications "
                   "with the same key.", required=True),
    )
    can_test_connection = True
    can_poll_orders = True
    can_sync_stock = True
    can_sync_prices = True
    can_reconcile_stock = True
    can_send_status = True
    can_read_status = True
    can_register_webhook = True

    def verify(self, headers: Mapping[str, str], body: bytes, credentials: Mapping[str, str]) -> None:
        # One key for everything: the store's API key also signs the notifications.
        check_hmac(headers, "X-Mozello-Hash", body, credentials.get("api_secret") or "")

    def parse(self, body: bytes, content_type: str = "application/json") -> Delivery:
        data = read_json(body)
        if not isinstance(data, dict) or not isinstance(data.get("order"), dict):
            raise InvalidPayload('the body is not a Mozello order notification ({"event", "order"})')
        event = as_text(data, "event")
        order = data["order"]
        external_id = as_text(order, "order_id", "order.order_id")
        if not external_id:
            raise InvalidPayload("the order has no order_id")
        if event == "ORDER_DELETED":
            return Delivery(external_id=external_id, patch={"status": "cancelled"})
        if "cart" not in order:
            # PAYMENT_CHANGED / DISPATCH_CHANGED with only the fields that changed.
            patch: dict[str, Any] = {}
            if "payment_status" in order:
                status = as_text(order, "payment_status", "order.payment_status")
                patch["payment"] = {"status": PAYMENT_STATUS.get(status, "pending")}
            if order.get("dispatched"):
                patch["status"] = "dispatched"
            if not patch:
                raise InvalidPayload(f"the {event or 'notification'} carries nothing to apply")
            return Delivery(external_id=external_id, patch=patch)
        return Delivery(external_id=external_id, order=self.read_order(order))

    def read_order(self, data: Mapping[str, Any]) -> NormalizedOrder:
        cart = as_objects(data, "cart", "order.cart")

        def text(key):
            return as_text(data, key, f"order.{key}")

        try:
            lines = [self._line(item, f"order.cart[{index}]") for index, item in enumerate(cart)]
            spread_discount(lines, to_decimal(data.get("discount_amount") or 0))
            shipping_price = to_decimal(data.get("shipping_price") or 0)
            total = to_decimal(data.get("total") or 0)
        except ValueError as exc:
            raise InvalidPayload(f"an amount is not a number: {exc}") from exc
        status = PAYMENT_STATUS.get(text("payment_status") or "pending", "pending")
        shipping = as_object(data, "shipping", "order.shipping")
        return NormalizedOrder(
            external_id=text("order_id"),
            number=text("order_id"),
            created_at=text("created_at"),
            currency=text("currency"),
            taxes_included=any(item.get("tax_inclusive_percent") is not None for item in cart),
            customer=Customer(
                email=text("email").lower(),
                name=text("name"),
                phone=text("phone"),
                company=text("company"),
                vat=text("vat_id"),
            ),
            billing_address=_address(data, text("name"), text("company"), "order"),
            shipping_address=_address(shipping, text("name"), "", "order.shipping"),
            lines=lines,
            shipping_lines=[ShippingLine(price=shipping_price, name=text("shipping_method"))]
            if shipping_price else [],
            payment=Payment(
                method_code=text("payment_method"),
                method_name=text("payment_method"),
                status=status,
                amount=total if status == "paid" else Decimal(0),
            ),
            total=total,
            note=text("notes"),
            status="dispatched" if data.get("dispatched") else "open",
        )

    @staticmethod
    def _line(item: Mapping[str, Any], path: str = "order.cart") -> OrderLine:
        price = to_decimal(item.get("product_price") or 0)
        quantity = to_decimal(item.get("product_quantity") or 0)
        discounted = item.get("product_price_discounted")
        discount = (price - to_decimal(discounted)) * quantity if discounted is not None else Decimal(0)
        rate = item.get("tax_inclusive_percent", item.get("tax_exclusive_percent"))
        return OrderLine(
            sku=as_text(item, "product_sku", f"{path}.product_sku"),
            name=as_text(item, "product_name", f"{path}.product_name"),
            quantity=quantity,
            unit_price=price,
            discount=max(discount, Decimal(0)),
            tax_rate=to_decimal(rate) if rate is not None else None,
        )

    def changed_at(self, data: Mapping[str, Any]):
        return utc_naive((data.get("modified_at") or data.get("created_at") or "").replace(" ", "T"))

    def client(self, credentials: Mapping[str, str], **kwargs) -> MozelloClient:
        return MozelloClient(credentials["api_secret"], credentials.get("store_url") or API_BASE,
                             **client_options(credentials, kwargs))


class MozelloClient(StockClient, StatusClient):
    def __init__(self, api_key: str, base_url: str = API_BASE, **http_options):
        self.http = HttpClient(base_url, headers={"Authorization": f"ApiKey {api_key}",
                                                  "Accept": "application/json"}, **http_options)

    def test_connection(self) -> str:
        self.http.get_json("store/notifications/")
        return "Mozello"

    def orders_since(self, since_iso: str) -> Iterator[list[dict]]:
        since = since_iso.replace("T", " ").rstrip("Z")
        params = {"page_size": 100, "filter": f"modified_at>{since}"}
        for response in self.http.pages("store/orders/", params, next_page=self._next_page):
            yield response.json().get("orders") or []

    def _next_page(self, response, _params):
        following = response.json().get("next_page_uri")
        return (self.http.url(following), {}) if following else None

    #: Mozello's batch update takes up to 1000 products.
    stock_batch_size = 1000

    def find_skus(self, skus: list[str]) -> dict[str, StoreItem]:
        """Mozello updates stock by SKU and lists no SKUs: every SKU is its own key, and the
        batch update says which ones the store does not have (``not_in_store``)."""
        return {sku: StoreItem(sku, sku) for sku in skus}

    def catalog(self) -> Iterator[list[StoreItem]]:
        """Every product and variant with a SKU; ``stock: null`` means not tracked."""
        for response in self.http.pages("store/products/", {"page_size": 100}, next_page=self._next_page):
            items = []
            for product in response.json().get("products") or []:
                for entry in [product, *(product.get("variants") or [])]:
                    if entry.get("sku"):
                        items.append(StoreItem(
                            entry["sku"], entry["sku"], product.get("handle") or "",
                            quantity=to_decimal(entry["stock"]) if entry.get("stock") is not None else None,
                            price=to_decimal(entry["price"]) if entry.get("price") is not None else None))
            yield items

    def push_stock(self, updates: list[StockUpdate]) -> dict[str, str | None]:
        """Items go by SKU alone, so an item Mozello names in its errors is a SKU it has no
        product for: besides its reason, it goes into ``not_in_store``."""
        results: dict[str, str | None] = {}
        #: The SKUs of this push the store does not have.
        self.not_in_store: set[str] = set()
        for chunk in batches(updates, self.stock_batch_size):
            answer = self.http.post_json("store/products/batch_update_by_sku/", {"products": [
                {"sku": u.sku, "stock": int(u.quantity), **({"price": float(u.price)} if u.price is not None else {})}
                for u in chunk]})
            failed = {}
            for item in answer.get("errors") or answer.get("failed") or []:
                if isinstance(item, dict) and item.get("sku"):
                    failed[item["sku"]] = item.get("error_message") or item.get("message") or "refused"
            for update in chunk:
                results[update.sku] = failed.get(update.sku)
                if update.sku in failed:
                    self.not_in_store.add(update.sku)
        return results

    def set_order_status(self, update: StatusUpdate) -> str:
        """``PUT store/order/<id>/``: paid sets the payment status, dispatched the dispatch flag
        with the tracking code (which also archives the order in Mozello)."""
        if update.status == "paid":
            order = {"payment_status": "paid"}
        elif update.status == "dispatched":
            order = {"dispatched": True}
            if update.tracking_number:
                order["shipping_tracking_code"] = update.tracking_number
            if update.tracking_url:
                order["shipping_tracking_url"] = update.tracking_url
        else:
            return f"nothing to send: Mozello's API has no '{update.status}'"
        self.http.request("PUT", f"store/order/{update.external_id}/", json={"order": order})
        return ", ".join(f"{key} {value}" for key, value in order.items())

    def set_notifications(self, url: str) -> None:
        """Point the store's order notifications at ``url`` (None turns them off)."""
        self.http.request("PUT", "store/notifications/", json={
            "notifications_url": url,
            "notifications_wanted": ["ORDER_CREATED", "ORDER_DELETED", "PAYMENT_CHANGED", "DISPATCH_CHANGED"],
        })


def _address(data: Mapping[str, Any], name: str, company: str, path: str = "order") -> Address:
    def text(key):
        return as_text(data, key, f"{path}.{key}")

    return Address(
        name=name,
        company=company,
        street=text("address"),
        city=text("city"),
        zip=text("zip"),
        state=text("province_code"),
        country_code=text("country_code").upper(),
        phone=text("phone"),
    )
