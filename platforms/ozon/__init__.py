"""Ozon Seller API: a marketplace, FBS (the merchant packs and ships from its warehouses) and
FBO (Ozon keeps the goods in its own warehouses and ships them).

The platform is split by concern: ``api`` (transport and errors), ``orders`` (postings in),
``fulfilment`` (assembled, labels), ``cancellation`` and ``stock`` (stock and prices per
warehouse); ``fake`` is the fake Ozon server the tests run against. The client is their sum.

Ozon's push notifications carry no signature: a push is never taken as an order, it only
makes Odoo read the posting it names from Ozon's API (see ``push_postings``).
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..base import (
    AuthenticationError,
    Credential,
    Delivery,
    InvalidPayload,
    OrderStatus,
    Platform,
    PlatformError,
    StatusClient,
    StatusUpdate,
    StockClient,
    read_json,
)
from ..http import client_options
from .api import API_BASE, OzonError, OzonNotFound  # noqa: F401
from .cancellation import OzonCancellation
from .finance import OzonFinance
from .fulfilment import ASSEMBLED, OzonFulfilment
from .orders import POSTING_NUMBER, SCHEME_KEY, OzonOrders, read_posting
from .stock import OzonStock

#: Push types that name a posting to read again; the others are acknowledged and unread.
POSTING_PUSHES = frozenset({"TYPE_NEW_POSTING", "TYPE_POSTING_CANCELLED", "TYPE_STATE_CHANGED",
                            "TYPE_CUTOFF_DATE_CHANGED", "TYPE_DELIVERY_DATE_CHANGED"})
PING = "TYPE_PING"
CANCELLED = "cancelled"
#: The statuses that say the goods left for the buyer (read back, the Odoo order is delivered).
LEFT_FOR_THE_BUYER = ("delivering", "delivered")


class OzonClient(OzonOrders, OzonFulfilment, OzonCancellation, OzonStock, OzonFinance, StockClient, StatusClient):
    """One Ozon seller account's API."""

    def set_order_status(self, update: StatusUpdate) -> str:
        if update.status == ASSEMBLED:
            return self.ship(update)
        if update.status == CANCELLED:
            return self.cancel(update)
        # Every other status is Ozon's to set (delivery, acceptance): nothing to send.
        return f"nothing sent: Ozon sets '{update.status}' itself"


