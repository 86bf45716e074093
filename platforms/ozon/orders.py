"""Ozon postings: reading them (FBS and FBO), and what an Ozon posting is as an inbox order.

One posting is one inbox order: Ozon splits a buyer's order into postings, one per warehouse
and package, and each is packed, shipped, cancelled and paid on its own.

Facts used, from Ozon's documentation: ``/v3/posting/fbs/list`` takes a period
(``filter.since``/``to``, at most one year) and ``filter.last_changed_status_date``, pages of
1..1000 by ``offset`` with ``result.has_next``; ``/v3/posting/fbs/unfulfilled/list`` lists
postings still to be packed by their pack-by deadline (``cutoff_from``/``cutoff_to``), with
``result.count``; ``/v2/posting/fbo/list`` lists FBO postings by creation period, answers a
bare ``result`` array (no ``has_next``: a short page is the last) and refuses an offset over
20000; ``/v3/posting/fbs/get`` and ``/v2/posting/fbo/get`` read one posting; prices are
strings; ``customer.phone`` is always empty; the FBS warehouse is
``delivery_method.warehouse_id``, the FBO one ``analytics_data.warehouse_id``; a posting
packed into several packages becomes several postings naming ``parent_posting_number``.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from ..base import (
    Address,
    Customer,
    InvalidPayload,
    NormalizedOrder,
    OrderLine,
    Payment,
    as_object,
    as_objects,
    as_text,
    to_decimal,
    utc_naive,
)
from .api import OzonApi, OzonError, OzonNotFound

#: Key the client adds to every posting it hands over: "fbs" or "fbo" (the two lists give
#: postings of the same shape but different meaning, and the stored payload must tell).
SCHEME_KEY = "sale_inbox_scheme"
PAGE_SIZE = 1000
#: Ozon refuses an FBO list offset above this.
FBO_MAX_OFFSET = 20000
#: FBO postings change (delivered, cancelled) without a change filter to read them by: each
#: poll reads the FBO postings created this many days before its watermark.
FBO_LOOKBACK_DAYS = 14
#: Longest period ``/v3/posting/fbs/list`` takes.
MAX_PERIOD = timedelta(days=365)
#: The unfulfilled list is read for pack-by deadlines from this long ago to this far ahead.
UNFULFILLED_BEHIND = timedelta(days=7)
UNFULFILLED_AHEAD = timedelta(days=30)
#: What to read with a posting: each scheme's methods take their own keys.
FBS_WITH = {"analytics_data": True, "financial_data": True, "barcodes": False, "translit": False}
FBO_WITH = {"analytics_data": True, "financial_data": True, "legal_info": False}
#: Pages of a list by offset over postings that change meanwhile (a posting changing again
#: leaves the filtered set, and every later one moves up): each page starts this many
#: postings before the previous one ended; the postings read twice are handed over once.
PAGE_OVERLAP = 100
#: An FBO period with more postings than the offset limit lets through is read in halves,
#: down to this length; more in a period this short is an error (nothing would be skipped).
FBO_MIN_WINDOW = timedelta(hours=1)
#: What a posting number looks like: "<order>-<n>" or "<order>-<n>-<m>" (digits). The
#: webhook refuses a push naming another (``push_ref_pattern`` of the platform).
POSTING_NUMBER = re.compile(r"^\d+-\d+(-\d+)?$")


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


class OzonOrders(OzonApi):
    """Reading postings. ``complete_up_to``: after a complete read, the moment (naive UTC)
    up to which every change was read (the lists are not sorted by change: the poll's
    watermark moves only then)."""

    sorted_by_change = False
    page_size = PAGE_SIZE
    fbo_max_offset = FBO_MAX_OFFSET

    def __init__(self, *args, clock: Callable[[], datetime] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._now = clock or (lambda: datetime.now(timezone.utc).replace(tzinfo=None))
        self.complete_up_to: datetime | None = None

    def test_connection(self) -> str:
        now = self._now()
        result = self.result("/v3/posting/fbs/unfulfilled/list", {
            "dir": "ASC", "filter": {"cutoff_from": iso(now - UNFULFILLED_BEHIND),
                                     "cutoff_to": iso(now + UNFULFILLED_AHEAD)},
            "limit": 1, "offset": 0, "with": {}})
        count = result.get("count", 0) if isinstance(result, dict) else 0
        return f"Ozon seller account: {count} postings to pack"

    def orders_since(self, since_iso: str) -> Iterator[list[dict]]:
        """Pages of the postings changed from ``since`` (UTC): FBS postings whose status
        changed, the FBS postings still to pack (Ozon's advice: new-posting notifications may
        come late), then the FBO postings created shortly before. A posting in two lists is
        handed over once."""
        since = datetime.fromisoformat(since_iso.rstrip("Z"))
        # Whole seconds: the requests say seconds, and the watermark must not pass them.
        until = self._now().replace(microsecond=0)
        self.complete_up_to = None
        seen: set[str] = set()
        for page in self._fbs_changed(since, until):
            yield self._fresh(page, "fbs", seen)
        for page in self._fbs_unfulfilled(until):
            yield self._fresh(page, "fbs", seen)
        for page in self._fbo_created(since - timedelta(days=FBO_LOOKBACK_DAYS), until):
            yield self._fresh(page, "fbo", seen)
        self.complete_up_to = until

    @staticmethod
    def _fresh(page: list, scheme: str, seen: set[str]) -> list[dict]:
        fresh = []
        for posting in page:
            if not isinstance(posting, dict):
                continue
            number = str(posting.get("posting_number") or "")
            if number and number in seen:
                continue
            seen.add(number)
            fresh.append(dict(posting, **{SCHEME_KEY: scheme}))
        return fresh

    def _overlap(self) -> int:
        return min(PAGE_OVERLAP, self.page_size // 2)

    def _fbs_changed(self, since: datetime, until: datetime) -> Iterator[list]:
        offset = 0
        while True:
            result = self.result("/v3/posting/fbs/list", {
                "dir": "ASC",
                "filter": {"since": iso(until - MAX_PERIOD + timedelta(minutes=1)), "to": iso(until),
                           "last_changed_status_date": {"from": iso(since), "to": iso(until)}},
                "limit": self.page_size, "offset": offset, "with": FBS_WITH})
            postings = result.get("postings") or [] if isinstance(result, dict) else []
            yield postings
            if not (isinstance(result, dict) and result.get("has_next")) or not postings:
                return
            offset += max(len(postings) - self._overlap(), 1)

    def _fbs_unfulfilled(self, until: datetime) -> Iterator[list]:
        offset = 0
        while True:
            result = self.result("/v3/posting/fbs/unfulfilled/list", {
                "dir": "ASC",
                "filter": {"cutoff_from": iso(until - UNFULFILLED_BEHIND), "cutoff_to": iso(until + UNFULFILLED_AHEAD)},
                "limit": self.page_size, "offset": offset, "with": FBS_WITH})
            postings = result.get("postings") or [] if isinstance(result, dict) else []
            yield postings
            end = offset + len(postings)
            count = result.get("count") if isinstance(result, dict) else 0
            if len(postings) < self.page_size or not postings or (count and end >= count):
                return
            offset += max(len(postings) - self._overlap(), 1)

    def _fbo_created(self, since: datetime, until: datetime) -> Iterator[list]:
        """The FBO postings created in the period. Ozon lists them by offset up to a limit:
        a period holding more is read again in halves (the postings read twice are handed
        over once), so that none is left beyond the limit."""
        windows = [(since, until)]
        while windows:
            start, end = windows.pop(0)
            overflow = yield from self._fbo_window(start, end)
            if not overflow:
                continue
            if end - start <= FBO_MIN_WINDOW:
                # The poll's watermark must not pass postings it could not read.
                raise OzonError(f"more FBO postings created between {iso(start)} and {iso(end)} than Ozon's "
                                f"list lets through ({self.fbo_max_offset}): they cannot all be read")
            middle = (start + (end - start) / 2).replace(microsecond=0)
            windows[:0] = [(start, middle), (middle, end)]

    def _fbo_window(self, since: datetime, until: datetime) -> Iterator[list]:
        """Pages of one period; returns True when it holds more than the offset limit lets through."""
        offset = 0
        while True:
            result = self.result("/v2/posting/fbo/list", {
                "dir": "ASC", "filter": {"since": iso(since), "to": iso(until)},
                "limit": self.page_size, "offset": offset, "with": FBO_WITH})
            postings = result if isinstance(result, list) else []
            yield postings
            if len(postings) < self.page_size:
                return False
            offset += len(postings)
            if offset > self.fbo_max_offset:
                return True

    def posting(self, posting_number: str, scheme: str = "fbs") -> dict | None:
        """One posting as the lists give it (with its scheme), or None when Ozon has none of
        that number."""
        path, with_ = ("/v3/posting/fbs/get", FBS_WITH) if scheme == "fbs" else ("/v2/posting/fbo/get", FBO_WITH)
        try:
            result = self.result(path, {"posting_number": posting_number, "with": with_})
        except OzonNotFound:
            return None
        if not isinstance(result, dict) or not result.get("posting_number"):
            return None
        return dict(result, **{SCHEME_KEY: scheme})

    def warehouses(self) -> list[dict]:
        """The account's FBS and rFBS warehouses: ``{"ref", "name", "kind", "status"}``
        (kind "fbs" or "rfbs")."""
        result = self.result("/v1/warehouse/list")
        return [{"ref": str(w.get("warehouse_id")), "name": str(w.get("name") or w.get("warehouse_id")),
                 "kind": "rfbs" if w.get("is_rfbs") else "fbs", "status": str(w.get("status") or "")}
                for w in (result or []) if isinstance(w, dict) and w.get("warehouse_id")]


def read_posting(data: Mapping[str, Any], status_of: Callable[[str], str]) -> NormalizedOrder:
    """A posting (as the lists give it, with SCHEME_KEY) as an inbox order. ``status_of``
    turns Ozon's status into the order's status ("cancelled" for Ozon's cancellations)."""
    number = as_text(data, "posting_number")
    if not number:
        raise InvalidPayload("the posting has no posting_number")
    scheme = as_text(data, SCHEME_KEY) or "fbs"
    products = as_objects(data, "products")
    lines = []
    currencies = set()
    for index, item in enumerate(products):
        path = f"products[{index}]"
        try:
            quantity = to_decimal(item.get("quantity"))
            price = to_decimal(item.get("price") if item.get("price") not in (None, "") else 0)
        except ValueError as exc:
            raise InvalidPayload(f"{path}: an amount is not a number ({exc})") from exc
        currencies.add(as_text(item, "currency_code", f"{path}.currency_code"))
        lines.append(OrderLine(sku=as_text(item, "offer_id", f"{path}.offer_id"),
                               name=as_text(item, "name", f"{path}.name"),
                               quantity=quantity, unit_price=price))
    currencies.discard("")
    if len(currencies) > 1:
        raise InvalidPayload(f"products: the posting mixes currencies ({', '.join(sorted(currencies))})")
    total = sum((line.unit_price * line.quantity for line in lines), Decimal(0))
    status = as_text(data, "status")
    if scheme == "fbo":
        analytics = as_object(data, "analytics_data")
        warehouse = as_text(analytics, "warehouse_id", "analytics_data.warehouse_id")
        warehouse_name = as_text(analytics, "warehouse_name", "analytics_data.warehouse_name")
        created = as_text(data, "created_at") or as_text(data, "in_process_at")
        # FBO postings give the reason's id only (the FBS reason list does not name FBO ones).
        reason_id = as_text(data, "cancel_reason_id")
        reason = f"Ozon reason {reason_id}" if reason_id not in ("", "0") else ""
        after_ship = False
    else:
        method = as_object(data, "delivery_method")
        warehouse = as_text(method, "warehouse_id", "delivery_method.warehouse_id")
        warehouse_name = as_text(method, "warehouse", "delivery_method.warehouse") \
            or as_text(method, "name", "delivery_method.name")
        created = as_text(data, "in_process_at")
        cancellation = as_object(data, "cancellation")
        reason = as_text(cancellation, "cancel_reason", "cancellation.cancel_reason")
        after_ship = bool(cancellation.get("cancelled_after_ship"))
    shipping = _buyer_address(data)
    notes = [f"Ozon {scheme.upper()}", f"warehouse {warehouse_name}" if warehouse_name else ""]
    pack_by = as_text(data, "shipment_date")
    if pack_by and scheme == "fbs":
        notes.append(f"pack by {pack_by}")
    return NormalizedOrder(
        external_id=number,
        number=number,
        created_at=_utc_iso(created),
        currency=next(iter(currencies), ""),
        total=total,
        lines=lines,
        taxes_included=True,
        customer=Customer(name=shipping.name),
        shipping_address=shipping,
        # The buyer pays Ozon; what Ozon pays the merchant is matched later (payouts).
        payment=Payment(method_code="ozon", method_name="Ozon", status="pending"),
        note=", ".join(filter(None, notes)),
        status=status_of(status),
        fulfilled_by="marketplace" if scheme == "fbo" else "",
        warehouse_ref=warehouse,
        cancel_reason=reason,
        cancelled_after_ship=after_ship,
        split_from=as_text(data, "parent_posting_number"),
    )


def _buyer_address(data: Mapping[str, Any]) -> Address:
    """The buyer's name and delivery address, where Ozon gives them (rFBS: the seller
    delivers); an empty address otherwise (Ozon delivers and keeps them)."""
    customer = as_object(data, "customer")
    address = as_object(customer, "address", "customer.address")
    addressee = as_object(data, "addressee")
    name = as_text(addressee, "name", "addressee.name") or as_text(customer, "name", "customer.name")
    if not address and not name:
        return Address()
    return Address(
        name=name,
        street=as_text(address, "address_tail", "customer.address.address_tail"),
        city=as_text(address, "city", "customer.address.city"),
        zip=as_text(address, "zip_code", "customer.address.zip_code"),
        state=as_text(address, "region", "customer.address.region"),
        country_code=as_text(address, "country", "customer.address.country")[:2].upper()
        if len(as_text(address, "country", "customer.address.country")) == 2 else "",
        phone=as_text(addressee, "phone", "addressee.phone"),
    )


def _utc_iso(value: str) -> str:
    moment = utc_naive(value)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else ""
