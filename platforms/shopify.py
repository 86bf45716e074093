"""Shopify: order webhooks (JSON or XML), their HMAC, and the Admin REST API.

Facts used, from the platform's documentation: the signature is
base64(HMAC-SHA256(app client secret, raw body)) in ``X-Shopify-Hmac-Sha256``; the webhook
body is the REST Order resource; XML deliveries are the same resource in Rails' XML form
(dashed names, ``type="array"``, ``nil="true"``); order lists page through the ``Link``
header, and a ``page_info`` request must carry no other filter.
"""
from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

from lxml import etree

from .base import (
    Address,
    Credential,
    Customer,
    Delivery,
    FieldError,
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
    to_decimal,
    utc_naive,
)
from .http import ApiError, HttpClient, client_options

API_VERSION = "2025-01"
#: Stock and prices go through GraphQL (Shopify's REST API is legacy). 2026-01 still takes
#: ``ignoreCompareQuantity``; from 2026-04 each quantity must carry ``changeFromQuantity``.
GRAPHQL_API_VERSION = "2026-01"

#: Shopify's financial_status → the normalized payment status.
FINANCIAL_STATUS = {
    "pending": "pending",
    "authorized": "authorized",
    "partially_paid": "partially_paid",
    "paid": "paid",
    "partially_refunded": "paid",
    "refunded": "refunded",
    "voided": "voided",
    "expired": "failed",
}

_LINK_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')



