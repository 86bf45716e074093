"""The normalized order and the interface every platform module implements.

Nothing here imports Odoo: platform code is tested on its own, and the Odoo side only ever
sees a :class:`NormalizedOrder` (or its JSON form, kept on the inbox record).
"""
from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import math
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, ClassVar


class PlatformError(Exception):
    """Base of every error a platform module raises."""


class AuthenticationError(PlatformError):
    """The delivery's credentials or signature are missing or wrong (answer 401)."""


class IgnoredEvent(PlatformError):
    """An authentic delivery that says nothing the inbox keeps (answer 200, store nothing)."""


@dataclass(frozen=True)
class FieldError:
    path: str
    message: str

    def to_dict(self) -> dict:
        return {"field": self.path, "message": self.message}


class InvalidPayload(PlatformError):
    """The body cannot be read as an order; ``errors`` names each field at fault."""

    def __init__(self, errors: list[FieldError] | str):
        if isinstance(errors, str):
            errors = [FieldError("", errors)]
        self.errors = errors
        super().__init__("; ".join(f"{e.path or 'body'}: {e.message}" for e in errors))


PAYMENT_STATUSES = ("pending", "authorized", "paid", "partially_paid", "refunded", "voided", "failed")

#: Amounts and quantities from this power of ten up are refused: no order holds them, and
#: arithmetic on them overflows Python's decimals and PostgreSQL's columns.
MAX_DIGITS = 15
#: Longest order id a store may send: it is part of a unique index.
MAX_EXTERNAL_ID = 255


def to_decimal(value: Any) -> Decimal:
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool) or value is None or not isinstance(value, (str, int, float)):
        raise ValueError("not a number")
    else:
        try:
            result = Decimal(str(value))
        except InvalidOperation as exc:
            raise ValueError("not a number") from exc
    if not result.is_finite():
        raise ValueError("not a finite number")
    if result and result.adjusted() >= MAX_DIGITS:
        raise ValueError("out of range")
    return result


def unstorable(text: str) -> str:
    """Why PostgreSQL cannot store ``text`` ('' when it can): it refuses the NUL character,
    and a lone surrogate (JSON's ``"\\ud800"``) cannot be encoded in UTF-8."""
    if "\x00" in text:
        return "contains a NUL character (U+0000), which cannot be stored"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "contains an unpaired surrogate (an invalid character), which cannot be stored"
    return ""


def storable_text(text: str) -> str:
    """``text`` with what PostgreSQL cannot store written out as escapes (``\\x00``,
    ``\\ud800``), for messages that quote a payload."""
    if not unstorable(text):
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


def as_object(data: Mapping, key: str, path: str = "") -> Mapping:
    """``data[key]`` as a JSON object ({} when absent or empty); InvalidPayload naming the
    field when the store sent something else."""
    value = data.get(key)
    if not value:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidPayload([FieldError(path or key, "must be an object")])
    return value


def as_objects(data: Mapping, key: str, path: str = "") -> list[Mapping]:
    """``data[key]`` as a list of JSON objects ([] when absent or empty)."""
    value = data.get(key)
    if not value:
        return []
    path = path or key
    if not isinstance(value, list):
        raise InvalidPayload([FieldError(path, "must be a list")])
    for index, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise InvalidPayload([FieldError(f"{path}[{index}]", "must be an object")])
    return value


def as_text(data: Mapping, key: str, path: str = "") -> str:
    """``data[key]`` as text ('' when absent, null or false, which PHP stores send for
    empty); a number is written out, anything else is refused."""
    value = data.get(key)
    if value is None or value is False:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return str(value)
    raise InvalidPayload([FieldError(path or key, "must be a string")])


@dataclass
class Address:
    name: str = ""
    company: str = ""
    street: str = ""
    street2: str = ""
    city: str = ""
    zip: str = ""
    state: str = ""
    country_code: str = ""
    phone: str = ""
    email: str = ""

    def is_empty(self) -> bool:
        return not any((self.name, self.company, self.street, self.city, self.zip))


