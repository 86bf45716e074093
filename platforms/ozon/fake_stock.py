"""The fake Ozon's stock methods (see ``fake``): a mixin of FakeOzon.

It enforces Ozon's documented limits on the fake's own clock (``now``), so that a test or the
bench moves time forward instead of sleeping: 100 pairs per stock request (400 beyond), 80
stock requests a minute (429 code 8), each product-warehouse pair at most once per 30 s
(per-item ``TOO_MANY_REQUESTS``), 1,000 prices per request, 10 price changes per product an
hour (per-item "limit exceeded"), unknown offer ids and warehouses as per-item errors, and
cursor pages of at most 1,000 items for ``/v4/product/info/stocks``.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from .stock import BY_WAREHOUSE, INFO_STOCKS, MAX_STOCK, PRICES, STOCKS


def _error(code: int, message: str) -> dict:
    return {"code": code, "message": message, "details": []}


TOO_FREQUENT = {"code": "TOO_MANY_REQUESTS", "message": "Stock is updated too frequently"}
PRICE_LIMIT = {"code": "", "message": "error limiting: acquire limit per item: items limit: limit exceeded"}


class FakeOzonStock:
    """Adds its routes in ``handlers`` (calling super()) and its limits in ``limits``.

    State a test programs and reads: ``products`` ({offer id: {"product_id", "sku", "price"}};
    ``add_product``), ``stocks`` ({(offer id, warehouse id): {"present", "reserved"}}),
    ``refused`` (every request the limits turned away: (path, status)) and ``poisoned``
    (offer ids whose stock request is answered with an HTML page, as a broken proxy would)."""

    STOCK_PAIRS = 100
    STOCK_PER_MINUTE = 80
    PAIR_SECONDS = 30
    PRICES_PER_REQUEST = 1000
    PRICE_CHANGES_PER_HOUR = 10
    WAREHOUSE_SKUS = 500

    def __init__(self, *args, **kwargs):
        self.products: dict[str, dict] = {}
        self.stocks: dict[tuple[str, int], dict] = {}
        self.stock_updated_at: dict[tuple[str, int], Any] = {}
        self.price_changes: dict[str, list] = {}
        self.refused: list[tuple[str, int]] = []
        self.poisoned: set[str] = set()
        super().__init__(*args, **kwargs)

    def handlers(self) -> dict:
        return {**super().handlers(), STOCKS: self._push_stocks, PRICES: self._import_prices,
                INFO_STOCKS: self._info_stocks, BY_WAREHOUSE: self._by_warehouse}

    def limits(self) -> dict:
        return {**super().limits(), STOCKS: (self.STOCK_PER_MINUTE, 60.0)}

    def _over_limit(self, path: str) -> bool:
        over = super()._over_limit(path)
        if over:
            self.refused.append((path, 429))
        return over

    # -- test helpers ------------------------------------------------------------------------------
    def add_product(self, offer_id: str, price: str | None = "100.00", product_id: int | None = None) -> dict:
        """A product of the account; without a price Ozon takes no stock for it."""
        number = product_id or 700000 + len(self.products) + 1
        product = {"product_id": number, "sku": 900000000 + number, "price": price}
        self.products[offer_id] = product
        return product

    def set_stock(self, offer_id: str, warehouse_id: int, present: int, reserved: int = 0) -> None:
        self.stocks[(offer_id, warehouse_id)] = {"present": present, "reserved": reserved}

    def free(self, offer_id: str, warehouse_id: int) -> int | None:
        """What can be sold of a product at a warehouse (None: never set)."""
        stock = self.stocks.get((offer_id, warehouse_id))
        return None if stock is None else stock["present"] - stock["reserved"]

    def _warehouse_ids(self) -> set[int]:
        return {w["warehouse_id"] for w in self.warehouses}

    def _refuse(self, path: str, message: str) -> tuple:
        self.refused.append((path, 400))
        return 400, _error(3, message)

    # -- handlers --------------------------------------------------------------------------------
    def _push_stocks(self, body: dict) -> tuple:
        stocks = body.get("stocks")
        if not isinstance(stocks, list) or not stocks:
            return self._refuse(STOCKS, "stocks: value is required")
        if len(stocks) > self.STOCK_PAIRS:
            return self._refuse(STOCKS, f"stocks: value must contain at most {self.STOCK_PAIRS} items")
        if any(isinstance(s, dict) and s.get("offer_id") in self.poisoned for s in stocks):
            return 200, "<html><body>Bad gateway</body></html>"
        now = self.now()
        result = []
        for item in stocks:
            item = item if isinstance(item, dict) else {}
            offer, warehouse, stock = item.get("offer_id"), item.get("warehouse_id"), item.get("stock")
            product = self.products.get(offer)
            row = {"offer_id": offer, "product_id": product["product_id"] if product else 0,
                   "warehouse_id": warehouse, "updated": False, "errors": []}
            error = self._stock_error(offer, warehouse, stock, product, now)
            if error:
                row["errors"].append(error)
            else:
                reserved = self.stocks.get((offer, warehouse), {}).get("reserved", 0)
                self.stocks[(offer, warehouse)] = {"present": stock + reserved, "reserved": reserved}
                self.stock_updated_at[(offer, warehouse)] = now
                row["updated"] = True
            result.append(row)
        return 200, {"result": result}

    def _stock_error(self, offer: Any, warehouse: Any, stock: Any, product: dict | None, now) -> dict | None:
        if product is None:
            return {"code": "offer_id_not_found", "message": "Product not found"}
        if warehouse not in self._warehouse_ids():
            return {"code": "WAREHOUSE_NOT_FOUND", "message": "Warehouse not found"}
        if not isinstance(stock, int) or isinstance(stock, bool) or stock < 0:
            return {"code": "INVALID_ARGUMENT", "message": "stock must be a non-negative integer"}
        if stock >= MAX_STOCK:
            return {"code": "STOCK_TOO_BIG", "message": "Stock is too big"}
        if not product.get("price"):
            return {"code": "PRICE_IS_NOT_SENT", "message": "The product has no price yet"}
        last = self.stock_updated_at.get((offer, warehouse))
        if last is not None and now - last < timedelta(seconds=self.PAIR_SECONDS):
            return dict(TOO_FREQUENT)
        return None

    def _import_prices(self, body: dict) -> tuple:
        prices = body.get("prices")
        if not isinstance(prices, list) or not prices:
            return self._refuse(PRICES, "prices: value is required")
        if len(prices) > self.PRICES_PER_REQUEST:
            return self._refuse(PRICES, f"prices: value must contain at most {self.PRICES_PER_REQUEST} items")
        now = self.now()
        result = []
        for item in prices:
            item = item if isinstance(item, dict) else {}
            offer, price = item.get("offer_id"), item.get("price")
            product = self.products.get(offer)
            row = {"offer_id": offer, "product_id": product["product_id"] if product else 0,
                   "updated": False, "errors": []}
            recent = [t for t in self.price_changes.get(offer, []) if now - t < timedelta(hours=1)]
            if product is None:
                row["errors"].append({"code": "NOT_FOUND_ERROR", "message": "Product not found"})
            elif not isinstance(price, str) or not _is_price(price):
                row["errors"].append({"code": "INVALID_PRICE", "message": "price must be a string number"})
            elif len(recent) >= self.PRICE_CHANGES_PER_HOUR:
                row["errors"].append(dict(PRICE_LIMIT))
            else:
                product["price"] = price
                product["currency_code"] = item.get("currency_code") or ""
                self.price_changes[offer] = recent + [now]
                row["updated"] = True
            result.append(row)
        return 200, {"result": result}

    def _info_stocks(self, body: dict) -> tuple:
        limit = body.get("limit")
        if not isinstance(limit, int) or not 1 <= limit <= self.MAX_PAGE:
            return self._refuse(INFO_STOCKS, f"limit must be between 1 and {self.MAX_PAGE}")
        cursor = body.get("cursor") or ""
        if cursor and not cursor.isdigit():
            return self._refuse(INFO_STOCKS, "invalid cursor")
        offers = (body.get("filter") or {}).get("offer_id") or None
        wanted = set(offers) if offers is not None else None
        matching = sorted(o for o in self.products if wanted is None or o in wanted)
        start = int(cursor or 0)
        chunk = matching[start:start + limit]
        following = str(start + limit) if start + limit < len(matching) else ""
        return 200, {"cursor": following, "total": len(matching), "items": [self._stock_item(o) for o in chunk]}

    def _stock_item(self, offer: str) -> dict:
        product = self.products[offer]
        own = [(w, s) for (o, w), s in self.stocks.items() if o == offer]
        stocks = [{"type": "fbs", "sku": product["sku"], "present": sum(s["present"] for _w, s in own),
                   "reserved": sum(s["reserved"] for _w, s in own), "warehouse_ids": [w for w, _s in own],
                   "shipment_type": "SHIPMENT_TYPE_GENERAL"}] if own else []
        return {"offer_id": offer, "product_id": product["product_id"], "stocks": stocks}

    def _by_warehouse(self, body: dict) -> tuple:
        skus = body.get("sku")
        if not isinstance(skus, list) or not skus:
            return self._refuse(BY_WAREHOUSE, "sku: value is required")
        if len(skus) > self.WAREHOUSE_SKUS:
            return self._refuse(BY_WAREHOUSE, f"sku: value must contain at most {self.WAREHOUSE_SKUS} items")
        wanted = {str(s) for s in skus}
        names = {w["warehouse_id"]: w["name"] for w in self.warehouses}
        offers = {str(p["sku"]): (o, p) for o, p in self.products.items() if str(p["sku"]) in wanted}
        result = [{"sku": p["sku"], "product_id": p["product_id"], "warehouse_id": w,
                   "warehouse_name": names.get(w, ""), "present": s["present"], "reserved": s["reserved"]}
                  for _sku, (o, p) in sorted(offers.items())
                  for (offer, w), s in sorted(self.stocks.items()) if offer == o]
        return 200, {"result": result}


def _is_price(text: str) -> bool:
    try:
        return float(text) >= 0
    except ValueError:
        return False