def rails_xml_to_data(body: bytes) -> Any:
    """Rails' XML serialization (what Shopify sends as XML) to the JSON form's data."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError as exc:
        raise InvalidPayload(f"the body is not valid XML: {exc}") from exc

    def convert(element):
        kind = element.get("type")
        if element.get("nil") == "true":
            return None
        if kind == "array":
            return [convert(child) for child in element if isinstance(child.tag, str)]
        children = [child for child in element if isinstance(child.tag, str)]
        if children:
            return {child.tag.replace("-", "_"): convert(child) for child in children}
        text = element.text or ""
        if kind == "boolean":
            return text.strip() == "true"
        return text

    return {root.tag.replace("-", "_"): convert(root)}


class Shopify(Platform):
    code = "shopify"
    label = "Shopify"
    credentials = (
        Credential("store_url", "Store URL", "The shop's address, e.g. https://my-shop.myshopify.com.",
                   required=True),
        Credential("api_secret", "Admin API Access Token",
                   "The access token of the app installed on the shop (scope read_orders; "
                   "read_all_orders to import orders older than 60 days).", required=True),
        Credential("webhook_secret", "Webhook Signing Key",
                   "What Shopify signs its webhooks with: the key shown under Settings → Notifications → "
                   "Webhooks, or the app's client secret for webhooks an app subscribes. Deliveries with a "
                   "wrong signature are refused and nothing is stored."),
        Credential("store_location", "Store Location",
                   "The location (gid://shopify/Location/…) the quantities are sent to. Left empty, it is "
                   "filled in at the first sync when the shop has a single location."),
    )
    can_test_connection = True
    can_poll_orders = True
    can_sync_stock = True
    can_sync_prices = True
    can_reconcile_stock = True
    can_send_status = True
    can_read_status = True
    needs_stock_location = True
    # Shopify has no free status: what it shows comes from fulfilments and cancellation.
    order_statuses = (
        OrderStatus("open", "Unfulfilled", 0),
        OrderStatus("partial", "Partially fulfilled", 2),
        OrderStatus("fulfilled", "Fulfilled", 3),
        OrderStatus("cancelled", "Cancelled", 9),
    )
    default_status_map = {
        "quotation": "open", "confirmed": "open", "partially_delivered": "partial", "delivered": "fulfilled",
        "invoiced": "open", "paid": "open", "cancelled": "cancelled",
    }

    def verify(self, headers: Mapping[str, str], body: bytes, credentials: Mapping[str, str]) -> None:
        # The app's client secret (API secret key) signs every webhook.
        check_hmac(headers, "X-Shopify-Hmac-Sha256", body, credentials.get("webhook_secret") or "")

    def parse(self, body: bytes, content_type: str = "application/json") -> Delivery:
        if "xml" in (content_type or "") or body.lstrip()[:1] == b"<":
            data = rails_xml_to_data(body).get("order")
        else:
            data = read_json(body)
            # Webhooks send the bare resource; the REST API wraps it in {"order": …}.
            if isinstance(data, dict) and isinstance(data.get("order"), dict):
                data = data["order"]
        if not isinstance(data, dict):
            raise InvalidPayload("the body is not a Shopify order")
        order = self.read_order(data)
        return Delivery(external_id=order.external_id, order=order)

    def read_order(self, data: Mapping[str, Any]) -> NormalizedOrder:
        external_id = as_text(data, "id")
        if not external_id:
            raise InvalidPayload("the order has no id")
        try:
            lines = [self._line(item, f"line_items[{index}]")
                     for index, item in enumerate(as_objects(data, "line_items"))]
            shipping = [
                ShippingLine(
                    price=to_decimal(line.get("discounted_price") or line.get("price") or 0),
                    name=as_text(line, "title", f"shipping_lines[{index}].title"),
                    tax_rate=_rate(line, f"shipping_lines[{index}]"),
                )
                for index, line in enumerate(as_objects(data, "shipping_lines"))
            ]
            total = to_decimal(data.get("total_price") or 0)
        except ValueError as exc:
            raise InvalidPayload(f"an amount is not a number: {exc}") from exc
        customer = as_object(data, "customer")
        gateways = data.get("payment_gateway_names") or []
        if not isinstance(gateways, list):
            raise InvalidPayload([FieldError("payment_gateway_names", "must be a list")])
        gateway = as_text({"name": gateways[0]}, "name", "payment_gateway_names[0]") if gateways else ""
        status = FINANCIAL_STATUS.get(as_text(data, "financial_status") or "pending", "pending")
        return NormalizedOrder(
            external_id=external_id,
            number=as_text(data, "name") or as_text(data, "order_number") or external_id,
            created_at=as_text(data, "created_at"),
            currency=as_text(data, "currency"),
            taxes_included=bool(data.get("taxes_included")),
            customer=Customer(
                external_id=as_text(customer, "id", "customer.id"),
                email=(as_text(data, "email") or as_text(customer, "email", "customer.email")).lower(),
                name=" ".join(filter(None, [as_text(customer, "first_name", "customer.first_name"),
                                            as_text(customer, "last_name", "customer.last_name")])),
                phone=as_text(customer, "phone", "customer.phone") or as_text(data, "phone"),
            ),
            billing_address=_address(data, "billing_address"),
            shipping_address=_address(data, "shipping_address"),
            lines=lines,
            shipping_lines=shipping,
            payment=Payment(
                method_code=gateway or as_text(data, "gateway"),
                method_name=gateway,
                status=status,
                amount=total if status == "paid" else Decimal(0),
            ),
            total=total,
            note=as_text(data, "note"),
            status="cancelled" if data.get("cancelled_at") else (as_text(data, "fulfillment_status") or "open"),
            updated_at=as_text(data, "updated_at"),
        )

    @staticmethod
    def _line(item: Mapping[str, Any], path: str = "line_items") -> OrderLine:
        allocations = as_objects(item, "discount_allocations", f"{path}.discount_allocations")
        discount = sum((to_decimal(a.get("amount") or 0) for a in allocations), Decimal(0))
        if not allocations and item.get("total_discount"):
            discount = to_decimal(item["total_discount"])
        name = " - ".join(filter(None, [as_text(item, "title", f"{path}.title"),
                                        as_text(item, "variant_title", f"{path}.variant_title")]))
        return OrderLine(
            sku=as_text(item, "sku", f"{path}.sku"),
            name=name,
            quantity=to_decimal(item.get("quantity") or 0),
            unit_price=to_decimal(item.get("price") or 0),
            discount=discount,
            tax_rate=_rate(item, path),
        )

    def changed_at(self, data: Mapping[str, Any]):
        return utc_naive(data.get("updated_at") or data.get("created_at") or "")

    def client(self, credentials: Mapping[str, str], **kwargs) -> ShopifyClient:
        return ShopifyClient(credentials["store_url"], credentials["api_secret"],
                             location_id=credentials.get("stock_location") or "",
                             **client_options(credentials, kwargs))


class ShopifyClient(StockClient, StatusClient):
    """The Admin API of one shop: orders through REST, stock and prices through GraphQL.

    Stock lives on an inventory item at a location, not on the variant: the client is
    given the location the channel sends its quantities to.
    """

    #: Quantities per ``inventorySetQuantities`` call (Shopify documents no maximum; 250
    #: is the page size of its own connections, and keeps a call's cost small).
    stock_batch_size = 250
    #: SKUs per ``productVariants`` search (its query string has a length limit).
    skus_per_search = 50

    def __init__(self, shop_url: str, access_token: str, location_id: str = "", **http_options):
        base = shop_url.rstrip("/")
        if not base.startswith(("http://", "https://")):
            base = f"https://{base}"
        self.http = HttpClient(f"{base}/admin/api/{API_VERSION}",
                               headers={"X-Shopify-Access-Token": access_token,
                                        "Accept": "application/json"}, **http_options)
        self.graphql_url = f"{base}/admin/api/{GRAPHQL_API_VERSION}/graphql.json"
        self.location_id = location_id

    def test_connection(self) -> str:
        """The shop's name; raises ApiError when the credentials do not work."""
        return self.http.get_json("shop.json")["shop"]["name"]

    def orders_since(self, since_iso: str, field: str = "updated_at_min") -> Iterator[list[dict]]:
        """Pages of orders created or updated since a moment (any status)."""
        params = {"status": "any", "limit": 250, field: since_iso, "order": "updated_at asc"}
        for response in self.http.pages("orders.json", params, next_page=_next_by_link):
            yield response.json().get("orders", [])

    def set_order_status(self, update: StatusUpdate) -> str:
        """Fulfilled: fulfil what each open fulfilment order still holds, with the tracking
        number (the customer is not notified by Shopify: Odoo sends its own mail). Cancelled:
        cancel the order. Other statuses have no action in Shopify."""
        if update.status == "cancelled":
            self.http.post_json(f"orders/{update.external_id}/cancel.json", {})
            return "cancelled"
        if update.status not in ("fulfilled", "partial"):
            return f"nothing to send: Shopify has no action for '{update.status}'"
        orders = self.http.get_json(f"orders/{update.external_id}/fulfillment_orders.json")
        open_orders = [fo for fo in orders.get("fulfillment_orders") or []
                       if fo.get("status") in ("open", "in_progress", "scheduled")]
        partial: dict[str, int] = {}
        if update.status == "fulfilled":
            # Without line items, a fulfilment takes everything its fulfilment order holds.
            by_order = [{"fulfillment_order_id": fo["id"]} for fo in open_orders]
        else:
            by_order, partial = self._partial_items(update, open_orders)
        if not by_order:
            return "already fulfilled" if update.status == "fulfilled" else "nothing more delivered"
        fulfillment = {"line_items_by_fulfillment_order": by_order, "notify_customer": False}
        if update.tracking_number:
            fulfillment["tracking_info"] = {"number": update.tracking_number, "url": update.tracking_url or None,
                                            "company": update.carrier or None}
        self.http.post_json("fulfillments.json", {"fulfillment": fulfillment})
        done = "fulfilled" if update.status == "fulfilled" else "partly fulfilled: " + ", ".join(
            f"{sku} × {qty}" for sku, qty in sorted(partial.items()))
        return done + (f", tracking {update.tracking_number}" if update.tracking_number else "")

    def _partial_items(self, update: StatusUpdate, open_orders: list[dict]) -> tuple[list[dict], dict[str, int]]:
        """Fulfilment order line items for what Odoo delivered beyond what Shopify has
        fulfilled already (a line's fulfilled quantity is its quantity less what is still
        fulfillable), and the quantities by SKU."""
        order = self.http.get_json(f"orders/{update.external_id}.json", params={"fields": "id,line_items"})
        line_sku = {item["id"]: item.get("sku") or "" for item in order.get("order", {}).get("line_items") or []}
        left = {sku: Decimal(qty) for sku, qty in update.delivered.items()}
        for fo in open_orders:
            for item in fo.get("line_items") or []:
                sku = line_sku.get(item.get("line_item_id"), "")
                if sku in left:
                    left[sku] -= Decimal(item.get("quantity", 0)) - Decimal(item.get("fulfillable_quantity", 0))
        sent: dict[str, int] = {}
        by_order = []
        for fo in open_orders:
            items = []
            for item in fo.get("line_items") or []:
                sku = line_sku.get(item.get("line_item_id"), "")
                quantity = min(int(left.get(sku, 0)), int(item.get("fulfillable_quantity", 0)))
                if quantity > 0:
                    items.append({"id": item["id"], "quantity": quantity})
                    left[sku] -= quantity
                    sent[sku] = sent.get(sku, 0) + quantity
            if items:
                by_order.append({"fulfillment_order_id": fo["id"], "fulfillment_order_line_items": items})
        return by_order, sent

    def graphql(self, query: str, variables: Mapping[str, Any] | None = None) -> dict:
        """``data`` of a GraphQL answer. A throttled query waits for the cost bucket to
        refill as much as the query needs, then runs again; other errors raise ApiError."""
        attempts = self.http.retry.attempts
        for attempt in range(attempts):
            answer = self.http.post_json(self.graphql_url, {"query": query, "variables": dict(variables or {})})
            errors = answer.get("errors") or []
            if isinstance(errors, str):
                errors = [{"message": errors}]
            throttled = any((e.get("extensions") or {}).get("code") == "THROTTLED" or e.get("message") == "Throttled"
                            for e in errors)
            if throttled and attempt < attempts - 1:
                self.http._wait(_refill_wait(answer, self.http.retry.backoff * 2 ** attempt))
                continue
            if errors:
                raise ApiError("Shopify: " + "; ".join(e.get("message") or str(e) for e in errors),
                               200, str(answer)[:2000], self.graphql_url)
            return answer.get("data") or {}
        raise ApiError("Shopify: still throttled after waiting", 429, "", self.graphql_url)

    def locations(self) -> list[tuple[str, str]]:
        """(id, name) of the shop's active locations."""
        data = self.graphql("query { locations(first: 100) { nodes { id name isActive } } }")
        return [(n["id"], n["name"]) for n in data["locations"]["nodes"] if n.get("isActive", True)]

    def _variants(self, search: str | None) -> Iterator[list[StoreItem]]:
        level = ('inventoryLevel(locationId: $location) { quantities(names: ["available"]) { name quantity } }'
                 if self.location_id else "")
        query = (
            "query Variants($after: String, $search: String" + (", $location: ID!" if level else "") + ") {"
            " productVariants(first: 250, after: $after, query: $search) {"
            "  nodes { id sku price product { id } inventoryItem { id tracked " + level + " } }"
            "  pageInfo { hasNextPage endCursor } } }"
        )
        variables: dict[str, Any] = {"after": None, "search": search}
        if level:
            variables["location"] = self.location_id
        while True:
            connection = self.graphql(query, variables)["productVariants"]
            yield [_variant_item(node) for node in connection["nodes"] if node.get("sku")]
            if not connection["pageInfo"]["hasNextPage"]:
                return
            variables["after"] = connection["pageInfo"]["endCursor"]

    def find_skus(self, skus: list[str]) -> dict[str, StoreItem]:
        found = {}
        wanted = set(skus)
        for chunk in batches(sorted(wanted), self.skus_per_search):
            search = " OR ".join('sku:"{}"'.format(sku.replace("\\", "\\\\").replace('"', '\\"')) for sku in chunk)
            for page in self._variants(search):
                # The search matches words too: keep exact SKUs only.
                found.update({item.sku: item for item in page if item.sku in wanted})
        return found

    def catalog(self) -> Iterator[list[StoreItem]]:
        return self._variants(None)

    def push_stock(self, updates: list[StockUpdate]) -> dict[str, str | None]:
        """Quantities at the channel's location with ``inventorySetQuantities`` (Odoo is the
        source of truth, hence no compare quantity), prices per product with
        ``productVariantsBulkUpdate``. Returns {sku: None when accepted, else why not}."""
        if not self.location_id:
            raise ApiError("Shopify: choose the location the channel sends its stock to")
        results: dict[str, str | None] = {}
        for chunk in batches(updates, self.stock_batch_size):
            self._mutate(results, chunk, "inventorySetQuantities", "quantities", lambda items: (SET_QUANTITIES, {
                "input": {"name": "available", "reason": "correction", "ignoreCompareQuantity": True,
                          "quantities": [{"inventoryItemId": u.inventory_id, "locationId": self.location_id,
                                          "quantity": int(u.quantity)} for u in items]}}))
        priced: dict[str, list[StockUpdate]] = {}
        for update in updates:
            if update.price is not None and results.get(update.sku) is None:
                priced.setdefault(update.remote_parent_id, []).append(update)
        for product_id, group in priced.items():
            self._mutate(results, group, "productVariantsBulkUpdate", "variants",
                         lambda items, product=product_id: (SET_PRICES, {"productId": product, "variants": [
                             {"id": u.remote_id, "price": f"{u.price:.2f}"} for u in items]}))
        return results

    def _mutate(self, results: dict, items: list[StockUpdate], name: str, list_field: str, build) -> None:
        """Run a mutation over items; when it names refused items, run it again without them.

        Whether Shopify applies the rest of a mutation that has user errors is not
        documented: setting absolute values twice is harmless, so the others are sent again
        rather than assumed applied."""
        for _round in range(2):
            query, variables = build(items)
            errors = self.graphql(query, variables)[name]["userErrors"]
            if not errors:
                for update in items:
                    results.setdefault(update.sku, None)
                return
            refused = _refused_items(len(items), errors, list_field)
            for index, message in refused.items():
                results[items[index].sku] = message
            items = [u for index, u in enumerate(items) if index not in refused]
            if not items:
                return
        for update in items:
            results[update.sku] = "the store refused the request: " + "; ".join(e.get("message", "") for e in errors)


