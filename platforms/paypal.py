"""PayPal Checkout (Orders v2): webhook events, verified through PayPal's own API.

Facts used, from the platform's documentation: deliveries carry ``PAYPAL-TRANSMISSION-*`` headers
and are verified with ``POST /v1/notifications/verify-webhook-signature`` (the channel's
webhook id, the event as received) under an OAuth2 client-credentials token; the envelope is
``{id, event_type, resource_type, resource}``; ``CHECKOUT.ORDER.APPROVED`` carries the order,
which is not paid until a capture completes; capture events carry the capture, whose order is
in ``supplementary_data.related_ids.order_id`` (or the ``up`` link).

A delivery costs PayPal calls made with the merchant's credentials, so what anyone can post
must cost as little as possible: an event type we never act on is acknowledged without
calling PayPal (``ignored_event``), a delivery that cannot be PayPal's (no transmission
headers, a certificate outside PayPal, not a JSON event) is refused without calling it, the
OAuth token is kept for its lifetime (``TOKENS``), and the check is one attempt within
``VERIFY_BUDGET`` seconds, since the sender waits for it: when PayPal is slow or limits our
rate, the delivery is answered "retry later" and PayPal delivers it again.
"""
from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

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
from .http import ApiAuthError, ApiBadAnswer, ApiUnavailable, HttpClient, RetryPolicy, client_options

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
REVERSAL_EVENT = "CHECKOUT.PAYMENT-APPROVAL.REVERSED"
#: The event types ``parse`` reads; any other is acknowledged unverified and unread.
HANDLED_EVENTS = frozenset(ORDER_EVENTS | set(CAPTURE_PATCHES) | {REVERSAL_EVENT})
#: Seconds a delivery's check may take, token included: the sender is waiting.
VERIFY_BUDGET = 6.0
#: Seconds to connect to PayPal, within the budget.
VERIFY_CONNECT_TIMEOUT = 2.0


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

    def ignored_event(self, headers: Mapping[str, str], body: bytes) -> str:
        kind = _event_type(body)
        if kind and kind not in HANDLED_EVENTS:
            return "This event type says nothing about an order's content or payment."
        return ""

    def verify(self, headers: Mapping[str, str], body: bytes, credentials: Mapping[str, str]) -> None:
        transmission = {key: header(headers, name) for key, name in TRANSMISSION_HEADERS.items()}
        webhook_id = credentials.get("webhook_secret") or ""
        if not all(transmission.values()) or not webhook_id:
            raise AuthenticationError("missing PAYPAL-TRANSMISSION-* headers or webhook id")
        if not _paypal_certificate(transmission["cert_url"]):
            raise AuthenticationError("the certificate URL is not PayPal's")
        if _event_type(body) not in HANDLED_EVENTS:
            # Not a PayPal event (not a JSON object with an event type we read): PayPal
            # would not confirm it, asking it would only cost a call.
            raise AuthenticationError("the body is not a PayPal event this channel reads")
        # ApiError (PayPal unreachable, slow, limiting our rate) is not an authentication
        # failure: the caller answers so that PayPal delivers again.
        client = self.client(credentials, retry=RetryPolicy(attempts=1),
                             timeout=(VERIFY_CONNECT_TIMEOUT, VERIFY_BUDGET))
        deadline = time.monotonic() + VERIFY_BUDGET
        if not client.verify_webhook_signature(transmission, webhook_id, body, deadline=deadline):
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
        if kind == REVERSAL_EVENT:
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


class TokenCache:
    """OAuth tokens by credentials, each kept for its lifetime, shared by the threads of this
    process: a delivery then costs one PayPal call, not two, and many at once fetch one
    token between them."""

    #: Seconds before the announced expiry a token is no longer used (at most a tenth of its
    #: lifetime): it must still be valid when PayPal reads it.
    MARGIN = 300.0

    def __init__(self):
        self._lock = threading.Lock()
        self._tokens: dict[tuple, tuple[str, float]] = {}
        self._fetching: dict[tuple, threading.Lock] = {}

    def get(self, key: tuple, fetch: Callable[[], tuple[str, Any]], wait: float | None = None) -> str:
        """The token of ``key``; ``fetch() -> (token, expires_in)`` gets one when none is
        valid, one thread at a time per key. ``wait``: longest wait for another thread's
        fetch (ApiUnavailable after it)."""
        token = self._valid(key)
        if token:
            return token
        with self._lock:
            fetching = self._fetching.setdefault(key, threading.Lock())
        if not fetching.acquire(timeout=-1 if wait is None else max(wait, 0)):
            raise ApiUnavailable("PayPal: no access token in time")
        try:
            # Another thread may have fetched it while this one waited.
            token = self._valid(key)
            if not token:
                token, expires_in = fetch()
                self.put(key, token, expires_in)
            return token
        finally:
            fetching.release()

    def put(self, key: tuple, token: str, expires_in: Any) -> None:
        try:
            lifetime = float(expires_in)
        except (TypeError, ValueError):
            return  # no lifetime said: used once, not kept
        lifetime -= min(self.MARGIN, lifetime / 10)
        if lifetime > 0:
            with self._lock:
                self._tokens[key] = (token, time.monotonic() + lifetime)

    def drop(self, key: tuple, token: str) -> None:
        """Forget ``token`` (PayPal refused it before its time: revoked, app deleted)."""
        with self._lock:
            if self._tokens.get(key, ("", 0))[0] == token:
                del self._tokens[key]

    def clear(self) -> None:
        with self._lock:
            self._tokens.clear()

    def _valid(self, key: tuple) -> str:
        with self._lock:
            token, until = self._tokens.get(key, ("", 0.0))
        return token if until > time.monotonic() else ""


