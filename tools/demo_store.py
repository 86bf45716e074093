"""A demo shop: sends a handful of orders to the demo Connect channel through the real API,
and (with ``--idosell-port``) serves a demo IdoSell shop that the demo IdoSell channel polls,
and (with ``--ozon-port``) a demo Ozon seller account for the demo Ozon channel.

Run by tools/run once Odoo is up; running it again sends the same orders, which the inbox
recognises (200, nothing duplicated). Usable against any Connect channel:

    python tools/demo_store.py --url http://localhost:8069 --key <the channel's API key>

The IdoSell shop answers the order search with three orders changed in the last hour and
prints every status and stock quantity Odoo sends it; it runs until stopped. The Ozon account
is the tests' fake Ozon (limits and error answers included) with four postings: two FBS (one
of them rFBS, with the buyer's address), one FBO already delivered and one FBS Ozon cancelled;
its finance operations (the delivered posting's sale, commission and logistics, a charge on
the cancelled one, storage charges of no order over the last weeks) and settlement periods
give the channel fees to read and payouts to reconcile; it prints every request Odoo makes.
"""
import argparse
import json
import pathlib
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

import requests

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

PATH = "/sale_inbox/connect/v1/orders"
# The demo store charges the same VAT as the demo company's default sales tax.
STORE_TAX_RATE = Decimal("0.15")
CENT = Decimal("0.01")

CUSTOMERS = [
    {"id": "demo-c1", "email": "anna.berzina@example.com", "name": "Anna Berzina",
     "address": {"street": "Brivibas iela 1", "city": "Riga", "zip": "LV-1010", "country": "LV"}},
    {"id": "demo-c2", "email": "jonas.petraitis@example.com", "name": "Jonas Petraitis",
     "address": {"street": "Gedimino pr. 9", "city": "Vilnius", "zip": "01103", "country": "LT"}},
    {"id": "demo-c3", "email": "mari.tamm@example.com", "name": "Mari Tamm",
     "address": {"street": "Narva mnt 7", "city": "Tallinn", "zip": "10117", "country": "EE"}},
]
PRICES = {"SI-MUG": Decimal("12.50"), "SI-TEE": Decimal("30.00"), "SI-CAP": Decimal("18.00")}
#: The IdoSell shop's gross prices: 13.00, 30.00 and 18.00 net, plus 15% VAT.
IDOSELL_PRICES = {"SI-MUG": Decimal("14.95"), "SI-TEE": Decimal("34.50"), "SI-CAP": Decimal("20.70")}


def say(source, message):
    """One line on stderr, prefixed with who speaks, written at once: the terminal is shared
    with Odoo's log, and a line written in pieces would be cut by Odoo's lines."""
    text = " ".join(str(message).split())  # an answer's newlines would break the line
    sys.stderr.write(f"[{source}] {text}\n")
    sys.stderr.flush()


def money(value):
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def make_order(number, customer, items, shipping=Decimal("4.90"), payment="card", paid=True,
               total_offset=Decimal(0)):
    lines, net_total, tax_total = [], Decimal(0), Decimal(0)
    for sku, quantity, discount in items:
        net = PRICES[sku] * quantity - discount
        net_total += net
        tax_total += money(net * STORE_TAX_RATE)
        lines.append({"sku": sku, "quantity": quantity, "unit_price": float(PRICES[sku]),
                      "discount": float(discount)})
    tax_total += money(shipping * STORE_TAX_RATE)
    total = net_total + shipping + tax_total + total_offset
    address = dict(customer["address"], name=customer["name"])
    return {
        "id": f"DEMO-{number}",
        "number": f"#{number}",
        "currency": "USD",
        "taxes_included": False,
        "customer": {k: customer[k] for k in ("id", "email", "name")},
        "billing_address": address,
        "shipping_address": address,
        "lines": lines,
        "shipping": {"name": "Courier", "price": float(shipping)},
        "payment": {"method": payment, "method_name": {"card": "Card (online)", "cod": "Cash on delivery",
                                                        "banklink": "Bank link"}[payment],
                    "status": "paid" if paid else "pending",
                    "amount": float(total) if paid else 0, "transaction_id": f"tr_{number}" if paid else ""},
        "total": float(total),
    }


