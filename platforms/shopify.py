"""Shopify: order webhooks (JSON or XML), their HMAC, and the Admin REST API.

Facts used (``shared/platforms.md`` §1): the signature is
base64(HMAC-SHA256(app client secret, raw body)) in ``X-Shopify-Hmac-Sha256``; the webhook
body is the REST Order resource; XML deliveries are the same resource in Rails' XML form
(dashed names, ``type="array"``, ``nil="true"``); order lists page through the ``Link``
header, and a ``page_info`` request must carry no other filter.
"""
from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, Iterator, Mapping

from lxml import etree

from .base import (
    Address,
    check_hmac,
    Customer,
    Delivery,
    InvalidPayload,
    NormalizedOrder,
    OrderLine,
    Payment,
    Platform,
    ShippingLine,
    read_json,
    to_decimal,
    utc_naive,
)
from .http import HttpClient

API_VERSION = "2025-01"

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
        if not data.get("id"):
            raise InvalidPayload("the order has no id")
        try:
            lines = [self._line(item) for item in data.get("line_items") or []]
            shipping = [
                ShippingLine(
                    price=to_decimal(line.get("discounted_price") or line.get("price") or 0),
                    name=line.get("title") or "",
                    tax_rate=_rate(line.get("tax_lines")),
                )
                for line in data.get("shipping_lines") or []
            ]
            total = to_decimal(data.get("total_price") or 0)
        except ValueError as exc:
            raise InvalidPayload(f"an amount is not a number: {exc}") from exc
        customer = data.get("customer") or {}
        gateways = data.get("payment_gateway_names") or []
        status = FINANCIAL_STATUS.get(data.get("financial_status") or "pending", "pending")
        return NormalizedOrder(
            external_id=str(data["id"]),
            number=str(data.get("name") or data.get("order_number") or data["id"]),
            created_at=data.get("created_at") or "",
            currency=data.get("currency") or "",
            taxes_included=bool(data.get("taxes_included")),
            customer=Customer(
                external_id=str(customer.get("id") or ""),
                email=(data.get("email") or customer.get("email") or "").lower(),
                name=" ".join(filter(None, [customer.get("first_name"), customer.get("last_name")])),
                phone=customer.get("phone") or data.get("phone") or "",
            ),
            billing_address=_address(data.get("billing_address")),
            shipping_address=_address(data.get("shipping_address")),
            lines=lines,
            shipping_lines=shipping,
            payment=Payment(
                method_code=gateways[0] if gateways else (data.get("gateway") or ""),
                method_name=gateways[0] if gateways else "",
                status=status,
                amount=total if status == "paid" else Decimal(0),
            ),
            total=total,
            note=data.get("note") or "",
            status="cancelled" if data.get("cancelled_at") else (data.get("fulfillment_status") or "open"),
            updated_at=data.get("updated_at") or "",
        )

    @staticmethod
    def _line(item: Mapping[str, Any]) -> OrderLine:
        allocations = item.get("discount_allocations") or []
        discount = sum((to_decimal(a.get("amount") or 0) for a in allocations), Decimal(0))
        if not allocations and item.get("total_discount"):
            discount = to_decimal(item["total_discount"])
        name = " - ".join(filter(None, [item.get("title"), item.get("variant_title")]))
        return OrderLine(
            sku=item.get("sku") or "",
            name=name,
            quantity=to_decimal(item.get("quantity") or 0),
            unit_price=to_decimal(item.get("price") or 0),
            discount=discount,
            tax_rate=_rate(item.get("tax_lines")),
        )

    def changed_at(self, data: Mapping[str, Any]):
        return utc_naive(data.get("updated_at") or data.get("created_at") or "")

    def client(self, credentials: Mapping[str, str], **kwargs) -> "ShopifyClient":
        return ShopifyClient(credentials["store_url"], credentials["api_secret"], **kwargs)


class ShopifyClient:
    """The Admin REST API of one shop."""

    def __init__(self, shop_url: str, access_token: str, **http_options):
        base = shop_url.rstrip("/")
        if not base.startswith(("http://", "https://")):
            base = f"https://{base}"
        self.http = HttpClient(f"{base}/admin/api/{API_VERSION}",
                               headers={"X-Shopify-Access-Token": access_token,
                                        "Accept": "application/json"}, **http_options)

    def test_connection(self) -> str:
        """The shop's name; raises ApiError when the credentials do not work."""
        return self.http.get_json("shop.json")["shop"]["name"]

    def orders_since(self, since_iso: str, field: str = "updated_at_min") -> Iterator[list[dict]]:
        """Pages of orders created or updated since a moment (any status)."""
        params = {"status": "any", "limit": 250, field: since_iso, "order": "updated_at asc"}
        for response in self.http.pages("orders.json", params, next_page=_next_by_link):
            yield response.json().get("orders", [])


def _next_by_link(response, _params):
    match = _LINK_NEXT.search(response.headers.get("Link", ""))
    if not match:
        return None
    # The next URL carries page_info and limit only: Shopify refuses other filters with it.
    return match.group(1), {}


def _rate(tax_lines) -> Decimal | None:
    if not tax_lines:
        return None
    return sum((to_decimal(t.get("rate") or 0) for t in tax_lines), Decimal(0)) * 100


def _address(data: Mapping[str, Any] | None) -> Address:
    if not data:
        return Address()
    name = data.get("name") or " ".join(filter(None, [data.get("first_name"), data.get("last_name")]))
    return Address(
        name=name or "",
        company=data.get("company") or "",
        street=data.get("address1") or "",
        street2=data.get("address2") or "",
        city=data.get("city") or "",
        zip=data.get("zip") or "",
        state=data.get("province_code") or data.get("province") or "",
        country_code=(data.get("country_code") or "").upper(),
        phone=data.get("phone") or "",
    )
