"""WooCommerce: order webhooks, their signature and set-up ping, and the REST API v3.

Facts used, from the platform's documentation: ``X-WC-Webhook-Signature`` is
base64(HMAC-SHA256(webhook secret, raw body)); creating a webhook sends an unsigned ping whose
form body is ``webhook_id=<id>`` and which must be answered 200; the payload is the v3 order
resource, amounts as strings; line ``subtotal``/``total`` exclude tax (``*_tax`` beside them);
lists page with ``page``/``per_page`` (at most 100) and ``X-WP-TotalPages``; WooCommerce
never retries a failed webhook, hence the poll on ``modified_after``.
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
    header,
    numbered_updates,
    read_json,
    to_decimal,
    utc_naive,
)
from .http import ApiBadAnswer, ApiError, HttpClient, client_options

#: Order statuses in which the customer has paid (with ``date_paid`` set).
PAID_STATUSES = {"processing", "completed"}
PAYMENT_STATUS = {"pending": "pending", "on-hold": "pending", "failed": "failed",
                  "cancelled": "voided", "refunded": "refunded", "trash": "voided"}



class WooCommerce(Platform):
    code = "woocommerce"
    label = "WooCommerce"
    credentials = (
        Credential("store_url", "Store URL",
                   "The WordPress site's address, e.g. https://my-shop.example (permalinks must not be "
                   "\"Plain\").", required=True),
        Credential("api_login", "Consumer Key",
                   "The REST API key's consumer key (WooCommerce → Settings → Advanced → REST API; Read, or "
                   "Read/Write for stock and status sync).", required=True),
        Credential("api_secret", "Consumer Secret", "The REST API key's consumer secret.", required=True),
        Credential("webhook_secret", "Webhook Secret",
                   "The Secret given to the store's order webhooks: WooCommerce signs every delivery with "
                   "it. Deliveries with a wrong signature are refused and nothing is stored."),
    )
    can_test_connection = True
    can_poll_orders = True
    can_sync_stock = True
    can_sync_prices = True
    can_reconcile_stock = True
    can_send_status = True
    can_read_status = True
    can_list_payment_methods = True
    # WooCommerce never sends a failed webhook again: the poll is its safety net.
    poll_by_default = True
    order_statuses = (
        OrderStatus("pending", "Pending payment", 0),
        OrderStatus("on-hold", "On hold", 1),
        OrderStatus("processing", "Processing", 2),
        OrderStatus("completed", "Completed", 3),
        OrderStatus("cancelled", "Cancelled", 9),
        OrderStatus("refunded", "Refunded", 9),
        OrderStatus("failed", "Failed", 9),
    )
    default_status_map = {
        "quotation": "pending", "confirmed": "processing", "partially_delivered": "processing",
        "delivered": "completed", "invoiced": "processing", "paid": "processing", "cancelled": "cancelled",
    }

    def is_handshake(self, headers: Mapping[str, str], body: bytes) -> bool:
        return not header(headers, "X-WC-Webhook-Topic") and body.startswith(b"webhook_id=")

    def verify(self, headers: Mapping[str, str], body: bytes, credentials: Mapping[str, str]) -> None:
        check_hmac(headers, "X-WC-Webhook-Signature", body, credentials.get("webhook_secret") or "")

    def parse(self, body: bytes, content_type: str = "application/json") -> Delivery:
        data = read_json(body)
        if not isinstance(data, dict) or not data.get("id"):
            raise InvalidPayload("the body is not a WooCommerce order")
        order = self.read_order(data)
        return Delivery(external_id=order.external_id, order=order)

    def read_order(self, data: Mapping[str, Any]) -> NormalizedOrder:
        taxes_included = bool(data.get("prices_include_tax"))
        try:
            lines = [self._line(item, taxes_included, f"line_items[{index}]")
                     for index, item in enumerate(as_objects(data, "line_items"))]
            shipping = [
                ShippingLine(price=_amount(line, "total", taxes_included),
                             name=as_text(line, "method_title", f"shipping_lines[{index}].method_title"))
                for index, line in enumerate(as_objects(data, "shipping_lines"))
            ]
            fees = [
                ShippingLine(price=_amount(line, "total", taxes_included),
                             name=as_text(line, "name", f"fee_lines[{index}].name"))
                for index, line in enumerate(as_objects(data, "fee_lines"))
            ]
            total = to_decimal(data.get("total") or 0)
        except ValueError as exc:
            raise InvalidPayload(f"an amount is not a number: {exc}") from exc
        billing = as_object(data, "billing")
        status = as_text(data, "status") or "pending"
        paid = status in PAID_STATUSES and bool(data.get("date_paid_gmt") or data.get("date_paid"))
        payment_status = "paid" if paid else PAYMENT_STATUS.get(status, "pending")
        customer_id = as_text(data, "customer_id")
        return NormalizedOrder(
            external_id=as_text(data, "id"),
            number=as_text(data, "number") or as_text(data, "id"),
            created_at=_gmt(as_text(data, "date_created_gmt")),
            updated_at=_gmt(as_text(data, "date_modified_gmt")),
            currency=as_text(data, "currency"),
            taxes_included=taxes_included,
            customer=Customer(
                external_id=customer_id if customer_id != "0" else "",
                email=as_text(billing, "email", "billing.email").lower(),
                name=" ".join(filter(None, [as_text(billing, "first_name", "billing.first_name"),
                                            as_text(billing, "last_name", "billing.last_name")])),
                phone=as_text(billing, "phone", "billing.phone"),
                company=as_text(billing, "company", "billing.company"),
            ),
            billing_address=_address(data, "billing"),
            shipping_address=_address(data, "shipping"),
            lines=lines,
            shipping_lines=shipping,
            fee_lines=fees,
            payment=Payment(
                method_code=as_text(data, "payment_method"),
                method_name=as_text(data, "payment_method_title"),
                status=payment_status,
                amount=total if paid else Decimal(0),
                transaction_id=as_text(data, "transaction_id"),
            ),
            total=total,
            note=as_text(data, "customer_note"),
            status="cancelled" if status in ("cancelled", "trash") else status,
        )

    @staticmethod
    def _line(item: Mapping[str, Any], taxes_included: bool, path: str = "line_items") -> OrderLine:
        # What the shop priced, rebuilt from the excluded-tax amounts WooCommerce reports.
        quantity = to_decimal(item.get("quantity") or 0)
        before = _amount(item, "subtotal", taxes_included)
        after = _amount(item, "total", taxes_included)
        return OrderLine(
            sku=as_text(item, "sku", f"{path}.sku"),
            name=as_text(item, "name", f"{path}.name"),
            quantity=quantity,
            unit_price=(before / quantity) if quantity else Decimal(0),
            discount=max(before - after, Decimal(0)),
        )

    def changed_at(self, data: Mapping[str, Any]):
        return utc_naive(_gmt(data.get("date_modified_gmt") or data.get("date_created_gmt")))

    def client(self, credentials: Mapping[str, str], **kwargs) -> WooCommerceClient:
        return WooCommerceClient(credentials["store_url"], credentials["api_login"],
                                 credentials["api_secret"], **client_options(credentials, kwargs))


class WooCommerceClient(StockClient, StatusClient):
    """The REST API v3 of one store (HTTP Basic with the consumer key and secret)."""

    def __init__(self, store_url: str, consumer_key: str, consumer_secret: str, **http_options):
        self.store_url = store_url.rstrip("/")
        self.http = HttpClient(f"{self.store_url}/wp-json/wc/v3", auth=(consumer_key, consumer_secret),
                               headers={"Accept": "application/json"}, **http_options)

    def test_connection(self) -> str:
        self.http.get_json("orders", params={"per_page": 1})
        return self.store_url

    def orders_since(self, since_iso: str) -> Iterator[list[dict]]:
        params = {"modified_after": since_iso.rstrip("Z"), "dates_are_gmt": "true", "per_page": 100,
                  "orderby": "modified", "order": "asc", "page": 1}
        for response in self.http.pages("orders", params, next_page=_next_page):
            yield response.json()

    def payment_methods(self) -> list[tuple[str, str]]:
        """(code, title) of the store's enabled payment gateways."""
        return [(g["id"], g.get("title") or g["id"]) for g in self.http.get_json("payment_gateways")
                if g.get("enabled")]


    #: ``orders/batch`` takes up to 100 items, like the products batch.
    status_batch_size = 100

    def set_order_status(self, update: StatusUpdate) -> str:
        result = self.set_order_statuses([update])[update.external_id]
        if isinstance(result, Exception):
            raise result
        return result

    def set_order_statuses(self, updates: list[StatusUpdate]) -> dict[str, str | Exception]:
        """``POST orders/batch`` with the statuses (per-item errors come back on their item);
        a tracking number then goes as a note to the customer, one order at a time (notes have
        no batch endpoint). An order id that is not a WooCommerce order number fails alone."""
        numbers, errors = numbered_updates(updates, "WooCommerce order number", ApiError)
        results: dict[str, str | Exception] = dict(errors)
        updates = [u for u in updates if u.external_id in numbers]
        if not updates:
            return results
        answer = self.http.post_json("orders/batch", {"update": [
            {"id": numbers[u.external_id], "status": u.status} for u in updates]})
        if not isinstance(answer, dict):
            raise ApiBadAnswer("WooCommerce: POST orders/batch answered without its list of updated orders",
                               url=self.http.url("orders/batch"))
        items = {str(item.get("id")): item for item in answer.get("update") or [] if isinstance(item, dict)}
        for update in updates:
            item = items.get(str(numbers[update.external_id]))
            error = (item or {}).get("error")
            if item is None or error:
                message = (error.get("message") if isinstance(error, dict) else error) \
                    or "the store did not confirm this order"
                results[update.external_id] = ApiError(f"WooCommerce refused order {update.external_id}: {message}")
                continue
            results[update.external_id] = f"status {update.status}"
            if update.tracking_number:
                text = " ".join(filter(None, [update.carrier, update.tracking_number, update.tracking_url]))
                try:
                    self.http.post_json(f"orders/{numbers[update.external_id]}/notes",
                                        {"note": f"Tracking: {text}", "customer_note": True})
                except ApiError as exc:
                    results[update.external_id] = exc
                    continue
                results[update.external_id] += f", tracking {update.tracking_number}"
        return results

    #: WooCommerce refuses batches of more than 100 items (HTTP 413).
    stock_batch_size = 100

    def find_skus(self, skus: list[str]) -> dict[str, StoreItem]:
        """The products and variations the store has under these SKUs (100 SKUs a request:
        with ``sku`` the API searches both post types)."""
        found = {}
        for chunk in batches(sorted(set(skus)), 100):
            for response in self.http.pages("products", {"sku": ",".join(chunk), "per_page": 100, "page": 1},
                                            next_page=_next_page):
                for product in response.json():
                    if product.get("sku"):
                        found[product["sku"]] = _store_item(product)
        return found

    def catalog(self) -> Iterator[list[StoreItem]]:
        """Every product with a SKU, then the variations of variable products (which the
        product listing names by id only)."""
        variable = []
        for response in self.http.pages("products", {"per_page": 100, "page": 1}, next_page=_next_page):
            products = response.json()
            variable += [p["id"] for p in products if p.get("type") == "variable"]
            yield [_store_item(p) for p in products if p.get("sku")]
        for parent in variable:
            path = f"products/{parent}/variations"
            for response in self.http.pages(path, {"per_page": 100, "page": 1}, next_page=_next_page):
                yield [_store_item(dict(v, parent_id=v.get("parent_id") or parent))
                       for v in response.json() if v.get("sku")]

    def stock_requests(self, updates: list[StockUpdate]) -> list[list[StockUpdate]]:
        """Simple products go to one batch endpoint, variations to their parent's."""
        groups: dict[str, list[StockUpdate]] = {}
        for update in updates:
            groups.setdefault(update.remote_parent_id, []).append(update)
        return [chunk for group in groups.values() for chunk in batches(group, self.stock_batch_size)]

    def push_stock(self, updates: list[StockUpdate]) -> dict[str, str | None]:
        """Send quantities (and prices): one batch request per 100 items of one parent.
        Returns {sku: None when accepted, else the store's reason}."""
        results: dict[str, str | None] = {}
        #: The SKUs of this push whose product or variation the store no longer has (its
        #: ``…_invalid_id`` error): the next look-up finds them again, if they are back.
        self.not_in_store: set[str] = set()
        for chunk in self.stock_requests(updates):
            parent = chunk[0].remote_parent_id
            path = f"products/{parent}/variations/batch" if parent else "products/batch"
            by_id = {u.remote_id: u for u in chunk}
            answer = self.http.post_json(path, {"update": [_stock_item(u) for u in chunk]})
            for item in answer.get("update") or []:
                update = by_id.get(str(item.get("id")))
                if update:
                    error = item.get("error")
                    results[update.sku] = (error.get("message") or str(error)) if error else None
                    if isinstance(error, dict) and str(error.get("code") or "").endswith("_invalid_id"):
                        self.not_in_store.add(update.sku)
            for update in chunk:
                results.setdefault(update.sku, "the store did not confirm this item")
        return results