def demo_orders():
    anna, jonas, mari = CUSTOMERS
    return [
        make_order(1001, anna, [("SI-MUG", 2, Decimal("2.50")), ("SI-TEE", 1, Decimal(0))]),
        make_order(1002, jonas, [("SI-CAP", 1, Decimal(0))]),
        make_order(1003, mari, [("SI-TEE", 2, Decimal(0)), ("SI-CAP", 2, Decimal("3.60"))]),
        make_order(1004, anna, [("SI-MUG", 4, Decimal(0))], payment="cod", paid=False),
        # The store rounded its tax differently: a cent off, so it waits for review.
        make_order(1005, jonas, [("SI-TEE", 1, Decimal(0))], total_offset=Decimal("0.01")),
        # A payment method nobody has mapped yet: it is learnt, and the order waits for the mapping.
        make_order(1006, mari, [("SI-MUG", 1, Decimal(0))], payment="banklink"),
        # A SKU Odoo does not know: the order stops, naming it.
        {**make_order(1007, anna, [("SI-CAP", 1, Decimal(0))]),
         "lines": [{"sku": "SI-SOCKS", "quantity": 3, "unit_price": 7.0}]},
    ]


def idosell_orders(now=None):
    """Three IdoSell orders in the shop's wall time (Warsaw), at gross prices with the 15% VAT
    the demo company charges (prices whose net is a whole number of cents, as a shop's are)."""
    now = now or datetime.now(timezone.utc)
    anna, jonas, mari = CUSTOMERS
    orders = []
    for serial, customer, items, status in (
        (5001, anna, [("SI-MUG", 2), ("SI-CAP", 1)], "on_order"),
        (5002, jonas, [("SI-TEE", 1)], "new"),
        (5003, mari, [("SI-CAP", 3)], "on_order"),
    ):
        wall = (now - timedelta(minutes=serial - 4990)).astimezone(ZoneInfo("Europe/Warsaw"))
        gross = {sku: IDOSELL_PRICES[sku] for sku, _q in items}
        first, _space, last = customer["name"].partition(" ")
        address = customer["address"]
        orders.append({
            "orderId": f"demo-{serial}", "orderSerialNumber": serial, "orderType": "retail",
            "orderDetails": {
                "orderStatus": status, "orderAddDate": wall.strftime("%Y-%m-%d %H:%M:%S"),
                "orderChangeDate": wall.strftime("%Y-%m-%d %H:%M:%S"),
                "payments": {"orderPaymentType": "prepaid", "orderCurrency": {
                    "currencyId": "USD", "orderProductsCost": float(sum(gross[s] * q for s, q in items)),
                    "orderDeliveryCost": 5.75, "orderPayformCost": 0},
                    "orderBaseCurrency": {"billingCurrency": "USD", "orderDeliveryVat": 15}},
                "dispatch": {"courierName": "Omniva"},
                "productsResults": [
                    {"productName": sku, "productSizeCodeExternal": sku, "productQuantity": quantity,
                     "productVat": 15, "productOrderPrice": float(gross[sku])} for sku, quantity in items],
            },
            "clientResult": {
                "clientAccount": {"clientId": customer["id"], "clientEmail": customer["email"]},
                "clientBillingAddress": {"clientFirstName": first, "clientLastName": last,
                                         "clientStreet": address["street"], "clientZipCode": address["zip"],
                                         "clientCity": address["city"], "clientCountryId": address["country"].lower()},
            },
        })
    return orders


def serve_idosell(port, api_key="demo-idosell-key"):
    """The demo IdoSell shop on 127.0.0.1:port, printing what Odoo sends it."""
    from platforms.testing import FakeIdoSell, FakeStore

    store = FakeStore(port=port)
    shop = FakeIdoSell(store, idosell_orders(), api_key=api_key)
    base = shop.base

    def put_orders(request):
        answer = FakeIdoSell.put_orders(shop, request)
        for item in request.json()["params"]["orders"]:
            say("demo IdoSell", f"Odoo set order {item['orderSerialNumber']} to status {item['orderStatus']}")
        return answer

    def stock(request):
        products = request.json()["params"]["products"]
        say("demo IdoSell", "Odoo sent stock: " + ", ".join(
            f"{p['productSizeCodeExternal']}={p['productSizeQuantity']}" for p in products))
        return 200, {}, {"results": {"productsResults": [
            dict(p, faultCode=0, faultString="") for p in products]}}

    store.route("PUT", f"{base}/orders/orders", handler=put_orders)
    store.route("PUT", f"{base}/products/stockQuantity", handler=stock)
    store.start()
    say("demo IdoSell", f"serving {store.url} (the Demo IdoSell Shop channel polls it)")
    return store


#: The demo Ozon account's store warehouses (the demo channel maps them to the main warehouse).
OZON_FBS_WAREHOUSE = 22000000000001
OZON_RFBS_WAREHOUSE = 22000000000002


