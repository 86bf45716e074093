"""Ozon stock and prices per warehouse against the fake Ozon (real HTTP on 127.0.0.1), on a
virtual clock shared by the client and the fake: the limits are Ozon's, no test sleeps."""
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from platforms.base import StockUpdate
from platforms.ozon import Ozon
from platforms.ozon.fake import FakeOzon
from platforms.ozon.stock import BY_WAREHOUSE, INFO_STOCKS, PRICES, STOCKS, Later, price_text
from platforms.testing import ALLOW_LOCAL, FakeStore

WAREHOUSES = (22000000000001, 22000000000002, 22000000000003)


class VirtualClock:
    """Time that moves only when slept on (or moved by the test)."""

    def __init__(self):
        self.start = datetime(2026, 11, 29, 12, 0, 0)
        self.seconds = 0.0
        self.slept = []

    def now(self):
        return self.start + timedelta(seconds=self.seconds)

    def monotonic(self):
        return self.seconds

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.seconds += seconds


@pytest.fixture
def clock():
    return VirtualClock()


@pytest.fixture
def ozon(clock):
    with FakeStore() as store:
        fake = FakeOzon(store, now=clock.now)
        fake.warehouses[:] = [{"warehouse_id": w, "name": f"FBS {n}", "is_rfbs": False, "status": "created"}
                              for n, w in enumerate(WAREHOUSES, start=1)]
        yield fake


@pytest.fixture
def client(ozon, clock):
    client = Ozon().client({"api_login": ozon.client_id, "api_secret": ozon.api_key,
                            "store_url": ozon.store.url, **ALLOW_LOCAL}, sleep=clock.sleep)
    client.clock, client.sleep = clock.monotonic, clock.sleep
    return client


def pairs(skus, warehouses=WAREHOUSES, quantity=5):
    return [StockUpdate(sku, Decimal(quantity), warehouse_ref=str(w)) for sku in skus for w in warehouses]


def send_all(client, updates):
    results = {}
    for request in client.stock_requests(updates):
        results.update(client.push_stock(request))
    return results


def test_pairs_go_100_a_request_with_the_warehouse(ozon, client):
    skus = [f"SKU-{n:03}" for n in range(120)]
    for sku in skus:
        ozon.add_product(sku)
    results = send_all(client, pairs(skus, quantity=7))
    calls = ozon.store.calls("POST", STOCKS)
    assert len(calls) == 4  # ceil(360 / 100)
    assert [len(c.json()["stocks"]) for c in calls] == [100, 100, 100, 60]
    assert calls[0].json()["stocks"][0] == {"offer_id": "SKU-000", "stock": 7, "warehouse_id": WAREHOUSES[0]}
    assert set(results.values()) == {None}
    assert len(results) == 360 and ("SKU-119", str(WAREHOUSES[2])) in results
    assert ozon.free("SKU-119", WAREHOUSES[2]) == 7
    assert not ozon.refused


def test_the_client_paces_80_requests_a_minute(ozon, client, clock):
    skus = [f"SKU-{n:04}" for n in range(3000)]
    for sku in skus:
        ozon.add_product(sku)
    results = send_all(client, pairs(skus))  # 9,000 pairs: 90 requests
    assert len(ozon.store.calls("POST", STOCKS)) == 90
    # The 81st request waited for the first one's minute to pass instead of being refused.
    assert clock.slept == [60.0] and not ozon.refused
    assert set(results.values()) == {None}


def test_a_refused_rate_is_backed_off(ozon, client, clock):
    ozon.add_product("SKU-1")
    # 80 requests of another program of the same account, 59.5 s ago: the client does not
    # know of them, Ozon answers 429 code 8 with Retry-After, and the client waits it out.
    ozon._hits[STOCKS] = [clock.now() - timedelta(seconds=59.5)] * 80
    results = client.push_stock(pairs(["SKU-1"], WAREHOUSES[:1]))
    assert results == {("SKU-1", str(WAREHOUSES[0])): None}
    assert ozon.refused == [(STOCKS, 429)]
    assert clock.slept == [1.0], "Retry-After waited for"


def test_a_pair_is_taken_once_per_30_seconds(ozon, client, clock):
    ozon.add_product("SKU-1")
    first = client.push_stock(pairs(["SKU-1"], WAREHOUSES[:2], quantity=3))
    assert set(first.values()) == {None}
    clock.seconds += 10
    again = client.push_stock(pairs(["SKU-1"], WAREHOUSES[:1], quantity=2))
    why = again[("SKU-1", str(WAREHOUSES[0]))]
    assert isinstance(why, Later) and "too frequently" in why
    assert ozon.free("SKU-1", WAREHOUSES[0]) == 3
    clock.seconds += 21
    assert client.push_stock(pairs(["SKU-1"], WAREHOUSES[:1], quantity=2)) == {("SKU-1", str(WAREHOUSES[0])): None}
    assert ozon.free("SKU-1", WAREHOUSES[0]) == 2