@dataclass
class Customer:
    external_id: str = ""
    email: str = ""
    name: str = ""
    phone: str = ""
    company: str = ""
    vat: str = ""


@dataclass
class OrderLine:
    sku: str
    quantity: Decimal
    unit_price: Decimal
    name: str = ""
    #: Discount on the whole line, as an amount in the order currency.
    discount: Decimal = Decimal(0)
    #: The store's tax rate in percent, when it tells one (informative).
    tax_rate: Decimal | None = None


@dataclass
class ShippingLine:
    price: Decimal
    name: str = ""
    tax_rate: Decimal | None = None


@dataclass
class Payment:
    method_code: str = ""
    method_name: str = ""
    status: str = "pending"
    amount: Decimal = Decimal(0)
    transaction_id: str = ""

    @property
    def paid(self) -> bool:
        return self.status == "paid"


def _plain(value):
    # dataclasses.asdict deep-copies every value: a third of intake's Python time.
    if isinstance(value, Decimal):
        return float(value)
    if dataclasses.is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


@dataclass
class NormalizedOrder:
    """An order as every platform hands it to the inbox."""

    external_id: str
    currency: str
    total: Decimal
    lines: list[OrderLine]
    number: str = ""
    created_at: str = ""
    taxes_included: bool = False
    customer: Customer = field(default_factory=Customer)
    billing_address: Address = field(default_factory=Address)
    shipping_address: Address = field(default_factory=Address)
    shipping_lines: list[ShippingLine] = field(default_factory=list)
    #: Other charges of the store (a payment surcharge, gift wrapping…).
    fee_lines: list[ShippingLine] = field(default_factory=list)
    payment: Payment = field(default_factory=Payment)
    note: str = ""
    status: str = ""
    #: When the store last changed the order (ISO 8601), so that a late, older delivery
    #: never overwrites a newer one.
    updated_at: str = ""
    # Marketplaces (Ozon): who keeps and ships the goods, from which of the store's
    # warehouses, and why the store cancelled. Left out of the JSON form while empty, so
    # that web shops' orders (and their fingerprints) are as they were.
    #: "" (the merchant ships, as from every web shop) or "marketplace" (the marketplace
    #: ships from its own warehouse: Ozon FBO).
    fulfilled_by: str = ""
    #: The store's id of the warehouse the order ships from (the channel maps it to an Odoo
    #: warehouse).
    warehouse_ref: str = ""
    #: The store's words for why it cancelled the order.
    cancel_reason: str = ""
    #: The store cancelled after the goods had left the merchant's warehouse.
    cancelled_after_ship: bool = False
    #: The store order this one was split from (a marketplace posting split into packages):
    #: its goods are already on that order's sales order.
    split_from: str = ""

    SCHEMA_VERSION: ClassVar[int] = 1
    #: Fields left out of the JSON form while they hold their default (see above).
    OPTIONAL_FIELDS: ClassVar[tuple[str, ...]] = (
        "fulfilled_by", "warehouse_ref", "cancel_reason", "cancelled_after_ship", "split_from")

    @property
    def paid(self) -> bool:
        return self.payment.paid

    def to_dict(self) -> dict:
        """Plain JSON data: numbers stay JSON numbers, so that a manager can correct them by
        hand (money amounts are far inside a float's exact range)."""
        data = _plain(self)
        for name in self.OPTIONAL_FIELDS:
            if not data[name]:
                del data[name]
        return data

    def to_json(self) -> str:
        return self.serialize()[0]

    def fingerprint(self) -> str:
        """A digest of the order's content: two deliveries with equal content are one."""
        return self.serialize()[1]

    def check(self) -> None:
        """Raise InvalidPayload unless every value has its declared type and can be stored
        (a parser hands over what the store sent: a list where a name belongs, a NUL
        character, an amount out of range must stop here, not in the database)."""
        errors: list[FieldError] = []
        _check_dataclass(self, "", errors)
        if errors:
            raise InvalidPayload(errors)

    def serialize(self) -> tuple[str, str]:
        """The JSON kept on the inbox record and the content's fingerprint, in one pass."""
        data = self.to_dict()
        body = json.dumps(data, sort_keys=True, separators=(",", ":"))
        readable = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False)
        return readable, hashlib.sha256(body.encode()).hexdigest()

    def _missing(self) -> list[FieldError]:
        """What every order must have, as field errors."""
        errors = []
        if not self.external_id:
            errors.append(FieldError("external_id", "is required"))
        if not self.currency:
            errors.append(FieldError("currency", "is required"))
        if not self.lines:
            errors.append(FieldError("lines", "at least one line is required"))
        if self.payment.status not in PAYMENT_STATUSES:
            errors.append(FieldError("payment.status", f"must be one of {', '.join(PAYMENT_STATUSES)}"))
        return errors

    @classmethod
    def from_dict(cls, data: Mapping) -> NormalizedOrder:
        """Read the stored (possibly hand-corrected) JSON form back; raise InvalidPayload."""
        errors: list[FieldError] = []

        def dec(path, value, default=None):
            if value is None and default is not None:
                return default
            try:
                return to_decimal(value)
            except ValueError:
                errors.append(FieldError(path, "must be a number"))
                return Decimal(0)

        def sub(klass, data, path):
            if data is None:
                return klass()
            if not isinstance(data, Mapping):
                errors.append(FieldError(path, "must be an object"))
                return klass()
            names = {f.name for f in dataclasses.fields(klass)}
            values = {k: ("" if v is None else str(v)) for k, v in data.items() if k in names}
            return klass(**values)

        if not isinstance(data, Mapping):
            raise InvalidPayload("the normalized order must be a JSON object")
        lines = []
        for index, line in enumerate(data.get("lines") or []):
            path = f"lines[{index}]"
            if not isinstance(line, Mapping):
                errors.append(FieldError(path, "must be an object"))
                continue
            tax = line.get("tax_rate")
            lines.append(OrderLine(
                sku=str(line.get("sku") or ""),
                name=str(line.get("name") or ""),
                quantity=dec(f"{path}.quantity", line.get("quantity")),
                unit_price=dec(f"{path}.unit_price", line.get("unit_price")),
                discount=dec(f"{path}.discount", line.get("discount"), Decimal(0)),
                tax_rate=None if tax is None else dec(f"{path}.tax_rate", tax),
            ))

        def charges(key):
            result = []
            for index, line in enumerate(data.get(key) or []):
                path = f"{key}[{index}]"
                if not isinstance(line, Mapping):
                    errors.append(FieldError(path, "must be an object"))
                    continue
                tax = line.get("tax_rate")
                result.append(ShippingLine(
                    price=dec(f"{path}.price", line.get("price")),
                    name=str(line.get("name") or ""),
                    tax_rate=None if tax is None else dec(f"{path}.tax_rate", tax),
                ))
            return result

        shipping = charges("shipping_lines")
        fees = charges("fee_lines")
        payment_data = data.get("payment") or {}
        payment = Payment(
            method_code=str(payment_data.get("method_code") or ""),
            method_name=str(payment_data.get("method_name") or ""),
            status=str(payment_data.get("status") or "pending"),
            amount=dec("payment.amount", payment_data.get("amount"), Decimal(0)),
            transaction_id=str(payment_data.get("transaction_id") or ""),
        )
        order = cls(
            external_id=str(data.get("external_id") or ""),
            currency=str(data.get("currency") or ""),
            total=dec("total", data.get("total")),
            lines=lines,
            number=str(data.get("number") or ""),
            created_at=str(data.get("created_at") or ""),
            taxes_included=bool(data.get("taxes_included")),
            customer=sub(Customer, data.get("customer"), "customer"),
            billing_address=sub(Address, data.get("billing_address"), "billing_address"),
            shipping_address=sub(Address, data.get("shipping_address"), "shipping_address"),
            shipping_lines=shipping,
            fee_lines=fees,
            payment=payment,
            note=str(data.get("note") or ""),
            status=str(data.get("status") or ""),
            updated_at=str(data.get("updated_at") or ""),
            fulfilled_by=str(data.get("fulfilled_by") or ""),
            warehouse_ref=str(data.get("warehouse_ref") or ""),
            cancel_reason=str(data.get("cancel_reason") or ""),
            cancelled_after_ship=bool(data.get("cancelled_after_ship")),
            split_from=str(data.get("split_from") or ""),
        )
        errors += order._missing()
        if errors:
            raise InvalidPayload(errors)
        return order


