"""PayPal Checkout (Orders v2): webhook events, verified through PayPal's own API.

Facts used (``shared/platforms.md`` §6): deliveries carry ``PAYPAL-TRANSMISSION-*`` headers
and are verified with ``POST /v1/notifications/verify-webhook-signature`` (the channel's
webhook id, the event as received) under an OAuth2 client-credentials token; the envelope is
``{id, event_type, resource_type, resource}``; ``CHECKOUT.ORDER.APPROVED`` carries the order,
which is not paid until a capture completes; capture events carry the capture, whose order is
in ``supplementary_data.related_ids.order_id`` (or the ``up`` link).
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Mapping

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
    header,
    read_json,
    spread_discount,
    to_decimal,
)
from .http import HttpClient

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
        kind = event.get("event_type") or ""
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
                patch["payment"].update(amount=float(to_decimal((resource.get("amount") or {}).get("value") or 0)),
                                        transaction_id=resource.get("id") or "")
            return Delivery(external_id=order_id, patch=patch)
        if kind == "CHECKOUT.PAYMENT-APPROVAL.REVERSED":
            return Delivery(external_id=str(resource.get("order_id") or resource.get("id") or ""),
                            patch={"status": "cancelled"})
        raise IgnoredEvent(f"{kind or 'an event'} says nothing about an order's content or payment")

    def read_order(self, resource: Mapping[str, Any]) -> NormalizedOrder:
        units = resource.get("purchase_units") or []
        if not resource.get("id") or not units:
            raise InvalidPayload("the order has no id or no purchase unit")
        unit = units[0]
        amount = unit.get("amount") or {}
        breakdown = amount.get("breakdown") or {}
        try:
            lines = [
                OrderLine(
                    sku=item.get("sku") or "",
                    name=item.get("name") or "",
                    quantity=to_decimal(item.get("quantity") or 0),
                    unit_price=_money(item.get("unit_amount")),
                )
                for item in unit.get("items") or []
            ]
            spread_discount(lines, _money(breakdown.get("discount")))
            shipping = _money(breakdown.get("shipping")) - _money(breakdown.get("shipping_discount"))
            total = _money(amount)
        except ValueError as exc:
            raise InvalidPayload(f"an amount is not a number: {exc}") from exc
        captures = [c for u in units for c in ((u.get("payments") or {}).get("captures") or [])]
        completed = [c for c in captures if c.get("status") == "COMPLETED"]
        payer = resource.get("payer") or {}
        name = " ".join(filter(None, [(payer.get("name") or {}).get("given_name"),
                                      (payer.get("name") or {}).get("surname")]))
        ship = unit.get("shipping") or {}
        address = ship.get("address") or {}
        return NormalizedOrder(
            external_id=str(resource["id"]),
            number=str(unit.get("invoice_id") or resource["id"]),
            created_at=resource.get("create_time") or "",
            updated_at=resource.get("update_time") or "",
            currency=amount.get("currency_code") or "",
            taxes_included=False,
            customer=Customer(
                external_id=payer.get("payer_id") or "",
                email=(payer.get("email_address") or "").lower(),
                name=name,
            ),
            billing_address=Address(name=name, country_code=((payer.get("address") or {}).get("country_code") or "").upper()),
            shipping_address=Address(
                name=(ship.get("name") or {}).get("full_name") or name,
                street=address.get("address_line_1") or "",
                street2=address.get("address_line_2") or "",
                city=address.get("admin_area_2") or "",
                state=address.get("admin_area_1") or "",
                zip=address.get("postal_code") or "",
                country_code=(address.get("country_code") or "").upper(),
            ),
            lines=lines,
            shipping_lines=[ShippingLine(price=shipping, name="Shipping")] if shipping else [],
            payment=Payment(
                method_code="paypal",
                method_name="PayPal",
                # Approved is not paid: only a completed capture is.
                status="paid" if completed else "pending",
                amount=sum((_money(c.get("amount")) for c in completed), Decimal(0)),
                transaction_id=completed[0].get("id", "") if completed else "",
            ),
            total=total,
            status="open",
        )

    def client(self, credentials: Mapping[str, str], **kwargs) -> "PayPalClient":
        return PayPalClient(credentials.get("api_login") or "", credentials.get("api_secret") or "",
                            credentials.get("store_url") or API_BASE, **kwargs)


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


def _money(value: Mapping[str, Any] | None) -> Decimal:
    return to_decimal((value or {}).get("value") or 0)


def _capture_order_id(capture: Mapping[str, Any]) -> str:
    related = ((capture.get("supplementary_data") or {}).get("related_ids") or {}).get("order_id")
    if related:
        return str(related)
    for link in capture.get("links") or []:
        if link.get("rel") == "up" and "/checkout/orders/" in (link.get("href") or ""):
            return link["href"].rstrip("/").rsplit("/", 1)[-1]
    return ""
