"""A fake Ozon Seller API for tests: real HTTP on 127.0.0.1 (on :class:`FakeStore`), with
Ozon's documented limits and error shapes, and state a test programs and inspects.

    with FakeStore() as store:
        ozon = FakeOzon(store)
        ozon.add_posting(ozon.fbs_posting("1000-0001-1", [("SKU-1", 2, "990.00")]))
        client = Ozon().client({"api_login": ozon.client_id, "api_secret": ozon.api_key,
                                "store_url": store.url, **ALLOW_LOCAL})

Each concern adds its methods in its own mixin (``fake_fulfilment``, ``fake_cancellation``,
``fake_stock``, ``fake_finance``); ``FakeOzon`` is their sum. The clock (``now``) is the fake's own, so that a
test can move time forward past a limit's window.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from ..testing import FakeStore, Recorded, json_copy
from .fake_cancellation import FakeOzonCancellation
from .fake_finance import FakeOzonFinance
from .fake_fulfilment import FakeOzonFulfilment
from .fake_stock import FakeOzonStock

RATE_LIMITED = {"code": 8, "message": "You have reached request rate limit per second", "details": []}


def rpc_error(code: int, message: str) -> dict:
    return {"code": code, "message": message, "details": []}


class FakeOzonCore:
    """Auth, rate limits and the posting lists."""

    #: (requests, seconds) per method path; others unlimited. Ozon documents 1/min for the
    #: warehouse list; the mixins add theirs.
    LIMITS: dict[str, tuple[int, float]] = {"/v1/warehouse/list": (1, 60.0)}
    MAX_PAGE = 1000
    #: The ``with`` keys each get method takes (Ozon answers 400 to others).
    GET_WITH = {"fbs": {"analytics_data", "barcodes", "financial_data", "legal_info", "product_exemplars",
                        "related_postings", "translit"},
                "fbo": {"analytics_data", "financial_data", "legal_info"}}

    def __init__(self, store: FakeStore, client_id: str = "123456", api_key: str = "ozon-key",
                 now: Callable[[], datetime] | None = None):
        self.store = store
        self.client_id = client_id
        self.api_key = api_key
        self.now = now or (lambda: datetime.now(timezone.utc).replace(tzinfo=None))
        #: posting number -> posting dict (as the lists answer it, plus "_scheme" and
        #: "_changed_at", a naive UTC datetime, which are not sent).
        self.postings: dict[str, dict] = {}
        self.warehouses: list[dict] = [
            {"warehouse_id": 22000000000001, "name": "Main FBS", "is_rfbs": False, "status": "created"}]
        #: posting number -> (status, body) the get methods answer instead (a test breaks one
        #: posting's reading, e.g. with a 200 carrying an HTML page).
        self.broken: dict[str, tuple[int, Any]] = {}
        #: Ozon refuses an FBO list offset above this (a test lowers it to reach it cheaply).
        self.fbo_max_offset = 20000
        self._hits: dict[str, list[datetime]] = {}
        self._ids = itertools.count(100000001)
        self.register()

    # -- wiring ---------------------------------------------------------------------------------
    def register(self) -> None:
        for path, handler in self.handlers().items():
            self.store.route("POST", path, handler=self._guarded(path, handler))

    def handlers(self) -> dict[str, Callable[[dict], tuple]]:
        """{path: handler(body) -> (status, body)}; the mixins add theirs (calling super())."""
        return {
            "/v1/warehouse/list": self._warehouse_list,
            "/v3/posting/fbs/list": self._fbs_list,
            "/v3/posting/fbs/unfulfilled/list": self._fbs_unfulfilled,
            "/v3/posting/fbs/get": self._fbs_get,
            "/v2/posting/fbo/list": self._fbo_list,
            "/v2/posting/fbo/get": self._fbo_get,
        }

    def limits(self) -> dict[str, tuple[int, float]]:
        return dict(self.LIMITS)

    def _guarded(self, path: str, handler: Callable[[dict], tuple]) -> Callable[[Recorded], tuple]:
        def answer(request: Recorded) -> tuple:
            if not request.headers.get("Client-Id") or not request.headers.get("Api-Key"):
                return 401, {}, rpc_error(16, "Client-Id and Api-Key headers are required")
            if request.headers.get("Client-Id") != self.client_id or request.headers.get("Api-Key") != self.api_key:
                return 403, {}, rpc_error(7, "Invalid Api-Key, please check the key and try again")
            if self._over_limit(path):
                return 429, {"Retry-After": "1"}, RATE_LIMITED
            try:
                body = request.json()
            except ValueError:
                return 400, {}, rpc_error(3, "invalid JSON")
            status, payload = handler(body if isinstance(body, dict) else {})
            return status, {}, payload
        return answer

    def _over_limit(self, path: str) -> bool:
        limit = self.limits().get(path)
        if not limit:
            return False
        count, window = limit
        now = self.now()
        hits = [t for t in self._hits.get(path, []) if now - t < timedelta(seconds=window)]
        if len(hits) >= count:
            self._hits[path] = hits
            return True
        self._hits[path] = hits + [now]
        return False

    # -- test helpers ------------------------------------------------------------------------------
    def fbs_posting(self, number: str, products: list[tuple], status: str = "awaiting_packaging",
                    warehouse_id: int = 22000000000001, **extra) -> dict:
        """A v3 FBS posting; ``products`` are (offer_id, quantity, price[, ozon sku])."""
        now = self.now()
        return dict({
            "posting_number": number, "order_id": next(self._ids), "order_number": number.rsplit("-", 1)[0],
            "status": status, "substatus": "posting_created",
            "delivery_method": {"id": 21321684811000, "name": "Ozon Logistics", "warehouse_id": warehouse_id,
                                "warehouse": self._warehouse_name(warehouse_id), "tpl_provider_id": 24,
                                "tpl_provider": "Ozon Logistics"},
            "tracking_number": "", "tpl_integration_type": "ozon",
            "in_process_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "shipment_date": (now + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "delivering_date": None, "parent_posting_number": "",
            "cancellation": {"cancel_reason_id": 0, "cancel_reason": "", "cancellation_type": "",
                             "cancelled_after_ship": False, "affect_cancellation_rating": False,
                             "cancellation_initiator": ""},
            "customer": None, "addressee": None,
            "products": [self._product(p) for p in products],
            "requirements": {"products_requiring_gtd": [], "products_requiring_country": [],
                             "products_requiring_mandatory_mark": [], "products_requiring_rnpt": []},
            "available_actions": ["ship", "cancel"],
            "_scheme": "fbs", "_changed_at": now,
        }, **extra)

    def fbo_posting(self, number: str, products: list[tuple], status: str = "awaiting_deliver",
                    warehouse_id: int = 15431806189000, **extra) -> dict:
        now = self.now()
        return dict({
            "posting_number": number, "order_id": next(self._ids), "order_number": number.rsplit("-", 1)[0],
            "status": status, "cancel_reason_id": 0,
            "created_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "in_process_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "products": [self._product(p) for p in products],
            "analytics_data": {"warehouse_id": warehouse_id, "warehouse_name": "Ozon FBO Tver",
                               "payment_type_group_name": "Card"},
            "financial_data": None, "additional_data": [],
            "_scheme": "fbo", "_changed_at": now,
        }, **extra)

    @staticmethod
    def _product(product: tuple) -> dict:
        offer_id, quantity, price, *rest = product
        sku = rest[0] if rest else abs(hash(offer_id)) % 10 ** 9
        return {"sku": sku, "offer_id": offer_id, "name": f"Product {offer_id}", "quantity": quantity,
                "price": str(price), "currency_code": "RUB", "is_marketplace_buyout": False}

    def _warehouse_name(self, warehouse_id: int) -> str:
        return next((w["name"] for w in self.warehouses if w["warehouse_id"] == warehouse_id), "")

    def add_posting(self, posting: dict) -> dict:
        self.postings[posting["posting_number"]] = posting
        return posting

    def set_status(self, number: str, status: str, **changes) -> dict:
        """Change a posting as Ozon would (its status change time is now)."""
        posting = self.postings[number]
        posting.update(changes, status=status, _changed_at=self.now())
        return posting

    @staticmethod
    def public(posting: dict) -> dict:
        return json_copy({k: v for k, v in posting.items() if not k.startswith("_")})

    # -- handlers --------------------------------------------------------------------------------
    def _warehouse_list(self, _body: dict) -> tuple:
        return 200, {"result": json_copy(self.warehouses)}

    def _page(self, body: dict) -> tuple[int, int] | tuple:
        limit, offset = body.get("limit"), body.get("offset", 0)
        if not isinstance(limit, int) or not 1 <= limit <= self.MAX_PAGE:
            return 400, rpc_error(3, f"limit must be between 1 and {self.MAX_PAGE}")
        if not isinstance(offset, int) or offset < 0:
            return 400, rpc_error(3, "offset must be a non-negative integer")
        return limit, offset

    @staticmethod
    def _moment(value: Any) -> datetime | None:
        if not isinstance(value, str) or not value:
            return None
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed.astimezone(timezone.utc).replace(tzinfo=None) if parsed.tzinfo else parsed

    def _fbs_list(self, body: dict) -> tuple:
        page = self._page(body)
        if page[0] == 400:
            return page
        limit, offset = page
        flt = body.get("filter") or {}
        since, to = self._moment(flt.get("since")), self._moment(flt.get("to"))
        if not since or not to:
            return 400, rpc_error(3, "filter.since and filter.to are required")
        if to - since > timedelta(days=365):
            return 400, rpc_error(3, "the period must be at most one year")
        changed = flt.get("last_changed_status_date") or {}
        c_from, c_to = self._moment(changed.get("from")), self._moment(changed.get("to"))
        matching = [p for p in self._sorted("fbs")
                    if since <= self._moment(p["in_process_at"]) <= to
                    and (not c_from or c_from <= p["_changed_at"])
                    and (not c_to or p["_changed_at"] <= c_to)
                    and (not flt.get("status") or p["status"] == flt["status"])]
        chunk = matching[offset:offset + limit]
        return 200, {"result": {"postings": [self.public(p) for p in chunk],
                                "has_next": offset + limit < len(matching)}}

    def _fbs_unfulfilled(self, body: dict) -> tuple:
        page = self._page(body)
        if page[0] == 400:
            return page
        limit, offset = page
        flt = body.get("filter") or {}
        c_from, c_to = self._moment(flt.get("cutoff_from")), self._moment(flt.get("cutoff_to"))
        d_from, d_to = self._moment(flt.get("delivering_date_from")), self._moment(flt.get("delivering_date_to"))
        if not (c_from and c_to) and not (d_from and d_to):
            return 400, rpc_error(3, "cutoff_from and cutoff_to, or delivering_date_from and to, are required")
        matching = [p for p in self._sorted("fbs")
                    if p["status"] in ("awaiting_packaging", "awaiting_registration", "acceptance_in_progress",
                                       "awaiting_approve", "awaiting_verification")
                    and (not c_from or c_from <= self._moment(p["shipment_date"]) <= c_to)]
        chunk = matching[offset:offset + limit]
        return 200, {"result": {"postings": [self.public(p) for p in chunk], "count": len(matching)}}

    def _fbo_list(self, body: dict) -> tuple:
        page = self._page(body)
        if page[0] == 400:
            return page
        limit, offset = page
        if offset > self.fbo_max_offset:
            return 400, rpc_error(3, "MAX_OFFSET_EXCEEDED")
        flt = body.get("filter") or {}
        since, to = self._moment(flt.get("since")), self._moment(flt.get("to"))
        if not since or not to:
            return 400, rpc_error(3, "filter.since and filter.to are required")
        matching = [p for p in self._sorted("fbo") if since <= self._moment(p["created_at"]) <= to]
        return 200, {"result": [self.public(p) for p in matching[offset:offset + limit]]}

    def _sorted(self, scheme: str) -> list[dict]:
        return sorted((p for p in self.postings.values() if p["_scheme"] == scheme),
                      key=lambda p: p["posting_number"])

    def _get(self, body: dict, scheme: str) -> tuple:
        number = body.get("posting_number") or ""
        unknown = set(body.get("with") or {}) - self.GET_WITH[scheme]
        if unknown:
            return 400, rpc_error(3, f"unknown field(s) in with: {', '.join(sorted(unknown))}")
        if number in self.broken:
            return self.broken[number]
        posting = self.postings.get(number)
        if not posting or posting["_scheme"] != scheme:
            return 404, rpc_error(5, "POSTING_NOT_FOUND")
        return 200, {"result": self.public(posting)}

    def _fbs_get(self, body: dict) -> tuple:
        return self._get(body, "fbs")

    def _fbo_get(self, body: dict) -> tuple:
        return self._get(body, "fbo")


class FakeOzon(FakeOzonFinance, FakeOzonStock, FakeOzonFulfilment, FakeOzonCancellation, FakeOzonCore):
    """The whole fake Ozon (see the module's docstring)."""