def hmac_signature(body: bytes, secret: str) -> str:
    """base64(HMAC-SHA256(secret, body)): how Shopify, WooCommerce and Mozello sign."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def check_hmac(headers: Mapping[str, str], name: str, body: bytes, secret: str) -> None:
    """Raise AuthenticationError unless header ``name`` signs ``body`` with ``secret``;
    compared in constant time, on the raw bytes."""
    given = header(headers, name)
    if not given or not secret or not hmac.compare_digest(given.encode(), hmac_signature(body, secret).encode()):
        raise AuthenticationError(f"missing or wrong {name}")


def read_json(body: bytes) -> Any:
    """A JSON body, or InvalidPayload saying why it is not one."""
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidPayload(f"the body is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        # Python's decoder recurses once per level: some thousand nested arrays exhaust it.
        raise InvalidPayload("the body is not valid JSON: it is nested too deeply") from exc


def header(headers: Mapping[str, str], name: str) -> str:
    """A request header by name, whatever its case ('' when absent)."""
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), "")
    return value or ""


def utc_naive(value: str) -> datetime | None:
    """An ISO 8601 moment as naive UTC (what Odoo stores), or None."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo:
        parsed = parsed.astimezone(timezone.utc).replace(tzinfo=None)
    return parsed


@dataclass
class Delivery:
    """What one incoming request carries, once verified and parsed: the whole order, or a
    patch of it (for stores that send only what changed: a payment, a cancellation)."""

    #: The order's id in the store: the inbox keeps one record per (channel, external id).
    external_id: str
    order: NormalizedOrder | None = None
    #: Changes in the normalized order's JSON form, e.g. {"payment": {"status": "paid"}}.
    patch: dict | None = None

    def check(self) -> None:
        """Raise InvalidPayload unless the delivery can be stored as it is: an order id that
        is text, not empty and of a reasonable length, and content of the declared types."""
        errors: list[FieldError] = []
        if not isinstance(self.external_id, str) or not self.external_id.strip():
            errors.append(FieldError("id", "the delivery names no order id"))
        elif len(self.external_id) > MAX_EXTERNAL_ID:
            errors.append(FieldError("id", f"must be at most {MAX_EXTERNAL_ID} characters"))
        elif unstorable(self.external_id):
            errors.append(FieldError("id", unstorable(self.external_id)))
        if self.order is not None:
            _check_dataclass(self.order, "", errors)
        elif not isinstance(self.patch, dict) or not self.patch:
            errors.append(FieldError("", "the delivery carries neither an order nor a change"))
        else:
            _check_json(self.patch, "patch", errors)
        if errors:
            raise InvalidPayload(errors)