SET_QUANTITIES = """
mutation SetStock($input: InventorySetQuantitiesInput!) {
  inventorySetQuantities(input: $input) {
    inventoryAdjustmentGroup { reason }
    userErrors { code field message }
  }
}"""

SET_PRICES = """
mutation SetPrices($productId: ID!, $variants: [ProductVariantsBulkInput!]!) {
  productVariantsBulkUpdate(productId: $productId, variants: $variants) {
    userErrors { code field message }
  }
}"""


def _variant_item(node: Mapping[str, Any]) -> StoreItem:
    item = node.get("inventoryItem") or {}
    level = item.get("inventoryLevel") or {}
    quantities = {q["name"]: q["quantity"] for q in level.get("quantities") or []}
    tracked = item.get("tracked", True)
    return StoreItem(
        sku=node["sku"], remote_id=node["id"], remote_parent_id=(node.get("product") or {}).get("id") or "",
        inventory_id=item.get("id") or "",
        quantity=to_decimal(quantities["available"]) if tracked and "available" in quantities else None,
        price=to_decimal(node["price"]) if node.get("price") is not None else None,
    )


def _refused_items(count: int, errors: list[dict], list_field: str) -> dict[int, str]:
    """{item index: message} from userErrors, which point at an item by index
    (``["input", "quantities", "3", "inventoryItemId"]``); an error naming no item refuses all."""
    refused = {}
    for error in errors:
        path = [str(p) for p in error.get("field") or []]
        index = path[path.index(list_field) + 1] if list_field in path[:-1] else None
        message = error.get("message") or error.get("code") or "refused"
        if index is not None and index.isdigit() and int(index) < count:
            refused[int(index)] = message
        else:
            refused.update(dict.fromkeys(range(count), message))
    return refused


