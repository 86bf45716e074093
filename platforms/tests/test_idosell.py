"""IdoSell: order reading, polling across pages, time zones and DST, statuses, 207 answers."""
import copy
import json
import pathlib
from datetime import datetime
from decimal import Decimal

import pytest

from platforms import AuthenticationError, get
from platforms.base import StatusUpdate
from platforms.http import ApiAuthError, ApiError
from platforms.testing import ALLOW_LOCAL, FakeIdoSell, FakeStore

DATA = pathlib.Path(__file__).parent / "data"
EXAMPLE = json.loads((DATA / "idosell_order.json").read_text())


def order(serial, changed, status="new"):
    data = copy.deepcopy(EXAMPLE)
    data.pop("sale_inbox_timezone")
    data["orderSerialNumber"] = serial
    data["orderDetails"]["orderChangeDate"] = changed
    data["orderDetails"]["orderStatus"] = status
    return data


def client(store, now, zone="Europe/Warsaw"):
    return get("idosell").client({"store_url": store.url, **ALLOW_LOCAL, "api_secret": "ido-key", "timezone": zone},
                                 clock=lambda: now, sleep=lambda _s: None)


def test_an_order_is_read_with_gross_prices_and_utc_dates():
    body = json.dumps(EXAMPLE).encode()
    n = get("idosell").parse(body).order
    assert (n.external_id, n.number, n.currency, n.status) == ("4521", "4521", "EUR", "on_order")
    assert n.taxes_included and n.total == Decimal("59.90")
    assert [(line.sku, line.quantity, line.unit_price, line.tax_rate) for line in n.lines] == [
        ("TSHIRT-RED-M", 2, Decimal("18.00"), 21), ("MUG-01", 1, Decimal("18.00"), 21)]
    assert n.lines[0].name == "T-shirt M" and n.lines[1].name == "Mug"
    assert n.shipping_lines[0].price == Decimal("5.90") and n.shipping_lines[0].name == "Omniva"
    assert n.created_at == "2025-03-14T08:21:07Z", "Riga is UTC+2 in March"
    assert n.payment.status == "paid", "prepaid and being handled"
    assert n.shipping_address.country_code == "LV" and n.customer.email == "anna@example.lv"


def test_a_cancelled_order_reads_as_cancelled():
    data = dict(EXAMPLE, orderDetails=dict(EXAMPLE["orderDetails"], orderStatus="canceled"))
    assert get("idosell").parse(json.dumps(data).encode()).order.status == "cancelled"


def test_nothing_arriving_at_a_webhook_url_is_authentic():
    with pytest.raises(AuthenticationError):
        get("idosell").verify({}, b"{}", {"api_secret": "ido-key"})


def test_the_poll_reads_every_page_of_a_fixed_range_in_the_shops_wall_time():
    with FakeStore() as store:
        shop = FakeIdoSell(store, [order(n, f"2026-11-24 10:{n % 60:02d}:00") for n in range(1, 251)])
        ido = client(store, datetime(2026, 11, 24, 10, 0, 0))
        pages = list(ido.orders_since("2026-11-24T08:00:00Z"))
        calls = [c.json()["params"] for c in store.calls("POST", shop.search_path)]
    assert [len(p) for p in pages] == [100, 100, 50]
    assert [c["resultsPage"] for c in calls] == [0, 1, 2]
    dates = calls[0]["ordersRange"]["ordersDateRange"]
    assert (dates["ordersDateType"], dates["ordersDateBegin"], dates["ordersDateEnd"]) == (
        "modified", "2026-11-24 09:00:00", "2026-11-24 11:00:00"), "Warsaw is UTC+1 in November"
    assert all(o["sale_inbox_timezone"] == "Europe/Warsaw" for p in pages for o in p)
    assert ido.complete_up_to == datetime(2026, 11, 24, 10, 0, 0)


def test_an_order_that_moves_between_pages_makes_the_range_read_again():
    with FakeStore() as store:
        orders = [order(n, "2026-11-24 10:30:00") for n in range(1, 151)]
        shop = FakeIdoSell(store, orders)

        def modified_meanwhile():
            # Order 5 changes while page 0 is being stored: it leaves the range (it belongs
            # to the next poll) and every later order moves up one place.
            orders[4]["orderDetails"]["orderChangeDate"] = "2026-11-24 11:30:00"
        shop.on_page[1] = modified_meanwhile
        ido = client(store, datetime(2026, 11, 24, 10, 0, 0))
        read = {o["orderSerialNumber"] for page in ido.orders_since("2026-11-24T09:00:00Z") for o in page}
    assert read == set(range(1, 151)), "order 101 was skipped by the shift, then read on the second pass"
    assert ido.complete_up_to is not None


def test_no_change_is_missed_when_the_clocks_go_back():
    # 2026-10-25: Warsaw goes from 03:00 CEST back to 02:00 CET (01:00 UTC).
    with FakeStore() as store:
        late = order(7, "2026-10-25 02:10:00")  # 01:10 UTC, after the poll's start
        shop = FakeIdoSell(store, [late])
        ido = client(store, datetime(2026, 10, 25, 1, 30, 0))
        read = [o["orderSerialNumber"] for page in ido.orders_since("2026-10-25T00:55:00Z") for o in page]
        begin = store.calls("POST", shop.search_path)[0].json()["params"]["ordersRange"]["ordersDateRange"]
    assert begin["ordersDateBegin"] == "2026-10-25 01:55:00", "02:55 CEST, less the hour the clocks went back"
    assert read == [7]


def test_an_empty_range_is_a_207_and_no_error():
    with FakeStore() as store:
        FakeIdoSell(store, [])
        ido = client(store, datetime(2026, 11, 24, 10, 0, 0))
        assert list(ido.orders_since("2026-11-24T09:00:00Z")) == [[]]
        assert ido.complete_up_to == datetime(2026, 11, 24, 10, 0, 0)


def test_a_wrong_key_is_an_authentication_error():
    with FakeStore() as store:
        FakeIdoSell(store, [])
        ido = get("idosell").client({"store_url": store.url, **ALLOW_LOCAL, "api_secret": "nope"},
                                    sleep=lambda _s: None)
        with pytest.raises(ApiAuthError):
            list(ido.orders_since("2026-11-24T09:00:00Z"))


def test_statuses_go_in_one_request_and_a_207_names_the_refused_order():
    with FakeStore() as store:
        shop = FakeIdoSell(store, [])
        shop.refuse_status[4522] = "Status change not allowed"
        ido = client(store, datetime(2026, 11, 24))
        results = ido.set_order_statuses([StatusUpdate("4521", "packed"), StatusUpdate("4522", "finished")])
        assert len(store.calls("PUT", f"{shop.base}/orders/orders")) == 1
        with pytest.raises(ApiError, match="not allowed"):
            ido.set_order_status(StatusUpdate("4522", "finished"))
    assert results["4521"] == "status packed"
    assert isinstance(results["4522"], ApiError) and "not allowed" in str(results["4522"])
    assert shop.statuses == [(4521, "packed")]