_FIELD_TYPES: dict[type, list[tuple[str, Any]]] = {}


def _field_types(klass: type) -> list[tuple[str, Any]]:
    types_ = _FIELD_TYPES.get(klass)
    if types_ is None:
        hints = typing.get_type_hints(klass)
        types_ = _FIELD_TYPES[klass] = [(f.name, hints[f.name]) for f in dataclasses.fields(klass)]
    return types_


def _check_dataclass(value: Any, path: str, errors: list[FieldError]) -> None:
    for name, expected in _field_types(type(value)):
        _check_value(getattr(value, name), expected, f"{path}.{name}" if path else name, errors)


def _check_value(value: Any, expected: Any, path: str, errors: list[FieldError]) -> None:
    origin = typing.get_origin(expected)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in typing.get_args(expected):
            return
        expected = next(arg for arg in typing.get_args(expected) if arg is not type(None))
        origin = typing.get_origin(expected)
    if expected is str:
        if not isinstance(value, str):
            errors.append(FieldError(path, "must be a string"))
        elif unstorable(value):
            errors.append(FieldError(path, unstorable(value)))
    elif expected is bool:
        if not isinstance(value, bool):
            errors.append(FieldError(path, "must be true or false"))
    elif expected is Decimal:
        try:
            to_decimal(value)
        except ValueError as exc:
            errors.append(FieldError(path, f"must be a number ({exc})"))
    elif origin is list:
        if not isinstance(value, list):
            errors.append(FieldError(path, "must be a list"))
            return
        (item_type,) = typing.get_args(expected)
        for index, item in enumerate(value):
            _check_value(item, item_type, f"{path}[{index}]", errors)
    elif dataclasses.is_dataclass(expected):
        if not isinstance(value, expected):
            errors.append(FieldError(path, "must be an object"))
        else:
            _check_dataclass(value, path, errors)