#: This process's PayPal tokens.
TOKENS = TokenCache()


class PayPalClient:
    def __init__(self, client_id: str, secret: str, base_url: str = API_BASE, **http_options):
        self.http = HttpClient(base_url, headers={"Accept": "application/json"}, **http_options)
        self._credentials = (client_id, secret)
        # Tokens are kept per API, app and secret; the secret only as its digest.
        self._token_key = (self.http.base_url, client_id, hashlib.sha256(secret.encode()).hexdigest())

    def _fetch_token(self) -> tuple[str, Any]:
        answer = self.http.request("POST", "v1/oauth2/token", auth=self._credentials,
                                   data={"grant_type": "client_credentials"}).json()
        token = answer.get("access_token") if isinstance(answer, dict) else None
        if not token or not isinstance(token, str):
            raise ApiBadAnswer("PayPal: the token answer holds no access_token", url=self.http.url("v1/oauth2/token"))
        return token, answer.get("expires_in")

    def _token(self, deadline: float | None = None) -> str:
        return TOKENS.get(self._token_key, lambda: self._fetch_token_by(deadline),
                          wait=None if deadline is None else deadline - time.monotonic())

    def _fetch_token_by(self, deadline: float | None) -> tuple[str, Any]:
        self._time_left(deadline)
        return self._fetch_token()

    def _time_left(self, deadline: float | None) -> None:
        """Fit the next call's timeouts into what is left before ``deadline``."""
        if deadline is None:
            return
        left = deadline - time.monotonic()
        if left <= 0:
            raise ApiUnavailable("PayPal: no answer in time")
        connect = self.http.timeout[0] if isinstance(self.http.timeout, tuple) else self.http.timeout
        self.http.timeout = (min(connect, left), left)

    def test_connection(self) -> str:
        # The credentials as they are now: a new token, never a kept one.
        token, expires_in = self._fetch_token()
        TOKENS.put(self._token_key, token, expires_in)
        return "PayPal"

    def verify_webhook_signature(self, transmission: Mapping[str, str], webhook_id: str, event: bytes | Any,
                                 deadline: float | None = None) -> bool:
        """Ask PayPal whether it sent ``event``: the body's bytes as they came (sent as they
        are, so that nothing is changed by reading and writing them again), or the event."""
        token = self._token(deadline)
        fields = json.dumps({**transmission, "webhook_id": webhook_id})
        if isinstance(event, bytes):
            request = {"data": (fields[:-1] + ', "webhook_event": ' + event.decode("utf-8") + "}").encode(),
                       "headers": {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}}
        else:
            request = {"json": {**transmission, "webhook_id": webhook_id, "webhook_event": event},
                       "headers": {"Authorization": f"Bearer {token}"}}
        self._time_left(deadline)
        try:
            answer = self.http.request("POST", "v1/notifications/verify-webhook-signature", **request).json()
        except ApiAuthError:
            TOKENS.drop(self._token_key, token)
            raise
        return isinstance(answer, dict) and answer.get("verification_status") == "SUCCESS"


def _event_type(body: bytes) -> str:
    """The event type of a PayPal event's body, '' when it is not a JSON object naming one.
    Nothing else of the body is used before PayPal confirms it."""
    try:
        # UTF-8 as PayPal sends it (a BOM is refused too): the check sends these very bytes.
        event = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError):
        return ""
    kind = event.get("event_type") if isinstance(event, dict) else None
    return kind if isinstance(kind, str) else ""


def _paypal_certificate(url: str) -> bool:
    """Whether a delivery's certificate URL is on PayPal's servers, as PayPal's always are."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    host = (parts.hostname or "").lower()
    return parts.scheme == "https" and (host == "paypal.com" or host.endswith(".paypal.com"))


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