def _refill_wait(answer: Mapping[str, Any], default: float) -> float:
    """Seconds until the cost bucket holds what the throttled query asked for."""
    cost = (answer.get("extensions") or {}).get("cost") or {}
    status = cost.get("throttleStatus") or {}
    try:
        missing = float(cost["requestedQueryCost"]) - float(status["currentlyAvailable"])
        return max(missing, 0.0) / float(status["restoreRate"]) + 0.1
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return default


def _next_by_link(response, _params):
    match = _LINK_NEXT.search(response.headers.get("Link", ""))
    if not match:
        return None
    # The next URL carries page_info and limit only: Shopify refuses other filters with it.
    return match.group(1), {}


def _rate(line: Mapping[str, Any], path: str) -> Decimal | None:
    tax_lines = as_objects(line, "tax_lines", f"{path}.tax_lines")
    if not tax_lines:
        return None
    return sum((to_decimal(t.get("rate") or 0) for t in tax_lines), Decimal(0)) * 100


def _address(order: Mapping[str, Any], key: str) -> Address:
    data = as_object(order, key)
    if not data:
        return Address()

    def text(name):
        return as_text(data, name, f"{key}.{name}")

    name = text("name") or " ".join(filter(None, [text("first_name"), text("last_name")]))
    return Address(
        name=name,
        company=text("company"),
        street=text("address1"),
        street2=text("address2"),
        city=text("city"),
        zip=text("zip"),
        state=text("province_code") or text("province"),
        country_code=text("country_code").upper(),
        phone=text("phone"),
    )