def _check_json(value: Any, path: str, errors: list[FieldError]) -> None:
    """A patch holds plain JSON: texts that can be stored, finite numbers."""
    if isinstance(value, str):
        if unstorable(value):
            errors.append(FieldError(path, unstorable(value)))
    elif isinstance(value, float):
        if not math.isfinite(value):
            errors.append(FieldError(path, "must be a finite number"))
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _check_json(item, f"{path}.{key}", errors)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_json(item, f"{path}[{index}]", errors)
    elif value is not None and not isinstance(value, (bool, int, Decimal)):
        errors.append(FieldError(path, "must be plain JSON"))


def spread_discount(lines: list[OrderLine], amount: Decimal) -> None:
    """Share an order-level discount over the lines by value, to the cent (the last line
    takes what rounding leaves), so that the lines still add up to the store's total."""
    values = [line.unit_price * line.quantity - line.discount for line in lines]
    base = sum(values, Decimal(0))
    if not amount or not base:
        return
    left = amount
    for index, (line, value) in enumerate(zip(lines, values, strict=True)):
        share = left if index == len(lines) - 1 else (amount * value / base).quantize(Decimal("0.01"), ROUND_HALF_UP)
        line.discount += share
        left -= share


@dataclass
class StockUpdate:
    """One product's available quantity for a store, with what the store knows it by."""

    sku: str
    quantity: Decimal
    remote_id: str = ""
    remote_parent_id: str = ""
    #: The price to show in the store, when the channel syncs prices.
    price: Decimal | None = None
    #: Where the store keeps the quantity when that is not the product (Shopify's inventory item).
    inventory_id: str = ""
    #: The store's warehouse the quantity is for (stores with several: Ozon); '' for one.
    warehouse_ref: str = ""


@dataclass
class StoreItem:
    """A product or variant as the store knows it: its ids, and what it shows now."""

    sku: str
    remote_id: str
    remote_parent_id: str = ""
    inventory_id: str = ""
    #: The store's quantity (None: the store does not track this product's stock).
    quantity: Decimal | None = None
    price: Decimal | None = None

    def ids(self) -> tuple[str, str, str]:
        return self.remote_id, self.remote_parent_id, self.inventory_id


class StockClient:
    """What the inventory sync asks of a store's API client.

    ``find_skus`` learns the ids of SKUs (asked in pages); ``catalog`` reads every product
    the store has, with its quantity (reconciliation, and SKUs Odoo does not know);
    ``stock_requests`` cuts updates into what one API request takes; ``push_stock`` sends
    one such request's updates and says, per SKU, None when accepted or the store's reason,
    and leaves in ``not_in_store`` the SKUs of that push the store answered it does not have
    (the sync stops sending those until they are looked up again).
    """

    #: Most updates one request takes.
    stock_batch_size: ClassVar[int] = 100
    #: After ``push_stock``: the SKUs of that push the store answered it does not have.
    not_in_store: frozenset[str] | set[str] = frozenset()

    def find_skus(self, skus: list[str]) -> dict[str, StoreItem]:
        raise NotImplementedError

    def catalog(self) -> Iterator[list[StoreItem]]:
        raise NotImplementedError

    def stock_requests(self, updates: list[StockUpdate]) -> list[list[StockUpdate]]:
        return list(batches(updates, self.stock_batch_size))

    def push_stock(self, updates: list[StockUpdate]) -> dict[str, str | None]:
        raise NotImplementedError