def ozon_postings(ozon):
    """The demo Ozon account's postings, priced in the demo company's currency (Ozon sells in
    several) at the IdoSell shop's gross prices."""
    def items(*pairs):
        return [(sku, quantity, str(IDOSELL_PRICES[sku])) for sku, quantity in pairs]

    anna = CUSTOMERS[0]
    postings = [
        ozon.fbs_posting("70000001-0001-1", items(("SI-MUG", 2), ("SI-CAP", 1)), warehouse_id=OZON_FBS_WAREHOUSE),
        ozon.fbs_posting("70000002-0001-1", items(("SI-TEE", 1)), warehouse_id=OZON_RFBS_WAREHOUSE,
                         customer={"customer_id": 1, "name": anna["name"], "phone": "",
                                   "address": {"address_tail": anna["address"]["street"],
                                               "city": anna["address"]["city"],
                                               "zip_code": anna["address"]["zip"], "country": "LV",
                                               "region": ""}},
                         addressee={"name": anna["name"], "phone": "+371 2000 0000"}),
        ozon.fbo_posting("70000003-0001-1", items(("SI-TEE", 2)), status="delivered"),
        ozon.fbs_posting("70000004-0001-1", items(("SI-CAP", 2)), status="cancelled",
                         warehouse_id=OZON_FBS_WAREHOUSE,
                         cancellation={"cancel_reason_id": 506, "cancel_reason": "The buyer cancelled the order",
                                       "cancellation_type": "client", "cancelled_after_ship": False,
                                       "affect_cancellation_rating": False, "cancellation_initiator": "CLIENT"}),
    ]
    for age, posting in enumerate(postings, start=1):
        for product in posting["products"]:
            product["currency_code"] = "USD"
        # Changed some minutes ago, as a real account's are: the first poll reads them all.
        posting["_changed_at"] -= timedelta(minutes=10 * age)
        ozon.add_posting(posting)


#: The delivered FBO posting's money: Ozon's commission and logistics on its 69.00 sale.
OZON_COMMISSION = Decimal("10.35")
OZON_LOGISTICS = Decimal("5.20")
#: Storage Ozon charged, this many days ago (none before the first day of the previous month,
#: where a channel's first reading of fees starts): at least two settlement periods.
OZON_STORAGE_DAYS = (44, 37, 30, 23, 16, 9, 2)


def ozon_finance(ozon, now=None):
    """The demo Ozon account's money, in the demo company's currency: what Ozon credited and
    charged for the delivered FBO posting (the sale less commission and logistics), the
    acquiring it charged on the cancelled posting (a charge with no payment), and storage,
    which belongs to no order. Its statements are computed from them (1st–15th, 16th–end)."""
    now = (now or ozon.now()).replace(microsecond=0)
    ozon.currency = "USD"
    delivered = ozon.postings["70000003-0001-1"]
    price = sum(Decimal(p["price"]) * p["quantity"] for p in delivered["products"])
    ozon.sale_operation("70000003-0001-1", price, OZON_COMMISSION, logistics=OZON_LOGISTICS,
                        at=now - timedelta(minutes=20))
    ozon.charge_operation("70000004-0001-1", "0.95", operation_type="MarketplaceRedistributionOfAcquiringOperation",
                          name="Оплата эквайринга", at=now - timedelta(minutes=15))
    first_read = (now.replace(day=1) - timedelta(days=1)).replace(day=1, hour=0, minute=0, second=0)
    for days in OZON_STORAGE_DAYS:
        at = now - timedelta(days=days)
        if at >= first_read:
            ozon.service_operation(Decimal("1.50") + Decimal(days) / 20, at=at.replace(hour=3, minute=0, second=0))


def later_cancelled(ozon, after=120):
    """A posting made 30 hours ago that Ozon cancels ``after`` seconds from now, once it is a
    sales order in Odoo: past the channel's 24 hours, so it waits for *Goods Returned*."""
    posting = ozon.fbs_posting("70000005-0001-1", [("SI-MUG", 1, str(IDOSELL_PRICES["SI-MUG"]))],
                               warehouse_id=OZON_FBS_WAREHOUSE)
    posting["products"][0]["currency_code"] = "USD"
    created = posting["_changed_at"] - timedelta(hours=30)
    posting["in_process_at"] = created.strftime("%Y-%m-%dT%H:%M:%SZ")
    posting["_changed_at"] -= timedelta(minutes=5)
    ozon.add_posting(posting)

    def cancel():
        ozon.set_status("70000005-0001-1", "cancelled", cancellation={
            "cancel_reason_id": 352, "cancel_reason": "The product is out of stock", "cancellation_type": "seller",
            "cancelled_after_ship": False, "affect_cancellation_rating": True, "cancellation_initiator": "SELLER"})
        say("demo Ozon", "Ozon cancelled posting 70000005-0001-1 (Import Orders or the next poll reads it)")

    timer = threading.Timer(after, cancel)
    timer.daemon = True
    timer.start()


