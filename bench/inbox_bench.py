"""Sales Inbox benchmark: prints figures, asserts nothing. Driven by bench/run.

    inbox_bench.py setup   --config C --db D        products and a channel in the database
    inbox_bench.py intake  --url U -n N             HTTP intake vs /web/health, 8 clients
    inbox_bench.py webhooks --url U -n N            signed webhook intake per store platform
    inbox_bench.py process --config C --db D -n N   cron processing vs one-by-one ORM
"""
import argparse
import json
import sys
import threading
import time

API_KEY = "bench-key-0b5e"
WEBHOOK_SECRET = "bench-webhook-secret"
FAKE_PAYPAL_PORT = 8078
PATH = "/sale_inbox/connect/v1/orders"
CLIENTS = 8
SKUS = [f"BENCH-{i:02d}" for i in range(20)]
CUSTOMERS = 50


def order(index, prefix="B"):
    """A paid order of 2 to 4 lines; no taxes, so that the total is the sum of the lines."""
    lines = [
        {"sku": SKUS[(index + k) % len(SKUS)], "quantity": 1 + k, "unit_price": 10.0 + k}
        for k in range(2 + index % 3)
    ]
    total = sum(line["quantity"] * line["unit_price"] for line in lines) + 4.0
    customer = index % CUSTOMERS
    return {
        "id": f"{prefix}-{index}",
        "currency": "USD",
        "customer": {"id": f"bc-{customer}", "email": f"bench{customer}@example.com",
                     "name": f"Bench Customer {customer}"},
        "shipping_address": {"name": f"Bench Customer {customer}", "street": "Main 1", "city": "Riga",
                             "country": "LV"},
        "lines": lines,
        "shipping": {"price": 4.0},
        "payment": {"method": "card", "status": "paid", "amount": total},
        "total": total,
    }


# ----------------------------------------------------------------------------------------
# HTTP side (no Odoo import)
# ----------------------------------------------------------------------------------------

def hammer(requests_to_send, send):
    """Send everything with CLIENTS threads; return (seconds, statuses)."""
    import requests

    statuses = []
    lock = threading.Lock()
    queue = list(requests_to_send)
    start = threading.Barrier(CLIENTS + 1)

    def client():
        session = requests.Session()
        start.wait()
        while True:
            with lock:
                if not queue:
                    return
                item = queue.pop()
            try:
                status = send(session, item)
            except Exception as exc:  # noqa: BLE001 -- a figure, not a crash
                status = type(exc).__name__
            with lock:
                statuses.append(status)

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - began, statuses


def intake(args):
    url = args.url.rstrip("/")
    headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
    bodies = [json.dumps(order(i)) for i in range(args.n)]

    def post(session, body):
        return session.post(url + PATH, data=body, headers=headers, timeout=60).status_code

    def health(session, _item):
        return session.get(url + "/web/health", timeout=60).status_code

    import requests

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/web/health", timeout=2).ok:
                break
        except requests.RequestException:
            time.sleep(0.5)
    # Warm both paths up (registry, connections) before measuring.
    hammer([json.dumps(order(i, "W")) for i in range(CLIENTS * 2)], post)
    hammer(range(CLIENTS * 2), health)

    seconds, statuses = hammer(bodies, post)
    intake_rate = args.n / seconds
    again_seconds, again = hammer(bodies, post)
    health_seconds, health_statuses = hammer(range(args.n), health)
    health_rate = args.n / health_seconds
    print(f"intake        {args.n} new orders in {seconds:.2f} s: {intake_rate:.0f} orders/s "
          f"({CLIENTS} clients, 2 workers); answers {summary(statuses)}")
    print(f"intake again  the same {args.n} orders in {again_seconds:.2f} s: {args.n / again_seconds:.0f} orders/s; "
          f"answers {summary(again)}")
    print(f"/web/health   {args.n} requests in {health_seconds:.2f} s: {health_rate:.0f} requests/s; "
          f"answers {summary(health_statuses)}")
    print(f"intake / health: {intake_rate / health_rate:.0%} (target at least 80%)")


