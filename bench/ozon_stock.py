"""Ozon stock sync: the API calls of a 10,000-SKU sync over 3 warehouses, against the fake Ozon.

    python bench/ozon_stock.py [--skus 10000] [--warehouses 3]

No Odoo and no database: the Ozon client does what the inventory sync asks of it (look the
SKUs up, send the prices, send one quantity per SKU and warehouse, in the requests
``stock_requests`` cuts), against the fake Ozon on 127.0.0.1, which enforces Ozon's limits
(100 pairs a request, 80 stock requests a minute, 30 s per pair, 1,000 prices a request, 10
price changes a product an hour). Client and fake share a virtual clock: the client's pacing
to 80 requests a minute costs no real time, and the figure "virtual time" is how long the
same sync takes against Ozon. Then 1% of the quantities change, 30 s later, and only those
are sent. Prints the calls per method, the requests the fake refused (target: none), and the
real and virtual durations.
"""
import argparse
import math
import pathlib
import sys
import time
from collections import Counter
from datetime import datetime, timedelta
from decimal import Decimal

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from platforms.base import StockUpdate  # noqa: E402
from platforms.ozon import Ozon  # noqa: E402
from platforms.ozon.fake import FakeOzon  # noqa: E402
from platforms.ozon.stock import pair_key  # noqa: E402
from platforms.testing import ALLOW_LOCAL, FakeStore  # noqa: E402


class VirtualClock:
    def __init__(self):
        self.start = datetime(2026, 11, 29, 12, 0, 0)
        self.seconds = 0.0

    def now(self):
        return self.start + timedelta(seconds=self.seconds)

    def monotonic(self):
        return self.seconds

    def sleep(self, seconds):
        self.seconds += max(0.0, seconds)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skus", type=int, default=10000)
    parser.add_argument("--warehouses", type=int, default=3)
    args = parser.parse_args(argv)
    clock = VirtualClock()
    refs = [22000000000001 + n for n in range(args.warehouses)]
    skus = [f"OZ-{n:06}" for n in range(args.skus)]
    with FakeStore() as store:
        ozon = FakeOzon(store, now=clock.now)
        ozon.warehouses[:] = [{"warehouse_id": ref, "name": f"FBS {ref}", "is_rfbs": False, "status": "created"}
                              for ref in refs]
        for sku in skus:
            ozon.add_product(sku, price=None)
        client = Ozon().client({"api_login": ozon.client_id, "api_secret": ozon.api_key, "store_url": store.url,
                                **ALLOW_LOCAL}, sleep=clock.sleep)
        client.clock, client.sleep, client.currency_code = clock.monotonic, clock.sleep, "RUB"

        began = time.perf_counter()
        found = client.find_skus(skus)
        prices = [StockUpdate(sku, Decimal(0), found[sku].remote_id, price=Decimal("990")) for sku in skus]
        price_results = {}
        for request in client.price_requests(prices):
            price_results.update(client.push_prices(request))
        updates = [StockUpdate(sku, Decimal(n % 50), found[sku].remote_id, warehouse_ref=str(ref))
                   for n, sku in enumerate(skus) for ref in refs]
        results = _push(client, updates)
        first_real, first_virtual = time.perf_counter() - began, clock.seconds
        first_calls = Counter(r.path for r in store.requests)
        pairs = len(updates)
        _report("first sync", pairs, first_calls, ozon.refused, first_real, first_virtual,
                accepted=sum(1 for why in results.values() if why is None),
                prices=sum(1 for why in price_results.values() if why is None))

        store.requests.clear()
        clock.sleep(30)
        start_virtual = clock.seconds
        changed = [StockUpdate(u.sku, u.quantity + 1, u.remote_id, warehouse_ref=u.warehouse_ref)
                   for u in updates[::100]]
        began = time.perf_counter()
        results = _push(client, changed)
        _report("1% changed, 30 s later", len(changed), Counter(r.path for r in store.requests), ozon.refused,
                time.perf_counter() - began, clock.seconds - start_virtual,
                accepted=sum(1 for why in results.values() if why is None))
        target = math.ceil(pairs / 100)
        ok = first_calls["/v2/products/stocks"] == target and not ozon.refused
        print(f"target: {target} stock calls for {pairs} pairs, none refused: {'met' if ok else 'NOT MET'}")
        return 0 if ok else 1


def _push(client, updates):
    results = {}
    for request in client.stock_requests(updates):
        results.update(client.push_stock(request))
    assert len(results) == len({pair_key(u) for u in updates})
    return results


def _report(title, pairs, calls, refused, real, virtual, accepted, prices=None):
    methods = ", ".join(f"{path} {count}" for path, count in sorted(calls.items()))
    extra = f", {prices} prices accepted" if prices is not None else ""
    print(f"{title}: {pairs} pairs, {accepted} accepted{extra}; calls: {sum(calls.values())} ({methods}); "
          f"refused by the fake: {len(refused)}; {real:.1f} s real, {virtual:.0f} s virtual", flush=True)


if __name__ == "__main__":
    sys.exit(main())