def serve_ozon(port, client_id="demo-ozon-client", api_key="demo-ozon-key"):
    """The demo Ozon seller account on 127.0.0.1:port, printing every request Odoo makes."""
    from platforms.ozon.fake import FakeOzon
    from platforms.testing import FakeStore

    class DemoOzon(FakeOzon):
        def handlers(self):
            def told(path, handler):
                def answer(body):
                    status, payload = handler(body)
                    say("demo Ozon", f"Odoo called {path}: HTTP {status}")
                    return status, payload
                return answer
            return {path: told(path, handler) for path, handler in super().handlers().items()}

    store = FakeStore(port=port)
    ozon = DemoOzon(store, client_id=client_id, api_key=api_key)
    ozon.warehouses = [
        {"warehouse_id": OZON_FBS_WAREHOUSE, "name": "Demo FBS", "is_rfbs": False, "status": "created"},
        {"warehouse_id": OZON_RFBS_WAREHOUSE, "name": "Demo rFBS", "is_rfbs": True, "status": "created"},
    ]
    ozon_postings(ozon)
    ozon_finance(ozon)
    # Its catalog: the demo products, with some stock at each warehouse (Sync Now changes it,
    # Reconcile Stock reads it back).
    for index, sku in enumerate(sorted(IDOSELL_PRICES), start=1):
        ozon.add_product(sku, price=str(IDOSELL_PRICES[sku]))
        ozon.set_stock(sku, OZON_FBS_WAREHOUSE, present=3 * index)
        ozon.set_stock(sku, OZON_RFBS_WAREHOUSE, present=index)
    later_cancelled(ozon)
    store.start()
    say("demo Ozon", f"serving {store.url} (the Demo Ozon Seller channel polls it)")
    return store


def wait_for(url, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/web/health", timeout=2).ok:
                return True
        except requests.RequestException:
            pass
        time.sleep(1)
    return False


def describe(response):
    """An answer of the Connect API in a few words: the HTTP status, the inbox state, why."""
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code} {response.reason}"
    if not isinstance(body, dict):
        return f"HTTP {response.status_code}"
    state = str(body.get("status") or body.get("error") or "").replace("_", " ")
    message = body.get("message") or ""
    documents = ", ".join(filter(None, [body.get("sale_order"), body.get("invoice")]))
    text = f"HTTP {response.status_code}, {state}" if state else f"HTTP {response.status_code}"
    if documents:
        text += f" ({documents})"
    return f"{text}: {message}" if message else text


def report_outcomes(session, url, orders, seconds=30):
    """Once Odoo has processed them (or after ``seconds``), one line per order saying where it
    ended up in the inbox, as the Connect API tells a shop."""
    deadline = time.monotonic() + seconds
    answers = {}
    while orders and time.monotonic() < deadline:
        for order in orders:
            try:
                answers[order["number"]] = session.get(f"{url}{PATH}/{order['id']}", timeout=10)
            except requests.RequestException as exc:
                say("demo store", f"could not ask about order {order['number']}: {exc}")
                return
        waiting = [r for r in answers.values() if r.ok and r.json().get("status") == "new"]
        if not waiting:
            break
        time.sleep(2)
    for number, response in answers.items():
        say("demo store", f"order {number} in the inbox: {describe(response)}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://localhost:8069")
    parser.add_argument("--key", default="demo-shop-key", help="the channel's API key")
    parser.add_argument("--wait", type=int, default=0, help="seconds to wait for Odoo to answer")
    parser.add_argument("--idosell-port", type=int, default=0,
                        help="also serve the demo IdoSell shop on this port, until stopped")
    parser.add_argument("--ozon-port", type=int, default=0,
                        help="also serve the demo Ozon seller account on this port, until stopped")
    args = parser.parse_args(argv)
    if args.ozon_port:
        try:
            serve_ozon(args.ozon_port)
        except OSError as exc:
            say("demo Ozon", f"cannot serve on port {args.ozon_port}: {exc}")
            args.ozon_port = 0
    if args.idosell_port:
        try:
            serve_idosell(args.idosell_port)
        except OSError as exc:
            # Another demo store holds the port: the Connect orders still go.
            say("demo IdoSell", f"cannot serve on port {args.idosell_port}: {exc}")
            args.idosell_port = 0
    if args.wait and not wait_for(args.url, args.wait):
        say("demo store", f"Odoo did not answer at {args.url}")
        return 1
    session = requests.Session()
    session.headers.update({"Authorization": f"Bearer {args.key}", "Content-Type": "application/json"})
    new = []
    for order in demo_orders():
        response = session.post(args.url + PATH, data=json.dumps(order), timeout=30)
        say("demo store", f"sent order {order['number']}: {describe(response)}")
        if response.status_code == 201:
            new.append(order)
    # Orders the inbox knew already were answered with where they stand; the new ones are told
    # once processing has had its go.
    report_outcomes(session, args.url, new)
    if args.idosell_port or args.ozon_port:
        threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