#: The stages of an Odoo sales order a store's status maps to, in the order they are reached.
ODOO_STAGES = ("quotation", "confirmed", "partially_delivered", "delivered", "invoiced", "paid", "cancelled")


@dataclass(frozen=True)
class OrderStatus:
    """One of a store's order statuses. A status never replaces one of higher rank: a store
    order does not move backwards (rank 9 is final, e.g. cancelled)."""

    code: str
    label: str
    rank: int


@dataclass
class StatusUpdate:
    """What to tell a store about one of its orders."""

    external_id: str
    status: str
    number: str = ""
    tracking_number: str = ""
    tracking_url: str = ""
    carrier: str = ""
    #: {SKU: quantity delivered so far}, for stores that record partial deliveries.
    delivered: dict[str, Decimal] = field(default_factory=dict)
    #: Why the merchant cancels, for stores that ask (Ozon: an id of its live reason list,
    #: and a text where the reason needs one).
    reason_code: str = ""
    reason_text: str = ""


class StatusClient:
    """What status sync asks of a store's API client: set one order's status (and tracking)
    and say in words what was done; ApiError when the store refuses or cannot be reached.

    ``set_order_statuses`` sets several orders' statuses, in one request where the store takes
    a batch (``status_batch_size`` of them); the answer gives, per external id, what was done
    or the error for that order. An error of the whole request is raised.
    """

    #: Orders one status request takes (1: the store sets one order per request).
    status_batch_size: ClassVar[int] = 1

    def set_order_status(self, update: StatusUpdate) -> str:
        raise NotImplementedError

    def set_order_statuses(self, updates: list[StatusUpdate]) -> dict[str, str | PlatformError]:
        results: dict[str, str | PlatformError] = {}
        for update in updates:
            try:
                results[update.external_id] = self.set_order_status(update)
            except PlatformError as exc:
                if len(updates) == 1:
                    raise
                results[update.external_id] = exc
        return results


def numbered_updates(updates: list[StatusUpdate], what: str,
                     error: type[PlatformError] = PlatformError) -> tuple[dict[str, int], dict[str, PlatformError]]:
    """The stores whose order ids are numbers: ``{external id: number}`` for the updates that
    have one, and an error for each that does not (it fails alone, the others are sent).
    ``what`` names the id in the error, e.g. "WooCommerce order number"; ``error`` is its class
    (clients give ``ApiError``, what the store's own refusals are)."""
    numbers: dict[str, int] = {}
    errors: dict[str, Exception] = {}
    for update in updates:
        external_id = (update.external_id or "").strip()
        if external_id.isascii() and external_id.isdigit():
            numbers[update.external_id] = int(external_id)
        else:
            errors[update.external_id] = error(f"{update.external_id!r} is not a {what}: the store was not told")
    return numbers, errors


