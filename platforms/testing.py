"""A fake store server for tests: a real HTTP server on 127.0.0.1 that a test programs.

Used by the platform tests and the Odoo tests alike, so that every API client is tested
against real HTTP (status codes, headers, pagination, rate-limit answers), never a mocked
``requests``.

    with FakeStore() as store:
        store.route("GET", "/admin/api/2025-01/shop.json", json={"shop": {...}})
        store.route("GET", "/orders", responses=[(429, {"Retry-After": "1"}, ""), (200, {}, "[]")])
        client = HttpClient(store.url, **ALLOW_LOCAL)
"""
from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

#: A fake store is on 127.0.0.1, which clients refuse unless allowed: the options (or the
#: credentials) of a client that tests one.
ALLOW_LOCAL = {"allow_private_addresses": True}


@dataclass
class Recorded:
    method: str
    path: str
    query: dict
    headers: dict
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class _Route:
    responses: list = field(default_factory=list)
    handler: Callable | None = None
    calls: int = 0
    #: Run the handler outside the store's lock (handlers that wait, answering in parallel).
    concurrent: bool = False


class FakeStore:
    """Answers the routes a test sets; anything else is a 404 (and is recorded).

    ``host`` is the loopback address it listens on: another one than 127.0.0.1 (127.0.0.2)
    stands for another host than the store's."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1"):
        self.routes: dict[tuple[str, str], _Route] = {}
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        store = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: without this, Nagle's algorithm and the
            # client's delayed ACK add 40 ms to every answer, which the figures would count.
            disable_nagle_algorithm = True

            def log_message(self, *_args):  # keep test output clean
                pass

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                recorded = Recorded(self.command, parts.path, parse_qs(parts.query),
                                    {k: v for k, v in self.headers.items()}, body)
                status, headers, payload = store._answer(recorded)
                data = payload if isinstance(payload, bytes) else (
                    payload.encode() if isinstance(payload, str) else json.dumps(payload).encode())
                self.send_response(status)
                headers = dict(headers)
                headers.setdefault("Content-Type", "application/json")
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.url = f"http://{host}:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *_exc):
        self.stop()

    def start(self):
        self._thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def route(self, method: str, path: str, *, json: Any = None, status: int = 200,
              headers: dict | None = None, responses: list | None = None,
              handler: Callable[[Recorded], tuple] | None = None, concurrent: bool = False) -> None:
        """Answer ``method path``: with ``handler(request) -> (status, headers, body)``, with a
        sequence of ``(status, headers, body)`` (the last one repeats), or with one JSON body.
        A ``concurrent`` handler answers several requests at once (it must be thread-safe)."""
        if responses is None and handler is None:
            responses = [(status, headers or {}, json if json is not None else {})]
        self.routes[(method.upper(), path)] = _Route(list(responses or []), handler, concurrent=concurrent)

    def calls(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method.upper() and r.path == path]

    def _answer(self, request: Recorded) -> tuple:
        with self._lock:
            self.requests.append(request)
            route = self.routes.get((request.method, request.path))
            if route is None:
                return 404, {}, {"message": f"no route {request.method} {request.path}"}
            route.calls += 1
            if route.handler and not route.concurrent:
                return route.handler(request)
            if not route.handler:
                return route.responses[min(route.calls - 1, len(route.responses) - 1)]
        return route.handler(request)


class FakeShopifyAdmin:
    """The parts of a shop's GraphQL Admin API the inventory sync uses, as Shopify documents
    them: ``locations``, ``productVariants`` (cursor pages, ``sku:"…" OR …`` searches),
    ``inventorySetQuantities`` and ``productVariantsBulkUpdate`` (user errors point at an
    item by index, and a mutation with errors changes nothing), and the cost throttle.

    ``variants`` are dicts: ``sku``, ``id``, ``product``, ``item`` (inventory item id),
    ``price``, and ``available`` at the fake's single location.
    """

    LOCATION = "gid://shopify/Location/1"

    def __init__(self, store: FakeStore, variants: list[dict], version: str = "2026-01", page_size: int = 250):
        self.variants = [dict(v) for v in variants]
        self.page_size = page_size
        #: Answer this many coming requests with a throttled error.
        self.throttle_next = 0
        self.locations = [(self.LOCATION, "Shop location")]
        self.path = f"/admin/api/{version}/graphql.json"
        store.route("POST", self.path, handler=self.answer)

    def by_sku(self, sku: str) -> dict:
        return next(v for v in self.variants if v["sku"] == sku)

    def answer(self, request: Recorded) -> tuple:
        body = request.json()
        query, variables = body["query"], body.get("variables") or {}
        if self.throttle_next:
            self.throttle_next -= 1
            return 200, {}, {"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
                             "extensions": {"cost": {"requestedQueryCost": 52, "actualQueryCost": None,
                                                     "throttleStatus": {"maximumAvailable": 2000,
                                                                        "currentlyAvailable": 2,
                                                                        "restoreRate": 100}}}}
        if "inventorySetQuantities" in query:
            return 200, {}, {"data": {"inventorySetQuantities": self._set_quantities(variables["input"])}}
        if "productVariantsBulkUpdate" in query:
            return 200, {}, {"data": {"productVariantsBulkUpdate": self._set_prices(variables)}}
        if "productVariants(" in query:
            return 200, {}, {"data": {"productVariants": self._variants(variables, "inventoryLevel" in query)}}
        if "locations(" in query:
            return 200, {}, {"data": {"locations": {"nodes": [
                {"id": ref, "name": name, "isActive": True} for ref, name in self.locations]}}}
        return 200, {}, {"errors": [{"message": "Field doesn't exist on type 'QueryRoot'"}]}

    def _variants(self, variables: dict, with_level: bool) -> dict:
        matches = self.variants
        if variables.get("search"):
            by_sku = {v["sku"]: v for v in self.variants}
            wanted = [part.split(":", 1)[1].strip().strip('"') for part in variables["search"].split(" OR ")]
            matches = [by_sku[sku] for sku in wanted if sku in by_sku]
        start = int(variables.get("after") or 0)
        page = matches[start:start + self.page_size]
        nodes = []
        for v in page:
            item = {"id": v["item"], "tracked": True}
            if with_level:
                item["inventoryLevel"] = {"quantities": [{"name": "available", "quantity": v["available"]}]}
            nodes.append({"id": v["id"], "sku": v["sku"], "price": v["price"], "product": {"id": v["product"]},
                          "inventoryItem": item})
        end = start + len(page)
        return {"nodes": nodes, "pageInfo": {"hasNextPage": end < len(matches), "endCursor": str(end)}}

    def _set_quantities(self, data: dict) -> dict:
        items = {v["item"]: v for v in self.variants}
        errors = [{"code": "INVALID_INVENTORY_ITEM", "field": ["input", "quantities", str(i), "inventoryItemId"],
                   "message": "The specified inventory item could not be found."}
                  for i, q in enumerate(data["quantities"]) if q["inventoryItemId"] not in items]
        errors += [{"code": "INVALID_LOCATION", "field": ["input", "quantities", str(i), "locationId"],
                    "message": "The specified location could not be found."}
                   for i, q in enumerate(data["quantities"]) if q["locationId"] != self.LOCATION]
        if data.get("name") not in ("available", "on_hand"):
            errors.append({"code": "INVALID_NAME", "field": ["input", "name"], "message": "Invalid name."})
        if not errors:
            for q in data["quantities"]:
                items[q["inventoryItemId"]]["available"] = q["quantity"]
        return {"inventoryAdjustmentGroup": None if errors else {"reason": data.get("reason")}, "userErrors": errors}

    def _set_prices(self, data: dict) -> dict:
        variants = {v["id"]: v for v in self.variants if v["product"] == data["productId"]}
        errors = [{"code": "PRODUCT_VARIANT_DOES_NOT_EXIST", "field": ["variants", str(i), "id"],
                   "message": "Product variant does not exist"}
                  for i, item in enumerate(data["variants"]) if item["id"] not in variants]
        if not errors:
            for item in data["variants"]:
                variants[item["id"]]["price"] = item["price"]
        return {"userErrors": errors}


class FakeIdoSell:
    """An IdoSell shop's order search and status API as documented: ``POST
    orders/orders/search`` on a ``modified`` date range in the shop's wall time, pages from 0
    of at most 100, 207 for an empty result; ``PUT orders/orders`` per-order faults.

    ``orders`` are IdoSell order results; their ``orderDetails.orderChangeDate`` is what the
    range filters on. ``on_page`` (page number → callable) lets a test change the shop while
    it is being read.
    """

    def __init__(self, store: FakeStore, orders: list[dict], version: str = "v6", api_key: str = "ido-key",
                 timezone_name: str = "Europe/Warsaw"):
        self.orders = orders
        self.api_key = api_key
        self.zone = ZoneInfo(timezone_name)
        self.on_page: dict[int, Callable[[], None]] = {}
        self.statuses: list[tuple[int, str]] = []
        self.refuse_status: dict[int, str] = {}
        self.base = base = f"/api/admin/{version}"
        self.search_path = f"{base}/orders/orders/search"
        store.route("POST", self.search_path, handler=self.search)
        store.route("PUT", f"{base}/orders/orders", handler=self.put_orders)

    def search(self, request: Recorded) -> tuple:
        params = request.json()["params"]
        if request.headers.get("X-API-KEY") != self.api_key:
            return 401, {}, {"errors": {"faultCode": 2, "faultString": "Invalid API key"}}
        dates = params["ordersRange"]["ordersDateRange"]
        begin, end = dates["ordersDateBegin"], dates["ordersDateEnd"]
        matching = sorted((o for o in self.orders
                           if begin <= o["orderDetails"]["orderChangeDate"] <= end),
                          key=lambda o: o["orderSerialNumber"])
        page, limit = params.get("resultsPage", 0), min(params.get("resultsLimit", 100), 100)
        if page in self.on_page:
            self.on_page.pop(page)()
            matching = sorted((o for o in self.orders if begin <= o["orderDetails"]["orderChangeDate"] <= end),
                              key=lambda o: o["orderSerialNumber"])
        chunk = matching[page * limit:(page + 1) * limit]
        if not matching:
            return 207, {}, {"errors": {"faultCode": 2, "faultString": "Empty result"}, "Results": []}
        return 200, {}, {"Results": [json_copy(o) for o in chunk], "resultsNumberAll": len(matching),
                         "resultsNumberPage": -(-len(matching) // limit), "resultsPage": page,
                         "resultsLimit": limit}

    def put_orders(self, request: Recorded) -> tuple:
        results = []
        for item in request.json()["params"]["orders"]:
            serial = item["orderSerialNumber"]
            if serial in self.refuse_status:
                results.append({"orderSerialNumber": serial, "faultCode": 1, "faultString": self.refuse_status[serial]})
                continue
            self.statuses.append((serial, item["orderStatus"]))
            # As a shop does: the order takes the status, and is changed now (its wall time).
            for order in self.orders:
                if order["orderSerialNumber"] == serial:
                    order["orderDetails"].update(
                        orderStatus=item["orderStatus"],
                        orderChangeDate=datetime.now(self.zone).strftime("%Y-%m-%d %H:%M:%S"))
            results.append({"orderSerialNumber": serial, "faultCode": 0, "faultString": ""})
        status = 207 if any(r["faultCode"] for r in results) else 200
        return status, {}, {"results": {"ordersResults": results}}


def json_copy(data: Any) -> Any:
    return json.loads(json.dumps(data))
