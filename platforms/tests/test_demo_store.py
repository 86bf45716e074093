"""The demo store sends valid Connect orders, whose totals add up as Odoo will compute them."""
import importlib.util
import json
import pathlib
from decimal import Decimal

import pytest

from platforms import InvalidPayload, get

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
