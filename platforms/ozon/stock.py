"""Ozon stock and prices per warehouse, and reading Ozon's stock back.

Facts used, from Ozon's documentation:

* ``/v2/products/stocks`` takes ``{"stocks": [{"offer_id", "stock", "warehouse_id"}]}``: at most
  100 product-warehouse pairs per request and 80 requests a minute per seller account; each
  pair at most once every 30 seconds. ``stock`` is what can be sold, reserved items excluded,
  below 1,000,000. Its answer says per pair ``updated`` or ``errors[{code, message}]``
  (``offer_id_not_found``, ``WAREHOUSE_NOT_FOUND``, ``PRICE_IS_NOT_SENT``, ``STOCK_TOO_BIG``,
  ``TOO_MANY_REQUESTS`` / "Stock is updated too frequently"), not an HTTP error.
* ``/v1/product/import/prices`` takes ``{"prices": [{"offer_id", "price", "currency_code"}]}``,
  prices as strings with a decimal point, at most 1,000 per request; a product's price may
  change at most 10 times an hour (per item: "error limiting: acquire limit per item: items
  limit: limit exceeded").
* ``/v4/product/info/stocks`` reads the catalog's stock, 1..1000 items a page, by cursor;
  ``/v1/product/info/stocks-by-warehouse/fbs`` gives ``present`` and ``reserved`` per
  warehouse for Ozon SKUs.

A per-item answer that means "not now" (the 30-second rule, the hourly price limit) is a
:class:`Later`: the item waits for a later run, it is not refused.
"""
from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ..base import StockUpdate, StoreItem, batches
from ..http import ApiBadAnswer
from .api import OzonApi

STOCKS = "/v2/products/stocks"
PRICES = "/v1/product/import/prices"
INFO_STOCKS = "/v4/product/info/stocks"
BY_WAREHOUSE = "/v1/product/info/stocks-by-warehouse/fbs"

#: Pairs per stock request, requests per minute (Ozon's limits).
STOCK_PAIRS = 100
STOCK_REQUESTS_PER_MINUTE = 80
#: Prices per request, price changes per product an hour.
PRICES_PER_REQUEST = 1000
PRICE_CHANGES_PER_HOUR = 10
#: Items per page of the catalog.
PAGE_SIZE = 1000
#: Ozon SKUs per per-warehouse stock request (kept well inside what one request takes).
WAREHOUSE_SKUS = 500
#: Ozon refuses a stock from this value up.
MAX_STOCK = 1_000_000
#: Per-item error codes saying Ozon has no such product.
NOT_FOUND_CODES = frozenset({"OFFER_ID_NOT_FOUND", "NOT_FOUND_ERROR", "PRODUCT_NOT_FOUND"})


class Later(str):
    """A per-item answer meaning "not now": the item is neither accepted nor refused, it is
    sent again by a later run."""

    wait = True


@dataclass
class OzonItem(StoreItem):
    """A product of the catalog with its stock per FBS/rFBS warehouse:
    ``{warehouse ref: (present, reserved)}``."""

    warehouses: dict[str, tuple[Decimal, Decimal]] = field(default_factory=dict)


def pair_key(update: StockUpdate) -> Any:
    """The key of an update in ``push_stock``'s answer: the SKU, and the warehouse when the
    update names one (one request carries a SKU for several warehouses)."""
    return (update.sku, update.warehouse_ref) if update.warehouse_ref else update.sku


def price_text(value: Decimal | float) -> str:
    """A price as Ozon takes it: a string with a decimal point and two decimals."""
    return str(Decimal(str(value)).quantize(Decimal("0.01"), ROUND_HALF_UP))


def is_wait(code: str, message: str) -> bool:
    """Whether a per-item error says "later" (a limit of the item), not "never"."""
    text = f"{code} {message}".lower()
    return "too_many_requests" in text or "too frequently" in text or "limit exceeded" in text