def batches(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def apply_patch(data: dict, patch: Mapping) -> dict:
    """The normalized order's JSON form with a patch merged in (nested objects merged)."""
    merged = dict(data)
    for key, value in patch.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = apply_patch(merged[key], value)
        else:
            merged[key] = value
    payment = merged.get("payment") or {}
    if payment.get("status") == "paid" and not payment.get("amount"):
        # A store reporting the payment alone means the order's total was paid.
        merged["payment"] = dict(payment, amount=merged.get("total") or 0)
    return merged


#: The channel's fields a platform may declare as its credentials.
CREDENTIAL_FIELDS = ("api_key", "store_url", "api_login", "api_secret", "webhook_secret",
                     "store_timezone", "store_location")


@dataclass(frozen=True)
class Credential:
    """One of the channel's credential fields as a platform uses it: which field, and what
    it is called and means in that store's admin. Only the fields a platform declares are
    shown on its channels."""

    #: The ``sale.channel`` field: one of CREDENTIAL_FIELDS.
    field: str
    label: str
    help: str = ""
    #: Calling the store's API needs it: Test Connection, Import Orders and the syncs refuse
    #: to start without it. (A webhook secret is not: a channel may poll without webhooks.)
    required: bool = False


#: What a platform can do, each turning on a part of its channels in Odoo (the channel's
#: ``support_*`` field of the same name says it to views and code).
CAPABILITIES = (
    "can_test_connection",
    "can_poll_orders",
    "can_sync_stock",
    "can_sync_prices",
    "can_reconcile_stock",
    "can_send_status",
    "can_read_status",
    "can_list_payment_methods",
    "can_register_webhook",
    "can_list_warehouses",
    "can_print_labels",
    "can_cancel_with_reason",
    "can_read_fees",
    "can_read_payouts",
)


class Platform:
    """The small interface every platform module implements.

    A platform object holds no state of its own: credentials come with each call, so one
    instance serves every channel of that platform.

    What it can do is declared, never guessed from its client: the ``can_*`` flags (see
    ``CAPABILITIES``) turn on buttons, settings and jobs in Odoo, and a test checks each flag
    against what the client really does.
    """

    code: ClassVar[str] = ""
    label: ClassVar[str] = ""
    #: Largest body accepted at intake, in bytes.
    max_body_size: ClassVar[int] = 2 * 1024 * 1024
    #: The store's documented order statuses, for the status mapping (empty: no status sync).
    order_statuses: ClassVar[tuple[OrderStatus, ...]] = ()
    #: The store status proposed for each Odoo stage (see ODOO_STAGES).
    default_status_map: ClassVar[Mapping[str, str]] = {}
    #: The channel's credential fields this platform uses (the form shows only these).
    credentials: ClassVar[tuple[Credential, ...]] = ()

    #: Odoo calls the store's API (Test Connection); ``client`` gives the API client.
    can_test_connection: ClassVar[bool] = False
    #: The API lists orders changed since a moment (client ``orders_since``): Import Orders
    #: and Poll for Missed Orders.
    can_poll_orders: ClassVar[bool] = False
    #: The store takes quantities from Odoo (client is a ``StockClient``): Sync Now, Daily
    #: Auto Sync, Push on Change.
    can_sync_stock: ClassVar[bool] = False
    #: The stock sync also sends prices (``StockUpdate.price``): Price List Sync.
    can_sync_prices: ClassVar[bool] = False
    #: The client reads the store's whole catalog with quantities (``catalog``): Reconcile Stock.
    can_reconcile_stock: ClassVar[bool] = False
    #: The store takes order statuses from Odoo (client is a ``StatusClient``): status sync
    #: To the Store.
    can_send_status: ClassVar[bool] = False
    #: The store's deliveries carry one of ``order_statuses``: status sync From the Store.
    can_read_status: ClassVar[bool] = False
    #: The API lists the store's payment methods (client ``payment_methods``): Read Payment
    #: Methods.
    can_list_payment_methods: ClassVar[bool] = False
    #: Odoo can point the store's order notifications at the channel (client
    #: ``set_notifications``): Register Webhook.
    can_register_webhook: ClassVar[bool] = False
    #: The store ships and keeps stock per warehouse of its own (client ``warehouses``): the
    #: channel lists them (Read Warehouses) and maps each to an Odoo warehouse.
    can_list_warehouses: ClassVar[bool] = False
    #: The store prints the package labels (client ``package_labels``): Print Labels on
    #: deliveries.
    can_print_labels: ClassVar[bool] = False
    #: Cancelling an order in the store needs one of its reasons (client ``cancel_reasons``):
    #: Odoo asks the person for one.
    can_cancel_with_reason: ClassVar[bool] = False
    #: The store lists what it charged and credited per operation (client ``fees``, see
    #: ``money.FeeClient``): the channel reads its marketplace fees.
    can_read_fees: ClassVar[bool] = False
    #: The store lists its settlement periods (client ``payouts``): Payout Reconciliation.
    can_read_payouts: ClassVar[bool] = False
    #: The customer of every order is the marketplace, not the buyer: orders are sold to the
    #: channel's marketplace partner (the buyer's name and address kept for the delivery).
    is_marketplace: ClassVar[bool] = False
    #: Stock lives per location and the channel names one (client ``locations``): when it is
    #: not set, the stock sync takes the shop's only location or asks the merchant to choose.
    needs_stock_location: ClassVar[bool] = False
    #: New channels poll for orders: the store does not retry a webhook that failed, or sends
    #: none at all.
    poll_by_default: ClassVar[bool] = False
    #: The store sends its orders to the channel's webhook address (else they come by polling
    #: only, and the channel shows no webhook address).
    sends_webhooks: ClassVar[bool] = True
    #: The time zone the store's API gives its dates in, proposed for new channels ('': UTC
    #: dates, no time zone to set).
    default_timezone: ClassVar[str] = ""

    @classmethod
    def capabilities(cls) -> dict[str, bool]:
        """{flag: value} of every ``can_*`` flag."""
        return {flag: getattr(cls, flag) for flag in CAPABILITIES}

    def client(self, credentials: Mapping[str, str], **http_options) -> Any:
        """The store's API client for one channel's ``credentials`` (see ``verify``), with
        ``HttpClient`` options (timeouts, retries; ``http.client_options`` adds the channel's
        address allowance to them). It has ``test_connection()`` and, as the
        ``can_*`` flags declare, ``orders_since``, ``payment_methods``, ``set_notifications``,
        the ``StockClient`` and ``StatusClient`` methods. NotImplementedError: the platform
        has no API Odoo calls (Connect: the shop calls us)."""
        raise NotImplementedError(f"{self.label or self.code} has no API client")

    def status_rank(self, code: str) -> int:
        return next((s.rank for s in self.order_statuses if s.code == code), 0)

    def read_status_map(self, status_map: Mapping[str, str]) -> dict[str, str]:
        """{store status: Odoo stage} for statuses read From the Store, given the channel's
        mapping {Odoo stage: store status} (what Odoo tells the store). By default its inverse,
        a status shared by several stages moving the order to the first of them. A platform
        whose status Odoo sends means less when the store reports it (Ozon: "packed", sent
        for a validated delivery) overrides this."""
        stages: dict[str, str] = {}
        for stage in ODOO_STAGES:
            status = status_map.get(stage)
            if status:
                stages.setdefault(status, stage)
        return stages

    def verify(self, headers: Mapping[str, str], body: bytes, credentials: Mapping[str, str]) -> None:
        """Raise AuthenticationError unless the delivery is authentic.

        ``credentials`` are the channel's: ``api_key``, ``webhook_secret``, ``api_login``,
        ``api_secret``, ``store_url``, ``stock_location``, ``timezone`` (each platform reads
        the ones it needs), and ``allow_private_addresses``: whether the API may be reached at a
        loopback or private address (see ``http.address_refusal``).
        """
        raise NotImplementedError

    def changed_at(self, data: Mapping) -> datetime | None:
        """When an order of the API's list last changed (naive UTC), for the poll watermark."""
        return None

    def is_handshake(self, headers: Mapping[str, str], body: bytes) -> bool:
        """A set-up ping the store sends unsigned, to be answered 200 and stored nowhere."""
        return False

    def ignored_event(self, headers: Mapping[str, str], body: bytes) -> str:
        """Why a webhook delivery is an event the platform never acts on, known before it is
        verified (a platform whose verification costs an API call says so here, so that
        refusing such a delivery costs nothing); '' for a delivery to verify and read. Nothing
        of an unverified body is used beyond this answer."""
        return ""

    def parse(self, body: bytes, content_type: str = "application/json") -> Delivery:
        """Read a delivery's body; raise InvalidPayload naming the fields at fault."""
        raise NotImplementedError