def signed_webhooks(args):
    """Signed webhook intake per platform (PayPal's check answered by a local fake PayPal)."""
    import base64
    import copy
    import hashlib
    import hmac
    import pathlib
    import sys

    data_dir = pathlib.Path(__file__).resolve().parents[1] / "platforms" / "tests" / "data"
    sys.path.insert(0, str(data_dir.parents[2]))
    from platforms.testing import FakeStore

    def sign(body, secret):
        return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()

    def load(name):
        return json.loads((data_dir / name).read_text())

    def shopify(i):
        body = json.dumps(dict(load_cache["shopify"], id=10_000 + i)).encode()
        return body, {"X-Shopify-Hmac-Sha256": sign(body, WEBHOOK_SECRET), "X-Shopify-Topic": "orders/create"}

    def woocommerce(i):
        body = json.dumps(dict(load_cache["woocommerce"], id=10_000 + i)).encode()
        return body, {"X-WC-Webhook-Signature": sign(body, WEBHOOK_SECRET), "X-WC-Webhook-Topic": "order.created"}

    def mozello(i):
        event = copy.deepcopy(load_cache["mozello"])
        event["order"]["order_id"] = f"MZ-{i}"
        body = json.dumps(event).encode()
        return body, {"X-Mozello-Hash": sign(body, WEBHOOK_SECRET)}

    def paypal(i):
        event = copy.deepcopy(load_cache["paypal"])
        event["resource"]["id"] = f"PP{i}"
        return json.dumps(event).encode(), {
            "PAYPAL-TRANSMISSION-ID": str(i), "PAYPAL-TRANSMISSION-TIME": "2025-03-14T08:21:10Z",
            "PAYPAL-TRANSMISSION-SIG": "sig", "PAYPAL-CERT-URL": "https://api.paypal.com/cert",
            "PAYPAL-AUTH-ALGO": "SHA256withRSA"}

    load_cache = {"shopify": load("shopify_order.json"), "woocommerce": load("woocommerce_order.json"),
                  "mozello": load("mozello_order_created.json"), "paypal": load("paypal_order_approved.json")}
    url = args.url.rstrip("/")
    with FakeStore(port=FAKE_PAYPAL_PORT) as fake_paypal:
        fake_paypal.route("POST", "/v1/oauth2/token", json={"access_token": "t", "expires_in": 3600})
        fake_paypal.route("POST", "/v1/notifications/verify-webhook-signature",
                          json={"verification_status": "SUCCESS"})
        for platform, make in (("shopify", shopify), ("woocommerce", woocommerce), ("mozello", mozello),
                               ("paypal", paypal)):
            deliveries = [make(i) for i in range(args.n)]

            def post(session, delivery, path=f"/sale_inbox/webhook/bench-{platform}"):
                body, headers = delivery
                return session.post(url + path, data=body, timeout=60,
                                    headers={"Content-Type": "application/json", **headers}).status_code

            seconds, statuses = hammer(deliveries, post)
            note = " (each verified by a call to the fake PayPal)" if platform == "paypal" else ""
            print(f"webhook {platform:<12} {args.n} signed deliveries in {seconds:.2f} s: "
                  f"{args.n / seconds:.0f}/s; answers {summary(statuses)}{note}")


def summary(statuses):
    counts = {}
    for status in statuses:
        counts[status] = counts.get(status, 0) + 1
    return ", ".join(f"{count}×{status}" for status, count in sorted(counts.items(), key=str))


# ----------------------------------------------------------------------------------------
# Odoo side
# ----------------------------------------------------------------------------------------

def odoo_env(args):
    import odoo
    from odoo.modules.registry import Registry

    odoo.tools.config.parse_config(["-c", args.config, "-d", args.db, "--log-level=warn"])
    return Registry(args.db)


def setup(args):
    from odoo import SUPERUSER_ID, Command, api

    registry = odoo_env(args)
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        env["product.product"].create([
            {"name": f"Bench product {sku}", "default_code": sku, "list_price": 10.0,
             "taxes_id": [Command.clear()], "invoice_policy": "order"}
            for sku in SKUS
        ])
        env.ref("sale_inbox.product_shipping").taxes_id = [Command.clear()]
        bank = env["account.journal"].search([("type", "=", "bank")], limit=1)
        channel = env["sale.channel"].create({
            "name": "Bench shop", "api_key": API_KEY, "auto_process": True, "document_type": "invoice",
            "auto_confirm": True, "add_payment": True,
        })
        env["sale.channel.payment.method"].create({
            "channel_id": channel.id, "code": "card", "name": "Card", "journal_id": bank.id,
        })
        # The fake stores listen on 127.0.0.1, which channels reach only when allowed.
        env["ir.config_parameter"].sudo().set_param("sale_inbox.allow_private_store_addresses", "True")
        # One channel per store platform, for the signed-webhook figures; not processed.
        for platform in ("shopify", "woocommerce", "mozello", "paypal"):
            values = {"name": f"Bench {platform}", "platform": platform, "auto_process": False,
                      "webhook_token": f"bench-{platform}", "webhook_secret": WEBHOOK_SECRET,
                      "api_secret": WEBHOOK_SECRET}
            if platform == "paypal":
                values.update(webhook_secret="WH-BENCH", api_login="client",
                              store_url=f"http://127.0.0.1:{FAKE_PAYPAL_PORT}")
            env["sale.channel"].create(values)