class OzonStock(OzonApi):
    """The ``StockClient`` methods for Ozon: quantities per warehouse, prices, the catalog."""

    stock_batch_size = STOCK_PAIRS
    price_batch_size = PRICES_PER_REQUEST
    stock_requests_per_minute = STOCK_REQUESTS_PER_MINUTE
    #: The clock and the sleep the stock requests are paced by (tests and the bench give a
    #: virtual clock, so that pacing costs no real time).
    clock = staticmethod(time.monotonic)
    sleep = staticmethod(time.sleep)
    #: The cabinet's currency code sent with prices ('' : left out, Ozon takes the cabinet's).
    currency_code = ""
    not_in_store: frozenset[str] | set[str] = frozenset()
    #: Price changes a product may have in an hour: the sync keeps the ones beyond for later.
    price_changes_per_hour = PRICE_CHANGES_PER_HOUR
    #: {SKU: why} of the prices of the last ``push_stock`` that must wait.
    prices_waiting: dict[str, str] = {}

    # -- looking products up -------------------------------------------------------------------
    def find_skus(self, skus: list[str]) -> dict[str, StoreItem]:
        """{offer id: item} of the offer ids Ozon has (asked 1,000 at a time)."""
        found: dict[str, StoreItem] = {}
        for chunk in batches(list(dict.fromkeys(skus)), PAGE_SIZE):
            for page in self._stock_pages({"offer_id": chunk, "visibility": "ALL"}):
                found.update((item.sku, item) for item in page)
        return found

    def catalog(self) -> Iterator[list[StoreItem]]:
        """Every product of the account, a page at a time, with its FBS stock per warehouse
        (free quantity: present less reserved, what the stock sync sends)."""
        for page in self._stock_pages({"visibility": "ALL"}):
            self._add_warehouses(page)
            yield page

    def _stock_pages(self, flt: dict) -> Iterator[list[OzonItem]]:
        cursor = ""
        while True:
            data = self.call(INFO_STOCKS, {"filter": flt, "limit": PAGE_SIZE, "cursor": cursor})
            items = data.get("items") if isinstance(data, dict) else None
            if not isinstance(items, list):
                raise ApiBadAnswer(f"Ozon {INFO_STOCKS}: the answer has no items", None, str(data)[:2000])
            page = [item for item in (self._item(raw) for raw in items) if item]
            if page:
                yield page
            following = str(data.get("cursor") or "")
            if len(items) < PAGE_SIZE or not following or following == cursor:
                return
            cursor = following

    @staticmethod
    def _item(raw: Any) -> OzonItem | None:
        if not isinstance(raw, dict) or not raw.get("offer_id"):
            return None
        own = [s for s in raw.get("stocks") or [] if isinstance(s, dict) and s.get("type") != "fbo"]
        quantity = sum((Decimal(str(s.get("present") or 0)) - Decimal(str(s.get("reserved") or 0)) for s in own),
                       Decimal(0))
        ozon_sku = next((str(s["sku"]) for s in own if s.get("sku")), "")
        return OzonItem(sku=str(raw["offer_id"]), remote_id=str(raw.get("product_id") or ""),
                        inventory_id=ozon_sku, quantity=quantity)

    def _add_warehouses(self, page: list[OzonItem]) -> None:
        by_ozon_sku = {item.inventory_id: item for item in page if item.inventory_id}
        for chunk in batches(list(by_ozon_sku), WAREHOUSE_SKUS):
            for row in self.result(BY_WAREHOUSE, {"sku": chunk}) or []:
                item = by_ozon_sku.get(str(row.get("sku"))) if isinstance(row, dict) else None
                if item is not None and row.get("warehouse_id"):
                    item.warehouses[str(row["warehouse_id"])] = (
                        Decimal(str(row.get("present") or 0)), Decimal(str(row.get("reserved") or 0)))

    # -- quantities ----------------------------------------------------------------------------
    def push_stock(self, updates: list[StockUpdate]) -> dict[Any, str | None]:
        """Send one request's quantities (at most 100 pairs); the answer per ``pair_key``: None
        (accepted), a :class:`Later` (sent again later) or Ozon's reason. Prices carried by
        the updates are sent first (Ozon takes no stock for a product without a price); those
        that must wait are in ``prices_waiting`` ({SKU: why}), their quantities sent all the
        same."""
        self.not_in_store = set()
        self.prices_waiting = {}
        results: dict[Any, str | None] = {}
        priced = {u.sku: u for u in updates if u.price is not None}
        if priced:
            # (push_prices starts not_in_store afresh: nothing was added to it yet.)
            refused = {sku: why for sku, why in self.push_prices(list(priced.values())).items() if why is not None}
            # A price that must wait (the product's hourly limit) still has the product's last
            # price at Ozon: its quantity goes now (a product sold out must not stay on sale
            # for an hour), the price is sent again by a later run.
            self.prices_waiting = {sku: why for sku, why in refused.items() if getattr(why, "wait", False)}
            results.update((pair_key(u), refused[u.sku]) for u in updates
                           if u.sku in refused and u.sku not in self.prices_waiting)
        default = None
        stocks, keys = [], []
        for update in updates:
            key = pair_key(update)
            if key in results:
                continue
            ref = update.warehouse_ref
            if not ref:
                default = default if default is not None else self._only_warehouse()
                ref = default
            if not ref or not ref.isdigit():
                results[key] = "no Ozon warehouse to send the quantity to: map the store warehouses"
                continue
            stocks.append({"offer_id": update.sku, "stock": max(0, int(update.quantity)), "warehouse_id": int(ref)})
            keys.append((key, update.sku, ref))
        if stocks:
            self._pace()
            answer = self.result(STOCKS, {"stocks": stocks})
            results.update(self._read_answer(answer, keys))
        return results

    def _only_warehouse(self) -> str:
        """The account's warehouse when it has exactly one ('' otherwise): where quantities
        without a store warehouse go. Asked once per client (Ozon answers the list once a
        minute)."""
        if "_only_warehouse_ref" not in self.__dict__:
            listed = self.warehouses() if hasattr(self, "warehouses") else []
            self._only_warehouse_ref = listed[0]["ref"] if len(listed) == 1 else ""
        return self._only_warehouse_ref

    def _read_answer(self, answer: Any, keys: list[tuple]) -> dict[Any, str | None]:
        by_pair = {}
        for row in answer if isinstance(answer, list) else []:
            if isinstance(row, dict):
                by_pair[(str(row.get("offer_id") or ""), str(row.get("warehouse_id") or ""))] = row
        results: dict[Any, str | None] = {}
        for key, sku, ref in keys:
            row = by_pair.get((sku, ref))
            results[key] = "not in Ozon's answer" if row is None else self._item_result(sku, row)
        return results

    def _item_result(self, sku: str, row: dict) -> str | None:
        errors = [e for e in row.get("errors") or [] if isinstance(e, dict)]
        if row.get("updated") and not errors:
            return None
        if not errors:
            return "not updated"
        code, message = str(errors[0].get("code") or ""), str(errors[0].get("message") or "")
        why = f"{code}: {message}" if code and message else (code or message)
        if is_wait(code, message):
            return Later(why)
        if code.upper() in NOT_FOUND_CODES:
            self.not_in_store.add(sku)
        return why

    def _pace(self) -> None:
        """Wait, if needed, so that no minute holds more stock requests than Ozon takes."""
        sent = self.__dict__.setdefault("_stock_sent", deque())
        now = self.clock()
        while sent and now - sent[0] >= 60:
            sent.popleft()
        if len(sent) >= self.stock_requests_per_minute:
            self.sleep(60 - (now - sent[0]))
            now = self.clock()
            while sent and now - sent[0] >= 60:
                sent.popleft()
        sent.append(now)

    # -- prices --------------------------------------------------------------------------------
    def price_requests(self, updates: list[StockUpdate]) -> list[list[StockUpdate]]:
        return list(batches(updates, self.price_batch_size))

    def push_prices(self, updates: list[StockUpdate]) -> dict[str, str | None]:
        """Send one request's prices (at most 1,000); the answer per SKU: None (accepted), a
        :class:`Later` (the product's hourly limit: sent again later) or Ozon's reason."""
        self.not_in_store = set()
        prices = []
        for update in updates:
            entry = {"offer_id": update.sku, "price": price_text(update.price)}
            if self.currency_code:
                entry["currency_code"] = self.currency_code
            prices.append(entry)
        answer = self.result(PRICES, {"prices": prices})
        rows = answer if isinstance(answer, list) else []
        by_offer = {str(r.get("offer_id")): r for r in rows if isinstance(r, dict)}
        results: dict[str, str | None] = {}
        for update in updates:
            row = by_offer.get(update.sku)
            results[update.sku] = "not in Ozon's answer" if row is None else self._item_result(update.sku, row)
        return results
