"""PayPal Checkout (Orders v2): webhook events, verified through PayPal's own API.

Facts used (``shared/platforms.md`` §6): deliveries carry ``PAYPAL-TRANSMISSION-*`` headers
and are verified with ``POST /v1/notifications/verify-webhook-signature`` (the channel's
webhook id, the event as received) under an OAuth2 client-credentials token; the envelope is
``{id, event_type, resource_type, resource}``; ``CHECKOUT.ORDER.APPROVED`` carries the order,
which is not paid until a capture completes; capture events carry the capture, whose order is
in ``supplementary_data.related_ids.order_id`` (or the ``up`` link).
"""
from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from .base import (
    Address,
    AuthenticationError,
    Credential,
    Customer,
    Delivery,
    IgnoredEvent,
    InvalidPayload,
    NormalizedOrder,
    OrderLine,
    Payment,
    Platform,
    ShippingLine,
    as_object,
    as_objects,
    as_text,
    header,
    read_json,
    spread_discount,
    to_decimal,
)
from .http import HttpClient, client_options

API_BASE = "https://api-m.paypal.com"
TRANSMISSION_HEADERS = {
    "auth_algo": "PAYPAL-AUTH-ALGO",
    "cert_url": "PAYPAL-CERT-URL",
    "transmission_id": "PAYPAL-TRANSMISSION-ID",
    "transmission_sig": "PAYPAL-TRANSMISSION-SIG",
    "transmission_time": "PAYPAL-TRANSMISSION-TIME",
}
#: Capture events, as patches of the order they belong to.
CAPTURE_PATCHES = {
    "PAYMENT.CAPTURE.COMPLETED": {"payment": {"status": "paid"}},
    "PAYMENT.CAPTURE.PENDING": {"payment": {"status": "pending"}},
    "PAYMENT.CAPTURE.DENIED": {"payment": {"status": "failed"}, "status": "cancelled"},
    "PAYMENT.CAPTURE.REVERSED": {"payment": {"status": "refunded"}, "status": "cancelled"},
    "PAYMENT.CAPTURE.REFUNDED": {"payment": {"status": "refunded"}, "status": "cancelled"},
}
ORDER_EVENTS = {"CHECKOUT.ORDER.APPROVED", "CHECKOUT.ORDER.COMPLETED"}


