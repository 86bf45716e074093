"""Ozon fee import: 50,000 finance operations read into marketplace fees, page by page.

    ozon_fees.py --config C --db D [-n 50000] [--orders 1000]

Starts the fake Ozon on 127.0.0.1 in this process with ``n`` operations over the last 20 days:
for each of ``orders`` sales orders (made through ORM calls, with their inbox orders) its sale
and a logistics charge, one in four of them named by the order number without the posting's
suffix; a few hundred operations of postings Odoo does not have; storage and other services
for the rest. Then runs the fee job's read of the channel (``sale.channel.fee._read_channel_fees``,
as the cron does: a commit per page) and prints the time, the pages and the SQL queries per
page and in all (target: a constant number a page, none per operation); then the same read
again (the overlap: nothing new). Everything it made is deleted at the end.
"""
import argparse
import sys
import time
from datetime import datetime, timedelta


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("-n", type=int, default=50000)
    parser.add_argument("--orders", type=int, default=1000)
    args = parser.parse_args(argv)

    import odoo
    from odoo import SUPERUSER_ID, api
    from odoo.modules.registry import Registry

    odoo.tools.config.parse_config(["-c", args.config, "-d", args.db, "--log-level=warn"])
    # The addons path is known from here on.
    from odoo.addons.sale_inbox.models.res_config_settings import ALLOW_PRIVATE_PARAM
    from odoo.addons.sale_inbox.platforms.ozon.fake import FakeOzon
    from odoo.addons.sale_inbox.platforms.testing import FakeStore

    registry = Registry(args.db)
    with FakeStore() as store:
        ozon = FakeOzon(store)
        now = datetime.utcnow().replace(microsecond=0)
        with registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            params = env["ir.config_parameter"]
            allowed = params.get_param(ALLOW_PRIVATE_PARAM)
            params.set_param(ALLOW_PRIVATE_PARAM, "True")
            channel = env["sale.channel"].create({
                "platform": "ozon", "name": "Fee bench", "api_login": ozon.client_id, "api_secret": ozon.api_key,
                "store_url": store.url, "fees_from": (now - timedelta(days=20)).date()})
            channel_id = channel.id
            numbers = _orders(env, channel, args.orders, now)
        _operations(ozon, numbers, args.n, now)
        try:
            for label in ("first read", "read again"):
                _read(registry, channel_id, label, ozon)
        finally:
            with registry.cursor() as cr:
                env = api.Environment(cr, SUPERUSER_ID, {})
                cr.execute("DELETE FROM sale_channel_fee WHERE channel_id = %s", (channel_id,))
                orders = env["sale.order"].search([("channel_id", "=", channel_id)])
                orders.write({"inbox_order_id": False})
                env["sale.inbox.order"].search([("channel_id", "=", channel_id)]).unlink()
                orders.unlink()
                env["sale.channel"].browse(channel_id).unlink()
                env["ir.config_parameter"].set_param(ALLOW_PRIVATE_PARAM, allowed or False)
    return 0


def _orders(env, channel, count, now):
    """``count`` sales orders of the channel, each with its inbox order (numbers as Ozon's)."""
    partner = env["res.partner"].create({"name": "Fee bench buyer"})
    numbers = [f"{70000000 + n}-0001-1" for n in range(count)]
    orders = env["sale.order"].create([{"partner_id": partner.id, "channel_id": channel.id} for _ in numbers])
    inbox = env["sale.inbox.order"].create([{
        "channel_id": channel.id, "company_id": channel.company_id.id, "external_id": number, "name": number,
        "received_at": now, "state": "done", "sale_order_id": order.id}
        for number, order in zip(numbers, orders, strict=True)])
    for order, inbox_order in zip(orders, inbox, strict=True):
        order.inbox_order_id = inbox_order
    return numbers


def _operations(ozon, numbers, count, now):
    span = 20 * 24 * 3600 - 3600
    moments = [now - timedelta(days=20) + timedelta(seconds=span * n / count) for n in range(count)]
    index = 0
    for number_index, number in enumerate(numbers):
        ozon.sale_operation(number, "45.00", "6.75", logistics="3.00", at=moments[index])
        # One in four charges names the order, not the posting (Ozon does for some charges).
        ref = number.rsplit("-", 1)[0] if number_index % 4 == 0 else number
        ozon.charge_operation(ref, "1.50", at=moments[index + 1])
        index += 2
    for unknown in range(min(300, count - index)):
        ozon.charge_operation(f"{80000000 + unknown}-0001-1", "2.00", at=moments[index])
        index += 1
    while index < count:
        ozon.service_operation("0.10", at=moments[index])
        index += 1


def _read(registry, channel_id, label, ozon):
    from odoo import SUPERUSER_ID, api

    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        Fee = env["sale.channel.fee"]
        per_page = []
        store_page = type(Fee)._store_page

        def counted(self, channel, currency_id, page):
            before = cr.sql_log_count
            result = store_page(self, channel, currency_id, page)
            per_page.append(cr.sql_log_count - before)
            return result

        type(Fee)._store_page = counted
        requests = len(ozon.finance_requests)
        try:
            cr.commit()
            before, began = cr.sql_log_count, time.perf_counter()
            stored = Fee._read_channel_fees(env["sale.channel"].browse(channel_id))
            seconds = time.perf_counter() - began
            queries = cr.sql_log_count - before
        finally:
            type(Fee)._store_page = store_page
        cr.execute("SELECT count(*), count(sale_order_id), count(*) FILTER (WHERE state = 'unmatched') "
                   "FROM sale_channel_fee WHERE channel_id = %s", (channel_id,))
        total, linked, unmatched = cr.fetchone()
    pages = len(ozon.finance_requests) - requests
    print(f"{label}: {stored} new operations ({total} kept, {linked} linked to orders, {unmatched} unmatched) "
          f"from {pages} pages in {seconds:.2f} s ({total and stored / seconds:.0f} operations/s); "
          f"{queries} SQL queries in all; storing a page: {min(per_page, default=0)}–{max(per_page, default=0)} "
          f"queries", flush=True)


if __name__ == "__main__":
    sys.exit(main())
