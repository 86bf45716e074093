"""Status outbox throughput: prints figures, asserts nothing. Driven by bench/run.

    outbox_bench.py --config C --db D [-n N] [--latency MS] [--workers 1,2,4]

Makes N confirmed sales orders of a WooCommerce channel with status sync to the store, then
prints: the time and queries of putting their status changes in the outbox (what the
confirmation pays inside its own transaction), and the messages sent per second by the outbox
job to a fake WooCommerce on 127.0.0.1 that answers each request (a batch of up to 100 orders)
after the given latency, with 1, 2 and 4 job workers sharing the outbox through row locks.
Everything it made is deleted at the end.
"""
import argparse
import pathlib
import sys
import threading
import time


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("-n", type=int, default=400)
    parser.add_argument("--latency", type=float, default=20.0, help="the fake store's answer time, in ms")
    parser.add_argument("--workers", default="1,2,4")
    args = parser.parse_args(argv)

    import odoo
    from odoo import SUPERUSER_ID, api
    from odoo.modules.registry import Registry

    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
    from platforms.testing import FakeStore

    odoo.tools.config.parse_config(["-c", args.config, "-d", args.db, "--log-level=warn"])
    registry = Registry(args.db)

    def answer(request):
        time.sleep(args.latency / 1000)
        return 200, {}, {"update": request.json()["update"]}

    with FakeStore() as store:
        store.route("POST", "/wp-json/wc/v3/orders/batch", handler=answer, concurrent=True)
        with registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            channel, orders = _setup(env, store.url, args.n)
            cr.commit()
        try:
            for workers in [int(w) for w in args.workers.split(",")]:
                with registry.cursor() as cr:
                    env = api.Environment(cr, SUPERUSER_ID, {})
                    orders = env["sale.order"].browse(orders.ids)
                    env["sale.channel.outbox"].search([("channel_id", "=", channel.id)]).unlink()
                    orders.write({"store_stages": False, "store_status": "pending"})
                    env.flush_all()
                    before, began = cr.sql_log_count, time.perf_counter()
                    orders._sale_inbox_stage_changed()
                    env.flush_all()
                    enqueue = time.perf_counter() - began
                    queries = cr.sql_log_count - before
                    cr.commit()
                began = time.perf_counter()
                threads = [threading.Thread(target=_worker, args=(registry,)) for _ in range(workers)]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
                seconds = time.perf_counter() - began
                with registry.cursor() as cr:
                    cr.execute("SELECT state, count(*) FROM sale_channel_outbox WHERE channel_id = %s GROUP BY state",
                               (channel.id,))
                    states = dict(cr.fetchall())
                sent = states.get("sent", 0)
                print(f"{args.n:>5} orders: outbox written in {enqueue:.2f} s, {queries} queries | "
                      f"{workers} worker(s), store answering in {args.latency:.0f} ms: {sent} sent in "
                      f"{seconds:.2f} s = {sent / seconds:.0f} messages/s ({states})", flush=True)
        finally:
            with registry.cursor() as cr:
                env = api.Environment(cr, SUPERUSER_ID, {})
                env["sale.order"].browse(orders.ids).with_context(disable_cancel_warning=True)._action_cancel()
                env["sale.order"].browse(orders.ids).unlink()
                env["sale.channel"].browse(channel.id).inbox_order_ids.unlink()
                env["sale.channel"].browse(channel.id).unlink()
                cr.commit()
    return 0


def _worker(registry):
    from odoo import SUPERUSER_ID, api
    threading.current_thread().testing = False
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        env["sale.channel.outbox"]._cron_send(time_budget=600)
        cr.commit()


def _setup(env, store_url, count):
    """A WooCommerce channel with status sync, and ``count`` confirmed orders of it."""
    # The fake stores listen on 127.0.0.1, which channels reach only when allowed.
    env["ir.config_parameter"].sudo().set_param("sale_inbox.allow_private_store_addresses", "True")
    channel = env["sale.channel"].create({
        "name": "Outbox bench", "platform": "woocommerce", "store_url": store_url, "api_login": "ck",
        "api_secret": "cs", "status_sync": "to_store", "auto_process": False})
    product = env["product.product"].create({"name": "Outbox bench product", "type": "consu"})
    partner = env["res.partner"].create({"name": "Outbox bench customer"})
    inbox = env["sale.inbox.order"].create([
        {"channel_id": channel.id, "company_id": channel.company_id.id, "external_id": str(100000 + i),
         "name": str(100000 + i),
         "received_at": "2026-01-01 00:00:00", "payload": "{}", "state": "done"} for i in range(count)])
    orders = env["sale.order"].with_context(tracking_disable=True).create([
        {"partner_id": partner.id, "channel_id": channel.id, "inbox_order_id": record.id,
         "store_status": "pending", "order_line": [(0, 0, {"product_id": product.id, "product_uom_qty": 1})]}
        for record in inbox])
    # Status sync speaks only for a sales order its inbox order links back to (as processing makes them).
    for record, order in zip(inbox, orders, strict=True):
        record.sale_order_id = order
    orders.with_context(tracking_disable=True).action_confirm()
    # Confirming queued the messages already; each measured round starts from none.
    return channel, orders


if __name__ == "__main__":
    sys.exit(main())