class PayPal(Platform):
    code = "paypal"
    label = "PayPal Checkout"
    # PayPal's API is used to check deliveries only: it lists no orders, takes no stock or status.
    credentials = (
        Credential("store_url", "PayPal API",
                   "https://api-m.paypal.com when empty; the sandbox is https://api-m.sandbox.paypal.com."),
        Credential("api_login", "Client ID", "The Client ID of the REST app your checkout uses.", required=True),
        Credential("api_secret", "Secret", "The Secret of the same REST app.", required=True),
        Credential("webhook_secret", "Webhook ID",
                   "The ID of the app's webhook that sends to this channel: PayPal confirms every delivery "
                   "against it."),
    )
    can_test_connection = True

    def verify(self, headers: Mapping[str, str], body: bytes, credentials: Mapping[str, str]) -> None:
        transmission = {key: header(headers, name) for key, name in TRANSMISSION_HEADERS.items()}
        webhook_id = credentials.get("webhook_secret") or ""
        if not all(transmission.values()) or not webhook_id:
            raise AuthenticationError("missing PAYPAL-TRANSMISSION-* headers or webhook id")
        try:
            event = read_json(body)
        except InvalidPayload as exc:
            raise AuthenticationError("a body that is not JSON cannot be verified") from exc
        # ApiError (PayPal unreachable) is not an authentication failure: the caller answers
        # so that PayPal delivers again.
        if not self.client(credentials).verify_webhook_signature(transmission, webhook_id, event):
            raise AuthenticationError("PayPal did not confirm the transmission signature")

    def parse(self, body: bytes, content_type: str = "application/json") -> Delivery:
        event = read_json(body)
        if not isinstance(event, dict) or not isinstance(event.get("resource"), dict):
            raise InvalidPayload("the body is not a PayPal webhook event")
        kind = as_text(event, "event_type")
        resource = event["resource"]
        if kind in ORDER_EVENTS:
            order = self.read_order(resource)
            return Delivery(external_id=order.external_id, order=order)
        if kind in CAPTURE_PATCHES:
            order_id = _capture_order_id(resource)
            if not order_id:
                raise InvalidPayload("the capture names no order")
            patch = {key: dict(value) if isinstance(value, dict) else value
                     for key, value in CAPTURE_PATCHES[kind].items()}
            if kind == "PAYMENT.CAPTURE.COMPLETED":
                try:
                    amount = _money(as_object(resource, "amount", "resource.amount"))
                except ValueError as exc:
                    raise InvalidPayload(f"resource.amount: not a number: {exc}") from exc
                patch["payment"].update(amount=float(amount), transaction_id=as_text(resource, "id", "resource.id"))
            return Delivery(external_id=order_id, patch=patch)
        if kind == "CHECKOUT.PAYMENT-APPROVAL.REVERSED":
            order_id = as_text(resource, "order_id", "resource.order_id") or as_text(resource, "id", "resource.id")
            if not order_id.strip():
                # Without it there is no order to cancel: refused, not stored under an empty id.
                raise InvalidPayload("the reversal names no order")
            return Delivery(external_id=order_id, patch={"status": "cancelled"})
        raise IgnoredEvent(f"{kind or 'an event'} says nothing about an order's content or payment")

    def read_order(self, resource: Mapping[str, Any]) -> NormalizedOrder:
        units = as_objects(resource, "purchase_units", "resource.purchase_units")
        external_id = as_text(resource, "id", "resource.id")
        if not external_id.strip() or not units:
            raise InvalidPayload("the order has no id or no purchase unit")
        unit = units[0]
        amount = as_object(unit, "amount", "purchase_units[0].amount")
        breakdown = as_object(amount, "breakdown", "purchase_units[0].amount.breakdown")
        items = as_objects(unit, "items", "purchase_units[0].items")
        try:
            lines = [
                OrderLine(
                    sku=as_text(item, "sku", f"purchase_units[0].items[{index}].sku"),
                    name=as_text(item, "name", f"purchase_units[0].items[{index}].name"),
                    quantity=to_decimal(item.get("quantity") or 0),
                    unit_price=_money(as_object(item, "unit_amount", f"purchase_units[0].items[{index}].unit_amount")),
                )
                for index, item in enumerate(items)
            ]
            spread_discount(lines, _money(as_object(breakdown, "discount")))
            shipping = _money(as_object(breakdown, "shipping")) - _money(as_object(breakdown, "shipping_discount"))
            total = _money(amount)
        except ValueError as exc:
            raise InvalidPayload(f"an amount is not a number: {exc}") from exc
        captures = [c for i, u in enumerate(units)
                    for c in as_objects(as_object(u, "payments", f"purchase_units[{i}].payments"), "captures",
                                        f"purchase_units[{i}].payments.captures")]
        completed = [c for c in captures if c.get("status") == "COMPLETED"]
        try:
            paid_amount = sum((_money(as_object(c, "amount", "captures.amount")) for c in completed), Decimal(0))
        except ValueError as exc:
            raise InvalidPayload(f"a capture's amount is not a number: {exc}") from exc
        payer = as_object(resource, "payer", "resource.payer")
        payer_name = as_object(payer, "name", "payer.name")
        name = " ".join(filter(None, [as_text(payer_name, "given_name", "payer.name.given_name"),
                                      as_text(payer_name, "surname", "payer.name.surname")]))
        ship = as_object(unit, "shipping", "purchase_units[0].shipping")
        address = as_object(ship, "address", "purchase_units[0].shipping.address")

        def where(key):
            return as_text(address, key, f"purchase_units[0].shipping.address.{key}")

        return NormalizedOrder(
            external_id=external_id,
            number=as_text(unit, "invoice_id", "purchase_units[0].invoice_id") or external_id,
            created_at=as_text(resource, "create_time", "resource.create_time"),
            updated_at=as_text(resource, "update_time", "resource.update_time"),
            currency=as_text(amount, "currency_code", "purchase_units[0].amount.currency_code"),
            taxes_included=False,
            customer=Customer(
                external_id=as_text(payer, "payer_id", "payer.payer_id"),
                email=as_text(payer, "email_address", "payer.email_address").lower(),
                name=name,
            ),
            billing_address=Address(name=name, country_code=as_text(
                as_object(payer, "address", "payer.address"), "country_code", "payer.address.country_code").upper()),
            shipping_address=Address(
                name=as_text(as_object(ship, "name", "purchase_units[0].shipping.name"), "full_name",
                             "purchase_units[0].shipping.name.full_name") or name,
                street=where("address_line_1"),
                street2=where("address_line_2"),
                city=where("admin_area_2"),
                state=where("admin_area_1"),
                zip=where("postal_code"),
                country_code=where("country_code").upper(),
            ),
            lines=lines,
            shipping_lines=[ShippingLine(price=shipping, name="Shipping")] if shipping else [],
            payment=Payment(
                method_code="paypal",
                method_name="PayPal",
                # Approved is not paid: only a completed capture is.
                status="paid" if completed else "pending",
                amount=paid_amount,
                transaction_id=as_text(completed[0], "id", "captures.id") if completed else "",
            ),
            total=total,
            status="open",
        )

    def client(self, credentials: Mapping[str, str], **kwargs) -> PayPalClient:
        return PayPalClient(credentials.get("api_login") or "", credentials.get("api_secret") or "",
                            credentials.get("store_url") or API_BASE, **client_options(credentials, kwargs))


class PayPalClient:
    def __init__(self, client_id: str, secret: str, base_url: str = API_BASE, **http_options):
        self.http = HttpClient(base_url, headers={"Accept": "application/json"}, **http_options)
        self._credentials = (client_id, secret)

    def _token(self) -> str:
        answer = self.http.request("POST", "v1/oauth2/token", auth=self._credentials,
                                   data={"grant_type": "client_credentials"}).json()
        return answer["access_token"]

    def test_connection(self) -> str:
        self._token()
        return "PayPal"

    def verify_webhook_signature(self, transmission: Mapping[str, str], webhook_id: str, event: Any) -> bool:
        answer = self.http.request(
            "POST", "v1/notifications/verify-webhook-signature",
            headers={"Authorization": f"Bearer {self._token()}"},
            json={**transmission, "webhook_id": webhook_id, "webhook_event": event},
        ).json()
        return answer.get("verification_status") == "SUCCESS"


def _money(value: Mapping[str, Any]) -> Decimal:
    return to_decimal(value.get("value") or 0)


def _capture_order_id(capture: Mapping[str, Any]) -> str:
    related = as_object(as_object(capture, "supplementary_data", "resource.supplementary_data"), "related_ids",
                        "resource.supplementary_data.related_ids")
    order_id = as_text(related, "order_id", "resource.supplementary_data.related_ids.order_id")
    if order_id.strip():
        return order_id
    for index, link in enumerate(as_objects(capture, "links", "resource.links")):
        href = as_text(link, "href", f"resource.links[{index}].href")
        if link.get("rel") == "up" and "/checkout/orders/" in href:
            return href.rstrip("/").rsplit("/", 1)[-1]
    return ""