class Ozon(Platform):
    code = "ozon"
    label = "Ozon"
    credentials = (
        Credential("api_login", "Client ID",
                   "Seller account → Settings → Seller API: the Client ID.", required=True),
        Credential("api_secret", "API Key",
                   "An API key of the same page, with the roles for postings, products, prices, "
                   "stocks and finance (Admin, or the FBS/FBO, product and finance roles).", required=True),
        Credential("store_url", "API Address",
                   f"{API_BASE} when empty (another address only for a test server)."),
    )
    can_test_connection = True
    can_poll_orders = True
    can_read_status = True
    can_list_warehouses = True
    # "Assembled" goes to Ozon (ship); "cancelled" too once cancellation is built.
    can_send_status = True
    can_print_labels = True
    # Fees per operation and settlement periods: see ``finance``.
    can_read_fees = True
    can_read_payouts = True
    #: The status that says "assembled" (the delivery's Mark Assembled in Store sends it).
    assembled_status = ASSEMBLED
    # Stock per warehouse, prices and the catalog: see ``stock``.
    can_sync_stock = True
    can_sync_prices = True
    can_reconcile_stock = True
    is_marketplace = True
    # The live reasons a posting may be cancelled for (``cancel_reasons``): see ``cancellation``.
    can_cancel_with_reason = True
    # New-posting pushes may come late or not at all (Ozon says so): the channel polls too.
    poll_by_default = True
    order_statuses = (
        OrderStatus("awaiting_registration", "Awaiting registration", 0),
        OrderStatus("acceptance_in_progress", "Acceptance in progress", 0),
        OrderStatus("awaiting_approve", "Awaiting approval", 0),
        OrderStatus("awaiting_verification", "Awaiting verification", 0),
        OrderStatus("awaiting_packaging", "Awaiting packaging", 1),
        OrderStatus("cancelled_from_split_pending", "Split into other postings", 1),
        OrderStatus(ASSEMBLED, "Assembled, awaiting shipment", 3),
        OrderStatus("arbitration", "Arbitration", 4),
        OrderStatus("client_arbitration", "Delivery arbitration", 4),
        OrderStatus("sent_by_seller", "Sent by the seller", 4),
        OrderStatus("driver_pickup", "With the driver", 4),
        OrderStatus("not_accepted", "Not accepted at the sorting centre", 4),
        OrderStatus("delivering", "Delivering", 5),
        OrderStatus("delivered", "Delivered", 6),
        OrderStatus(CANCELLED, "Cancelled", 9),
    )
    default_status_map = {
        "quotation": "awaiting_packaging", "confirmed": "awaiting_packaging",
        "partially_delivered": "awaiting_packaging", "delivered": ASSEMBLED,
        "invoiced": "awaiting_packaging", "paid": "awaiting_packaging", "cancelled": CANCELLED,
    }

    def read_status_map(self, status_map: Mapping[str, str]) -> dict[str, str]:
        # Odoo tells Ozon "awaiting_deliver" for a validated delivery (packed), but Ozon
        # reporting it means only that: the goods are still in the warehouse, the order is
        # confirmed. The goods are gone once Ozon delivers them.
        stages = super().read_status_map(status_map)
        for status, stage in stages.items():
            if stage in ("partially_delivered", "delivered") and status not in LEFT_FOR_THE_BUYER:
                stages[status] = "confirmed"
        stages.update(dict.fromkeys(LEFT_FOR_THE_BUYER, "delivered"))
        return stages

    #: Pushes name postings to read again (``read_push``); the webhook stores only that.
    rereads_pushes = True
    #: Ozon's posting numbers: the webhook refuses a push naming anything else.
    push_ref_pattern = POSTING_NUMBER

    def read_push(self, body: bytes) -> tuple[str, list[tuple[str, str]]]:
        """What a push asks for: ("ping", []), ("postings", [(number, scheme or '')]) or
        ("other", []). InvalidPayload when the body is no Ozon notification."""
        data = read_json(body)
        kind = push_type(body)
        if not isinstance(data, dict) or not kind:
            raise InvalidPayload("the body is not an Ozon notification (no message_type)")
        if kind == PING:
            return "ping", []
        if kind in POSTING_PUSHES:
            return "postings", push_postings(body)
        return "other", []

    def ping_answer(self, now_iso: str, version: str) -> dict[str, Any]:
        return ping_answer(now_iso, version)

    def ignored_event(self, headers: Mapping[str, str], body: bytes) -> str:
        kind = push_type(body)
        if kind and kind != PING and kind not in POSTING_PUSHES:
            return "This notification says nothing about a posting."
        return ""

    def verify(self, headers: Mapping[str, str], body: bytes, credentials: Mapping[str, str]) -> None:
        # Ozon signs nothing: what comes to the webhook address is never taken as an order.
        raise AuthenticationError("Ozon notifications are not signed: their postings are read from the API")

    def parse(self, body: bytes, content_type: str = "application/json") -> Delivery:
        """A posting as the client's lists and ``posting`` give it."""
        data = read_json(body)
        if not isinstance(data, dict):
            raise InvalidPayload("the body is not an Ozon posting")
        order = read_posting(data, self.order_status)
        return Delivery(external_id=order.external_id, order=order)

    def order_status(self, status: str) -> str:
        return CANCELLED if status == CANCELLED else status

    def client(self, credentials: Mapping[str, str], **kwargs) -> OzonClient:
        return OzonClient(credentials.get("api_login") or "", credentials.get("api_secret") or "",
                          credentials.get("store_url") or "", **client_options(credentials, kwargs))


def push_type(body: bytes) -> str:
    """The ``message_type`` of a push ('' when the body is not a JSON object with one)."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return ""
    kind = data.get("message_type") if isinstance(data, dict) else None
    return kind if isinstance(kind, str) else ""


def push_postings(body: bytes) -> list[tuple[str, str]]:
    """(posting number, scheme) of a posting push: what to read again from the API. The
    scheme is '' (unknown: a push does not say whether the posting is FBS or FBO). Nothing
    else of a push is trusted. InvalidPayload when it names no posting."""
    data = read_json(body)
    if not isinstance(data, dict) or push_type(body) not in POSTING_PUSHES:
        raise InvalidPayload("not an Ozon posting notification")
    number = data.get("posting_number")
    if not isinstance(number, str) or not number.strip() or len(number) > 100:
        raise InvalidPayload("the notification names no posting_number")
    number = number.strip()
    if any(ord(char) < 32 for char in number):
        raise InvalidPayload("the notification's posting_number holds control characters")
    return [(number, "")]


def ping_answer(now_iso: str, version: str) -> dict[str, Any]:
    """What Ozon expects back from a TYPE_PING."""
    return {"version": version, "name": "sale_inbox", "time": now_iso}


__all__ = ["Ozon", "OzonClient", "OzonError", "OzonNotFound", "PlatformError", "SCHEME_KEY",
           "ping_answer", "push_postings", "push_type"]
