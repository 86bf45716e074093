"""Connect: our own order API, for any shop that can send an HTTP request.

The schema is documented in ``api/connect-v1.yaml``. A shop authenticates with the channel's
API key as a bearer token and posts one order per request.
"""
from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from .base import (
    PAYMENT_STATUSES,
    Address,
    AuthenticationError,
    Credential,
    Customer,
    Delivery,
    FieldError,
    InvalidPayload,
    NormalizedOrder,
    OrderLine,
    Payment,
    Platform,
    ShippingLine,
    read_json,
    to_decimal,
)

_CURRENCY = re.compile(r"^[A-Z]{3}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_ADDRESS_FIELDS = ("name", "company", "street", "street2", "city", "zip", "state", "country", "phone", "email")


def bearer_token(headers: Mapping[str, str]) -> str:
    """The token of an ``Authorization: Bearer …`` header, or ''."""
    value = headers.get("Authorization") or headers.get("authorization") or ""
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer":
        return ""
    return token.strip()


def key_digest(api_key: str) -> str:
    """What the channel is looked up by: the key itself is never compared in SQL."""
    return hashlib.sha256(api_key.encode()).hexdigest()


class _Reader:
    """Collects every fault of a body, so that the shop sees them all at once."""

    def __init__(self):
        self.errors: list[FieldError] = []

    def fail(self, path: str, message: str):
        self.errors.append(FieldError(path, message))

    def text(self, data: Mapping, key: str, path: str, required=False, max_length=512) -> str:
        value = data.get(key)
        if value is None or value == "":
            if required:
                self.fail(path, "is required")
            return ""
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            self.fail(path, "must be a string")
            return ""
        value = str(value).strip()
        if len(value) > max_length:
            self.fail(path, f"must be at most {max_length} characters")
        return value

    def number(self, data: Mapping, key: str, path: str, required=False, minimum=None,
               default=Decimal(0)) -> Decimal:
        value = data.get(key)
        if value is None:
            if required:
                self.fail(path, "is required")
            return default
        try:
            number = to_decimal(value)
        except ValueError:
            self.fail(path, "must be a number")
            return default
        if minimum is not None and number < minimum:
            self.fail(path, f"must be at least {minimum}")
        return number

    def obj(self, data: Mapping, key: str, path: str, required=False) -> Mapping:
        value = data.get(key)
        if value is None:
            if required:
                self.fail(path, "is required")
            return {}
        if not isinstance(value, Mapping):
            self.fail(path, "must be an object")
            return {}
        return value

    def address(self, data: Mapping, key: str) -> Address:
        raw = self.obj(data, key, key)
        values = {name: self.text(raw, name, f"{key}.{name}") for name in _ADDRESS_FIELDS}
        country = values.pop("country").upper()
        if country and not _COUNTRY.match(country):
            self.fail(f"{key}.country", "must be an ISO 3166-1 alpha-2 code such as LV")
        return Address(country_code=country, **values)


class Connect(Platform):
    code = "connect"
    label = "Connect"
    # The shop calls us: there is no store API for Odoo to call, so no capability.
    credentials = (
        Credential("api_key", "API Key",
                   "The shop sends it as 'Authorization: Bearer <key>' with every order it posts to the "
                   "channel's address."),
    )

    def verify(self, headers: Mapping[str, str], body: bytes, credentials: Mapping[str, str]) -> None:
        secret = credentials.get("api_key") or ""
        token = bearer_token(headers)
        if not token or not secret or not hmac.compare_digest(token.encode(), secret.encode()):
            raise AuthenticationError("missing or wrong API key")

    def parse(self, body: bytes, content_type: str = "application/json") -> Delivery:
        data = read_json(body)
        if not isinstance(data, dict):
            raise InvalidPayload("the body must be a JSON object")
        order = self.read_order(data)
        return Delivery(external_id=order.external_id, order=order)

    def read_order(self, data: Mapping[str, Any]) -> NormalizedOrder:
        r = _Reader()
        external_id = r.text(data, "id", "id", required=True, max_length=128)
        currency = r.text(data, "currency", "currency", required=True).upper()
        if currency and not _CURRENCY.match(currency):
            r.fail("currency", "must be an ISO 4217 code such as EUR")
        taxes_included = data.get("taxes_included", False)
        if not isinstance(taxes_included, bool):
            r.fail("taxes_included", "must be true or false")
            taxes_included = False

        raw_customer = r.obj(data, "customer", "customer", required=True)
        customer = Customer(
            external_id=r.text(raw_customer, "id", "customer.id", max_length=128),
            email=r.text(raw_customer, "email", "customer.email").lower(),
            name=r.text(raw_customer, "name", "customer.name"),
            phone=r.text(raw_customer, "phone", "customer.phone"),
            company=r.text(raw_customer, "company", "customer.company"),
            vat=r.text(raw_customer, "vat", "customer.vat"),
        )
        if raw_customer and not (customer.name or customer.company):
            r.fail("customer.name", "is required (or customer.company)")
        if customer.email and not _EMAIL.match(customer.email):
            r.fail("customer.email", "is not an e-mail address")

        lines = self._lines(r, data)
        shipping = self._shipping(r, data)

        raw_payment = r.obj(data, "payment", "payment")
        status = r.text(raw_payment, "status", "payment.status") or "pending"
        if status not in PAYMENT_STATUSES:
            r.fail("payment.status", f"must be one of {', '.join(PAYMENT_STATUSES)}")
        payment = Payment(
            method_code=r.text(raw_payment, "method", "payment.method", max_length=128),
            method_name=r.text(raw_payment, "method_name", "payment.method_name"),
            status=status,
            amount=r.number(raw_payment, "amount", "payment.amount", minimum=0),
            transaction_id=r.text(raw_payment, "transaction_id", "payment.transaction_id"),
        )
        total = r.number(data, "total", "total", required=True, minimum=0)
        if status == "paid" and "amount" not in raw_payment:
            payment.amount = total

        billing_address = r.address(data, "billing_address")
        shipping_address = r.address(data, "shipping_address")
        number = r.text(data, "number", "number") or external_id
        created_at = r.text(data, "created_at", "created_at")
        note = r.text(data, "note", "note", max_length=10000)
        order_status = r.text(data, "status", "status")
        updated_at = r.text(data, "updated_at", "updated_at")
        if r.errors:
            raise InvalidPayload(r.errors)
        return NormalizedOrder(
            external_id=external_id,
            number=number,
            created_at=created_at,
            currency=currency,
            taxes_included=taxes_included,
            customer=customer,
            billing_address=billing_address,
            shipping_address=shipping_address,
            lines=lines,
            shipping_lines=shipping,
            payment=payment,
            total=total,
            note=note,
            status=order_status,
            updated_at=updated_at,
        )

    def _lines(self, r: _Reader, data: Mapping) -> list[OrderLine]:
        raw_lines = data.get("lines")
        if not isinstance(raw_lines, list) or not raw_lines:
            r.fail("lines", "must be a non-empty list")
            return []
        lines = []
        for index, raw in enumerate(raw_lines):
            path = f"lines[{index}]"
            if not isinstance(raw, Mapping):
                r.fail(path, "must be an object")
                continue
            quantity = r.number(raw, "quantity", f"{path}.quantity", required=True)
            if quantity <= 0 and "quantity" in raw:
                r.fail(f"{path}.quantity", "must be greater than 0")
            unit_price = r.number(raw, "unit_price", f"{path}.unit_price", required=True, minimum=0)
            discount = r.number(raw, "discount", f"{path}.discount", minimum=0)
            if quantity > 0 and discount > unit_price * quantity:
                r.fail(f"{path}.discount", "is larger than the line's amount")
            tax_rate = r.number(raw, "tax_rate", f"{path}.tax_rate", minimum=0, default=None)
            lines.append(OrderLine(
                sku=r.text(raw, "sku", f"{path}.sku", required=True, max_length=128),
                name=r.text(raw, "name", f"{path}.name"),
                quantity=quantity,
                unit_price=unit_price,
                discount=discount,
                tax_rate=tax_rate,
            ))
        return lines

    def _shipping(self, r: _Reader, data: Mapping) -> list[ShippingLine]:
        raw = data.get("shipping")
        if raw is None:
            return []
        if not isinstance(raw, Mapping):
            r.fail("shipping", "must be an object")
            return []
        price = r.number(raw, "price", "shipping.price", required=True, minimum=0)
        return [ShippingLine(
            price=price,
            name=r.text(raw, "name", "shipping.name"),
            tax_rate=r.number(raw, "tax_rate", "shipping.tax_rate", minimum=0, default=None),
        )]