def test_per_item_errors_are_told_per_pair(ozon, client):
    ozon.add_product("GOOD")
    ozon.add_product("NO-PRICE", price=None)
    updates = [StockUpdate("GOOD", Decimal(1), warehouse_ref=str(WAREHOUSES[0])),
               StockUpdate("GOOD", Decimal(1), warehouse_ref="99"),
               StockUpdate("GOOD", Decimal(2_000_000), warehouse_ref=str(WAREHOUSES[1])),
               StockUpdate("MISSING", Decimal(1), warehouse_ref=str(WAREHOUSES[0])),
               StockUpdate("NO-PRICE", Decimal(1), warehouse_ref=str(WAREHOUSES[0]))]
    results = client.push_stock(updates)
    assert results[("GOOD", str(WAREHOUSES[0]))] is None
    assert results[("GOOD", "99")].startswith("WAREHOUSE_NOT_FOUND")
    assert results[("GOOD", str(WAREHOUSES[1]))].startswith("STOCK_TOO_BIG")
    assert results[("MISSING", str(WAREHOUSES[0]))].startswith("offer_id_not_found")
    assert results[("NO-PRICE", str(WAREHOUSES[0]))].startswith("PRICE_IS_NOT_SENT")
    assert client.not_in_store == {"MISSING"}
    assert not any(isinstance(why, Later) for why in results.values())


def test_more_than_100_pairs_is_refused_by_the_fake(ozon, client):
    ozon.add_product("SKU-1")
    client.stock_batch_size = 101
    with pytest.raises(Exception, match="at most 100"):
        client.push_stock([StockUpdate("SKU-1", Decimal(1), warehouse_ref=str(WAREHOUSES[0]))] * 101)
    assert ozon.refused == [(STOCKS, 400)]


def test_a_quantity_without_warehouse_goes_to_the_only_one(ozon, client):
    ozon.warehouses[1:] = []
    ozon.add_product("SKU-1")
    assert client.push_stock([StockUpdate("SKU-1", Decimal(4))]) == {"SKU-1": None}
    assert ozon.free("SKU-1", WAREHOUSES[0]) == 4


def test_prices_are_strings_1000_a_request_and_10_changes_an_hour(ozon, client, clock):
    client.currency_code = "RUB"
    skus = [f"P-{n:04}" for n in range(1500)]
    for sku in skus:
        ozon.add_product(sku)
    updates = [StockUpdate(sku, Decimal(0), price=Decimal("1448.5")) for sku in skus]
    results = {}
    for request in client.price_requests(updates):
        results.update(client.push_prices(request))
    calls = ozon.store.calls("POST", PRICES)
    assert [len(c.json()["prices"]) for c in calls] == [1000, 500]
    assert calls[0].json()["prices"][0] == {"offer_id": "P-0000", "price": "1448.50", "currency_code": "RUB"}
    assert set(results.values()) == {None}
    one = [StockUpdate("P-0000", Decimal(0), price=Decimal(n)) for n in range(1, 10)]
    for update in one:
        clock.seconds += 60
        assert client.push_prices([update]) == {"P-0000": None}
    clock.seconds += 60
    why = client.push_prices([StockUpdate("P-0000", Decimal(0), price=Decimal(99))])["P-0000"]
    assert isinstance(why, Later) and "limit exceeded" in why
    assert ozon.products["P-0000"]["price"] == "9.00"
    clock.seconds += 3600
    assert client.push_prices([StockUpdate("P-0000", Decimal(0), price=Decimal(99))]) == {"P-0000": None}
    assert price_text(Decimal("3")) == "3.00"


def test_prices_carried_by_stock_updates_go_first(ozon, client):
    ozon.add_product("SKU-1", price=None)
    results = client.push_stock([StockUpdate("SKU-1", Decimal(2), price=Decimal("12.34"),
                                             warehouse_ref=str(WAREHOUSES[0]))])
    assert results == {("SKU-1", str(WAREHOUSES[0])): None}
    assert [r.path for r in ozon.store.requests] == [PRICES, STOCKS]


def test_a_price_that_must_wait_does_not_hold_back_the_quantity(ozon, client, clock):
    ozon.warehouses[1:] = []
    ozon.add_product("SKU-1", price="10.00")
    ozon.price_changes["SKU-1"] = [clock.now()] * 10  # its 10 changes of the hour are used up
    results = client.push_stock([StockUpdate("SKU-1", Decimal(0), price=Decimal(11)),
                                 StockUpdate("SKU-2", Decimal(3), price=Decimal(5))])
    assert results["SKU-1"] is None, "sold out: the 0 goes at once"
    assert ozon.free("SKU-1", WAREHOUSES[0]) == 0
    assert ozon.products["SKU-1"]["price"] == "10.00"
    assert list(client.prices_waiting) == ["SKU-1"] and "limit exceeded" in client.prices_waiting["SKU-1"]
    # A price refused for good (here: no such product) still keeps its quantity back.
    assert results["SKU-2"] and not getattr(results["SKU-2"], "wait", False)
    assert ozon.free("SKU-2", WAREHOUSES[0]) is None


def test_catalog_pages_by_cursor_with_stock_per_warehouse(ozon, client):
    for n in range(2500):
        ozon.add_product(f"C-{n:04}")
    ozon.set_stock("C-0001", WAREHOUSES[0], 10, 2)
    ozon.set_stock("C-0001", WAREHOUSES[1], 4, 0)
    pages = list(client.catalog())
    assert [len(p) for p in pages] == [1000, 1000, 500]
    bodies = [c.json() for c in ozon.store.calls("POST", INFO_STOCKS)]
    assert [b["cursor"] for b in bodies] == ["", "1000", "2000"] and {b["limit"] for b in bodies} == {1000}
    item = next(i for i in pages[0] if i.sku == "C-0001")
    assert item.quantity == 12
    assert item.warehouses == {str(WAREHOUSES[0]): (10, 2), str(WAREHOUSES[1]): (4, 0)}
    assert item.remote_id == str(ozon.products["C-0001"]["product_id"])
    assert len(ozon.store.calls("POST", BY_WAREHOUSE)) == 1  # one product with stock
    found = client.find_skus(["C-0001", "NOPE"])
    assert set(found) == {"C-0001"}
