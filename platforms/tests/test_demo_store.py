"""The demo store sends valid Connect orders, whose totals add up as Odoo will compute them."""
import importlib.util
import json
import pathlib
from decimal import Decimal

import pytest

from platforms import InvalidPayload, get
from platforms.testing import ALLOW_LOCAL

DEMO_STORE = pathlib.Path(__file__).resolve().parents[2] / "tools" / "demo_store.py"
spec = importlib.util.spec_from_file_location("demo_store", DEMO_STORE)
demo_store = importlib.util.module_from_spec(spec)
spec.loader.exec_module(demo_store)


def test_demo_orders_are_valid_connect_orders():
    connect = get("connect")
    parsed = {}
    for order in demo_store.demo_orders():
        parsed[order["number"]] = connect.parse(json.dumps(order).encode()).order
    assert len(parsed) == 7 and len({o.external_id for o in parsed.values()}) == 7


def test_demo_totals_match_a_per_line_tax_computation():
    order = demo_store.make_order(1, demo_store.CUSTOMERS[0], [("SI-MUG", 2, Decimal("2.50"))])
    # 2 × 12.50 − 2.50 = 22.50 net, tax 3.375 → 3.38; shipping 4.90, tax 0.735 → 0.74
    assert Decimal(str(order["total"])) == Decimal("22.50") + Decimal("3.38") + Decimal("4.90") + Decimal("0.74")
    assert order["payment"]["amount"] == order["total"]


def test_cash_on_delivery_order_is_unpaid():
    cod = demo_store.make_order(2, demo_store.CUSTOMERS[1], [("SI-CAP", 1, Decimal(0))], payment="cod", paid=False)
    parsed = get("connect").parse(json.dumps(cod).encode()).order
    assert not parsed.paid and parsed.payment.amount == 0
    with pytest.raises(InvalidPayload) as info:
        get("connect").parse(json.dumps(dict(cod, currency="usd dollars")).encode())
    assert [e.path for e in info.value.errors] == ["currency"]


def test_the_demo_idosell_shop_serves_its_orders_to_the_idosell_client(capsys):
    from datetime import datetime, timedelta, timezone

    from platforms.base import StatusUpdate, StockUpdate

    store = demo_store.serve_idosell(0)
    try:
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        client = get("idosell").client({"store_url": store.url, **ALLOW_LOCAL, "api_secret": "demo-idosell-key",
                                        "timezone": "Europe/Warsaw"})
        orders = [o for page in client.orders_since((now - timedelta(hours=2)).isoformat()) for o in page]
        assert client.set_order_status(StatusUpdate("5001", "finished")) == "status finished"
        assert client.push_stock([StockUpdate("SI-MUG", Decimal(7))]) == {"SI-MUG": None}
    finally:
        store.stop()
    parsed = {o.external_id: o for o in (get("idosell").parse(json.dumps(d).encode()).order for d in orders)}
    assert sorted(parsed) == ["5001", "5002", "5003"]
    mug_order = parsed["5001"]
    # 2 mugs and a cap at 15% VAT, gross: 2 × 14.95 + 20.70, and 5.75 delivery.
    assert mug_order.total == Decimal("2") * Decimal("14.95") + Decimal("20.70") + Decimal("5.75")
    assert mug_order.paid and not parsed["5002"].paid, "prepaid: paid once being handled"
    printed = capsys.readouterr().err
    # One line per event, each prefixed with who speaks (the terminal is shared with Odoo's log).
    assert "[demo IdoSell] Odoo set order 5001 to status finished\n" in printed
    assert "[demo IdoSell] Odoo sent stock: SI-MUG=7\n" in printed
    assert all(line.startswith("[demo IdoSell] ") for line in printed.splitlines())


def test_a_demo_store_line_is_one_prefixed_line(capsys):
    demo_store.say("demo store", "an answer\nover two lines")
    assert capsys.readouterr().err == "[demo store] an answer over two lines\n"


def test_the_demo_ozon_account_serves_postings_the_ozon_channel_reads():
    from platforms.ozon import Ozon
    from platforms.testing import ALLOW_LOCAL

    store = demo_store.serve_ozon(0)
    try:
        client = Ozon().client({"api_login": "demo-ozon-client", "api_secret": "demo-ozon-key",
                                "store_url": store.url, **ALLOW_LOCAL})
        postings = [posting for page in client.orders_since("2026-01-01T00:00:00Z") for posting in page]
        orders = {o.external_id: o for o in (Ozon().parse(json.dumps(p).encode()).order for p in postings)}
        catalog = {item.sku for page in client.catalog() for item in page}
    finally:
        store.stop()
    assert set(orders) == {"70000001-0001-1", "70000002-0001-1", "70000003-0001-1", "70000004-0001-1",
                           "70000005-0001-1"}
    assert orders["70000004-0001-1"].status == "cancelled"
    # Its catalog holds the products its orders sell: the stock sync has something to send.
    assert catalog == set(demo_store.IDOSELL_PRICES)
    assert orders["70000003-0001-1"].fulfilled_by == "marketplace"
    assert orders["70000002-0001-1"].shipping_address.city == "Riga"
    assert {o.currency for o in orders.values()} == {"USD"}
    assert all(line.sku in demo_store.IDOSELL_PRICES for o in orders.values() for line in o.lines)


def test_the_demo_ozon_account_has_fees_and_settlement_periods_to_reconcile():
    from datetime import datetime, timedelta, timezone

    from platforms.ozon import Ozon
    from platforms.ozon.fake_finance import period_of

    store = demo_store.serve_ozon(0)
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    since = (now.replace(day=1) - timedelta(days=1)).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    try:
        client = Ozon().client({"api_login": "demo-ozon-client", "api_secret": "demo-ozon-key",
                                "store_url": store.url, **ALLOW_LOCAL})
        operations = [op for page in client.fees(since, now) for op in page]
        periods = client.payouts(since.date(), now.date())
    finally:
        store.stop()
    by_order = {}
    for op in operations:
        by_order.setdefault(op.order_ref, []).append(op)
    # The delivered FBO posting: 2 T-shirts sold at 34.50, less Ozon's commission and logistics.
    [sale] = by_order.pop("70000003-0001-1")
    assert (sale.kind, sale.sale_amount, sale.commission_amount, sale.delivery_amount, sale.amount) == (
        "sale", Decimal("69.00"), -demo_store.OZON_COMMISSION, -demo_store.OZON_LOGISTICS, Decimal("53.45"))
    # The cancelled posting: a charge and no sale.
    [charge] = by_order.pop("70000004-0001-1")
    assert (charge.kind, charge.sale_amount, charge.amount) == ("order_charge", 0, Decimal("-0.95"))
    # Storage, of no order, spread over at least two settlement periods.
    storage = by_order.pop("")
    assert by_order == {} and len(storage) >= 4 and {op.kind for op in storage} == {"service"}
    assert all(op.amount < 0 for op in storage)
    assert len({period_of(op.date.date())[0] for op in storage}) >= 2
    # Each period Ozon states counts what its operations say, in the company's currency.
    assert len(periods) >= 3 and {p.currency for p in periods} == {"USD"}
    assert periods[0].date_from == since.date() and periods[-1].date_to >= now.date()
    for period in periods:
        inside = [op for op in operations if period.date_from <= op.date.date() <= period.date_to]
        assert period.total == sum((op.amount for op in inside), Decimal(0)) == period.payout_amount
    assert sum(p.total for p in periods) == sum(op.amount for op in operations)
    assert any(p.total for p in periods if p.date_to < now.date())