def _store_item(product: Mapping[str, Any]) -> StoreItem:
    parent = product.get("parent_id") or 0
    managed = product.get("manage_stock") is True
    quantity = product.get("stock_quantity")
    price = product.get("regular_price") or product.get("price")
    return StoreItem(
        sku=product["sku"], remote_id=str(product["id"]), remote_parent_id=str(parent) if parent else "",
        quantity=to_decimal(quantity) if managed and quantity is not None else None,
        price=to_decimal(price) if price not in (None, "") else None,
    )


def _stock_item(update: StockUpdate) -> dict:
    item = {"id": int(update.remote_id), "manage_stock": True, "stock_quantity": int(update.quantity)}
    if update.price is not None:
        item["regular_price"] = f"{update.price:.2f}"
    return item


def _next_page(response, params):
    """The next page of any listing (orders, products, variations), from ``X-WP-TotalPages``."""
    total = response.headers.get("X-WP-TotalPages")
    if total is not None:
        more = params["page"] < int(total)
    else:
        # Some hosts strip the header: a full page means there may be another.
        more = len(response.json()) >= params["per_page"]
    return (response.request.url.split("?")[0], dict(params, page=params["page"] + 1)) if more else None


def _amount(line: Mapping[str, Any], key: str, taxes_included: bool) -> Decimal:
    amount = to_decimal(line.get(key) or 0)
    if taxes_included:
        amount += to_decimal(line.get(f"{key}_tax") or 0)
    return amount


def _gmt(value: str | None) -> str:
    return f"{value}Z" if value and not value.endswith("Z") else (value or "")


def _address(order: Mapping[str, Any], key: str) -> Address:
    data = as_object(order, key)
    if not data:
        return Address()

    def text(name):
        return as_text(data, name, f"{key}.{name}")

    return Address(
        name=" ".join(filter(None, [text("first_name"), text("last_name")])),
        company=text("company"),
        street=text("address_1"),
        street2=text("address_2"),
        city=text("city"),
        zip=text("postcode"),
        state=text("state"),
        country_code=text("country").upper(),
        phone=text("phone"),
        email=text("email"),
    )
