"""Races between real transactions: committed data, separate cursors, threads.

The test transaction cannot see what these cursors commit, so each test commits its own
channel and removes everything it made afterwards.
"""
import json
import pathlib
import threading

from odoo import SUPERUSER_ID, api
from odoo.modules.registry import Registry
from odoo.service.model import retrying
from odoo.tests import BaseCase, tagged
from odoo.tests.common import get_db_name

from .common import ALLOW_PRIVATE_PARAM

DATA = pathlib.Path(__file__).resolve().parents[1] / "platforms" / "tests" / "data"


@tagged("post_install", "-at_install")
class TestConcurrentIntake(BaseCase):

    def setUp(self):
        super().setUp()
        self.registry = Registry(get_db_name())
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            channel = env["sale.channel"].create({
                "name": "Race shop", "api_key": "race-key-5d2f", "auto_process": False,
            })
            self.channel_id = channel.id
        self.addCleanup(self._cleanup)

    def _cleanup(self):
        self._cleanup_channel(self.channel_id)

    def _order(self, external_id):
        return json.dumps({
            "id": external_id, "currency": "USD", "total": 10,
            "customer": {"name": "Race"}, "lines": [{"sku": "X", "quantity": 1, "unit_price": 10}],
        }).encode()

    def test_two_deliveries_at_the_same_moment_make_one_order(self):
        results, failures = self._race(self.channel_id, self._order("race-1"))
        self.assertFalse(failures, failures)
        self.assertEqual(sorted(created for _id, created in results), [False, True])
        self.assertEqual(len({inbox_id for inbox_id, _created in results}), 1)
        with self.registry.cursor() as cr:
            cr.execute("SELECT count(*) FROM sale_inbox_order WHERE channel_id = %s", (self.channel_id,))
            self.assertEqual(cr.fetchone()[0], 1)
            cr.execute("SELECT count(*) FROM sale_inbox_delivery WHERE channel_id = %s", (self.channel_id,))
            self.assertEqual(cr.fetchone()[0], 1)

    def test_two_signed_webhooks_of_one_shopify_order_at_the_same_moment(self):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            shop = env["sale.channel"].create({
                "name": "Race Shopify", "platform": "shopify", "webhook_secret": "s", "auto_process": False,
            })
            shop_id = shop.id
        self.addCleanup(self._cleanup_channel, shop_id)
        body = (DATA / "shopify_order.json").read_bytes()
        results, failures = self._race(shop_id, body)
        self.assertFalse(failures, failures)
        self.assertEqual(sorted(created for _id, created in results), [False, True])
        with self.registry.cursor() as cr:
            cr.execute("SELECT count(*) FROM sale_inbox_order WHERE channel_id = %s", (shop_id,))
            self.assertEqual(cr.fetchone()[0], 1)

    def _race(self, channel_id, body):
        barrier = threading.Barrier(2, timeout=30)
        results, failures = [], []

        def deliver():
            try:
                with self.registry.cursor() as cr:
                    env = api.Environment(cr, SUPERUSER_ID, {})
                    cr.execute("SELECT 1 FROM sale_channel WHERE id = %s", (channel_id,))
                    barrier.wait()

                    def intake():
                        channel = env["sale.channel"].browse(channel_id)
                        inbox_id, created, _answer = env["sale.inbox.order"]._receive(
                            channel, body, "application/json")
                        return inbox_id, created

                    results.append(retrying(intake, env))
            except Exception as exc:  # noqa: BLE001
                failures.append(exc)

        threads = [threading.Thread(target=deliver) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(90)
        return results, failures

    def _cleanup_channel(self, channel_id):
        with self.registry.cursor() as cr:
            for table in ("sale_inbox_delivery", "sale_inbox_order"):
                cr.execute(f"DELETE FROM {table} WHERE channel_id = %s", (channel_id,))
            cr.execute("DELETE FROM sale_channel WHERE id = %s", (channel_id,))

    def test_workers_never_claim_the_same_order(self):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            channel = env["sale.channel"].browse(self.channel_id)
            channel.auto_process = True
            for index in range(6):
                env["sale.inbox.order"]._receive(channel, self._order(f"claim-{index}"), "application/json")
        with self.registry.cursor() as cr_a, self.registry.cursor() as cr_b:
            env_a = api.Environment(cr_a, SUPERUSER_ID, {})
            env_b = api.Environment(cr_b, SUPERUSER_ID, {})
            mine = env_a["sale.inbox.order"]._claim(limit=4)
            theirs = env_b["sale.inbox.order"]._claim(limit=4)
            mine_ids = set(mine.filtered(lambda o: o.channel_id.id == self.channel_id).ids)
            theirs_ids = set(theirs.filtered(lambda o: o.channel_id.id == self.channel_id).ids)
            self.assertTrue(mine_ids)
            self.assertFalse(mine_ids & theirs_ids, "a locked order is skipped by the other worker")
            self.assertEqual(len(mine_ids | theirs_ids), 6)
            cr_a.rollback()
            cr_b.rollback()



@tagged("post_install", "-at_install")
class TestConcurrentOutbox(BaseCase):
    """Two outbox workers on committed messages: each status is sent once, in order per order."""

    def setUp(self):
        super().setUp()
        from odoo.addons.sale_inbox.platforms.testing import FakeStore
        self.registry = Registry(get_db_name())
        self.store = FakeStore()
        self.store.start()
        self.addCleanup(self.store.stop)
        self.store.route("POST", "/wp-json/wc/v3/orders/batch", handler=lambda r: (200, {}, r.json()))
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            # The fake store is on 127.0.0.1: allowed for this test, as it was before it.
            allowed = env["ir.config_parameter"].get_param(ALLOW_PRIVATE_PARAM)
            self.addCleanup(self._set_param, ALLOW_PRIVATE_PARAM, allowed)
            env["ir.config_parameter"].set_param(ALLOW_PRIVATE_PARAM, "True")
            channel = env["sale.channel"].create({
                "name": "Race outbox", "platform": "woocommerce", "store_url": self.store.url, "api_login": "k",
                "api_secret": "s", "auto_process": False})
            partner = env["res.partner"].create({"name": "Race outbox customer"})
            orders = env["sale.order"].create([{"partner_id": partner.id} for _ in range(20)])
            env["sale.channel.outbox"].create([
                {"channel_id": channel.id, "sale_order_id": order.id, "external_id": str(order.id),
                 "store_status": status}
                for order in orders for status in ("processing", "completed")])
            self.channel_id, self.order_ids, self.partner_id = channel.id, orders.ids, partner.id
        self.addCleanup(self._cleanup)

    def _set_param(self, key, value):
        with self.registry.cursor() as cr:
            api.Environment(cr, SUPERUSER_ID, {})["ir.config_parameter"].set_param(key, value)

    def _cleanup(self):
        with self.registry.cursor() as cr:
            cr.execute("DELETE FROM sale_channel_outbox WHERE channel_id = %s", (self.channel_id,))
            cr.execute("DELETE FROM sale_order WHERE id = ANY(%s)", (self.order_ids,))
            cr.execute("DELETE FROM res_partner WHERE id = %s", (self.partner_id,))
            cr.execute("DELETE FROM sale_channel WHERE id = %s", (self.channel_id,))

    def test_two_workers_send_each_status_once_and_in_order(self):
        errors = []

        def worker():
            threading.current_thread().testing = False  # a cron worker: it commits each round
            try:
                with self.registry.cursor() as cr:
                    env = api.Environment(cr, SUPERUSER_ID, {})
                    env["sale.channel.outbox"]._cron_send(time_budget=60)
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertFalse(errors, errors)
        items = [item for call in self.store.calls("POST", "/wp-json/wc/v3/orders/batch")
                 for item in call.json()["update"]]
        self.assertEqual(len(items), 40, "each message once")
        per_order = {}
        for item in items:
            per_order.setdefault(item["id"], []).append(item["status"])
        self.assertEqual(set(map(tuple, per_order.values())), {("processing", "completed")})
        with self.registry.cursor() as cr:
            cr.execute("SELECT state, count(*) FROM sale_channel_outbox WHERE channel_id = %s GROUP BY state",
                       (self.channel_id,))
            self.assertEqual(dict(cr.fetchall()), {"sent": 40})