def process(args):
    from odoo import SUPERUSER_ID, Command, api

    registry = odoo_env(args)
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        Inbox = env["sale.inbox.order"]
        channel = env["sale.channel"].search([("name", "=", "Bench shop")], limit=1)
        waiting = Inbox.search_count([("channel_id", "=", channel.id), ("state", "=", "new")])
        if not waiting:
            # Run without the intake phase: fill the inbox directly.
            body = [json.dumps(order(i)).encode() for i in range(args.n)]
            for data in body:
                Inbox._receive(channel, data, "application/json")
            cr.commit()
            waiting = args.n
        queries_before = cr.sql_log_count
        began = time.perf_counter()
        if args.profile:
            import cProfile
            import pstats
            profiler = cProfile.Profile()
            done = profiler.runcall(Inbox._cron_process, time_budget=3600)
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(60)
        else:
            done = Inbox._cron_process(time_budget=3600)
        seconds = time.perf_counter() - began
        queries = cr.sql_log_count - queries_before
        states = dict(Inbox._read_group([("channel_id", "=", channel.id)], ["state"], ["__count"]))
        from odoo.addons.sale_inbox.models.sale_inbox_order import BATCH_SIZE

        print(f"process       {done} orders (confirm + invoice + post + payment), batches of {BATCH_SIZE}, in "
              f"{seconds:.2f} s: {done / seconds:.2f} orders/s; {queries / done:.0f} SQL queries per order; "
              f"states {states}")

        # The same orders, one by one, through plain ORM calls.
        count = min(args.n, args.baseline)
        partner_cache = {}
        queries_before = cr.sql_log_count
        began = time.perf_counter()
        for index in range(count):
            data = order(index, "ORM")
            email = data["customer"]["email"]
            partner = partner_cache.get(email) or env["res.partner"].search([("email", "=", email)], limit=1)
            if not partner:
                partner = env["res.partner"].create({"name": data["customer"]["name"], "email": email})
            partner_cache[email] = partner
            lines = []
            for line in data["lines"]:
                product = env["product.product"].search([("default_code", "=", line["sku"])], limit=1)
                lines.append(Command.create({"product_id": product.id, "product_uom_qty": line["quantity"],
                                             "price_unit": line["unit_price"]}))
            lines.append(Command.create({"product_id": channel.shipping_product_id.id, "price_unit": 4.0}))
            so = env["sale.order"].create({"partner_id": partner.id, "order_line": lines})
            so.action_confirm()
            invoice = so._create_invoices()
            invoice.action_post()
            env["account.payment.register"].with_context(
                active_model="account.move", active_ids=invoice.ids
            ).create({"journal_id": channel.payment_method_ids.journal_id.id})._create_payments()
            cr.commit()
        orm_seconds = time.perf_counter() - began
        orm_queries = cr.sql_log_count - queries_before
        print(f"one by one    {count} orders through the ORM, one transaction each, in {orm_seconds:.2f} s: "
              f"{count / orm_seconds:.2f} orders/s; {orm_queries / count:.0f} SQL queries per order")
        print(f"process / one by one: {(done / seconds) / (count / orm_seconds):.1f}x (target at least 2x)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("setup", "process"):
        p = sub.add_parser(name)
        p.add_argument("--config", required=True)
        p.add_argument("--db", required=True)
        p.add_argument("-n", type=int, default=400)
        p.add_argument("--baseline", type=int, default=100, help="orders made one by one (at most N)")
        p.add_argument("--profile", action="store_true", help="print a profile of the processing")
    for name in ("intake", "webhooks"):
        p = sub.add_parser(name)
        p.add_argument("--url", required=True)
        p.add_argument("-n", type=int, default=400)
    args = parser.parse_args(argv)
    {"setup": setup, "intake": intake, "webhooks": signed_webhooks, "process": process}[args.command](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
