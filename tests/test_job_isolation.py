"""One bad unit never holds up the others: in every job but inbox processing (which has its
own tests), one poisoned unit among good ones — a store answering 200 with an HTML page or
with nothing, a store URL without a scheme, an order the batch cannot carry, an unexpected
exception — fails on its own, with its error recorded where a merchant sees it, while the
good units finish."""
import copy
import json
import pathlib
from datetime import datetime, timedelta
from unittest.mock import patch

from odoo import fields
from odoo.tests import TransactionCase, tagged

from odoo.addons.sale_inbox.platforms.testing import FakeIdoSell

from .common import StockFixtures

DATA = pathlib.Path(__file__).resolve().parents[1] / "platforms" / "tests" / "data"
API = "/wp-json/wc/v3"
BATCH = f"{API}/orders/batch"
ORDERS = f"{API}/orders"
PRODUCTS = f"{API}/products"
#: What a WordPress site answers on a REST path when its permalinks are off, or in maintenance.
HTML = (200, {"Content-Type": "text/html; charset=UTF-8"},
        "<!DOCTYPE html><html><head><title>Shop</title></head><body>Briefly unavailable</body></html>")
#: A 200 with no body at all.
EMPTY = (200, {"Content-Type": "application/json"}, b"")
NO_SCHEME_URL = "shop.example.com"


def accept_batch(request):
    return 200, {}, {"update": [dict(item) for item in request.json()["update"]]}


class IsolationFixtures(StockFixtures):
    """WooCommerce channels, each with its own fake store (or a broken URL)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_stock()
        cls.partner = cls.env["res.partner"].create({"name": "Isolation customer"})

    def woo_channel(self, name, answers=None, store_url=None, **values):
        """A channel named so that channels are taken in the order a test creates them;
        ``answers`` ({(method, path): (status, headers, body) or handler}) programs its store."""
        store = None
        if store_url is None:
            store = self.start_store()
            store_url = store.url
            for (method, path), answer in (answers or {}).items():
                if callable(answer):
                    store.route(method, path, handler=answer)
                else:
                    store.route(method, path, responses=[answer])
        channel = self.env["sale.channel"].create(dict({
            "name": name, "platform": "woocommerce", "api_login": "ck", "api_secret": "cs",
            "store_url": store_url, "warehouse_id": self.warehouse.id, "auto_process": False}, **values))
        return channel, store


@tagged("post_install", "-at_install")
class TestOutboxIsolation(IsolationFixtures, TransactionCase):

    def messages(self, channel, external_ids, **values):
        orders = self.env["sale.order"].create([{"partner_id": self.partner.id} for _id in external_ids])
        return self.env["sale.channel.outbox"].create([
            dict({"channel_id": channel.id, "sale_order_id": order.id, "external_id": external_id,
                  "store_status": "completed"}, **values)
            for order, external_id in zip(orders, external_ids, strict=True)])

    def run_jobs(self, times):
        """The outbox job, ``times`` runs, each taking whatever is due then (a postponed
        message is made due again at once: the test does not wait for its back-off)."""
        Outbox = self.env["sale.channel.outbox"]
        for _run in range(times):
            Outbox.search([("state", "=", "pending")]).next_attempt_at = fields.Datetime.now() - timedelta(seconds=1)
            Outbox._cron_send()

    def test_a_store_answering_html_or_nothing_holds_up_no_other_store(self):
        html, _html_store = self.woo_channel("A HTML", {("POST", BATCH): HTML})
        empty, _empty_store = self.woo_channel("B Empty", {("POST", BATCH): EMPTY})
        no_scheme, _none = self.woo_channel("C No scheme", store_url=NO_SCHEME_URL)
        good, good_store = self.woo_channel("D Good", {("POST", BATCH): accept_batch})
        stuck = self.messages(html, ["101", "102"]) | self.messages(empty, ["201"]) \
            | self.messages(no_scheme, ["301"])
        healthy = self.messages(good, ["401", "402", "403"])

        self.run_jobs(3)

        calls = good_store.calls("POST", BATCH)
        self.assertEqual([[item["id"] for item in call.json()["update"]] for call in calls], [[401, 402, 403]],
                         "the healthy store hears each status once, across every run")
        self.assertEqual(set(healthy.mapped("state")), {"sent"})
        self.assertEqual(set(stuck.mapped("state")), {"pending"}, "not sent, not given up: tried again later")
        self.assertEqual(set(stuck.mapped("attempts")), {3}, "each run was one failed attempt")
        for message in stuck:
            self.assertTrue(message.last_error)
        self.assertIn("HTML", stuck[0].last_error)
        self.assertIn("empty", stuck.filtered(lambda m: m.channel_id == empty).last_error)
        self.assertIn(NO_SCHEME_URL, stuck.filtered(lambda m: m.channel_id == no_scheme).last_error)
        for channel in (html, empty, no_scheme):
            self.assertTrue(channel.last_error, f"{channel.name}: the error is shown on the channel")
            self.assertTrue(channel.last_error_date)
        self.assertFalse(good.last_error)

    def test_an_order_id_the_store_cannot_take_fails_alone_and_the_batch_goes(self):
        good, store = self.woo_channel("Woo", {("POST", BATCH): accept_batch})
        messages = self.messages(good, ["9000", "WC-9001", "9002"])
        self.env["sale.channel.outbox"]._cron_send()
        self.assertEqual([[item["id"] for item in call.json()["update"]] for call in store.calls("POST", BATCH)],
                         [[9000, 9002]])
        self.assertEqual(messages.mapped("state"), ["sent", "failed", "sent"])
        self.assertIn("WC-9001", messages[1].last_error)
        self.assertIn("WC-9001", good.last_error)

    def test_an_idosell_order_id_the_shop_cannot_take_fails_alone(self):
        store = self.start_store()
        shop = FakeIdoSell(store, [])
        channel = self.env["sale.channel"].create({
            "name": "IdoSell", "platform": "idosell", "api_secret": "ido-key", "store_url": store.url,
            "store_timezone": "Europe/Warsaw", "auto_process": False})
        messages = self.messages(channel, ["4521", "4522/B", "4523"], store_status="finished")
        self.env["sale.channel.outbox"]._cron_send()
        self.assertEqual(shop.statuses, [(4521, "finished"), (4523, "finished")])
        self.assertEqual(messages.mapped("state"), ["sent", "failed", "sent"])
        self.assertIn("4522/B", messages[1].last_error)

    def test_a_message_that_cannot_be_read_is_a_failed_attempt_of_its_own(self):
        channel, store = self.woo_channel("Woo", {("POST", BATCH): accept_batch})
        good = self.messages(channel, ["9000", "9002"])
        broken = self.messages(channel, ["9001"], delivered={"SI-MUG": "two"})
        self.env["sale.channel.outbox"]._cron_send()
        self.assertEqual([[item["id"] for item in call.json()["update"]] for call in store.calls("POST", BATCH)],
                         [[9000, 9002]])
        self.assertEqual(set(good.mapped("state")), {"sent"})
        self.assertEqual((broken.state, broken.attempts), ("pending", 1))
        self.assertTrue(broken.last_error)
        self.assertTrue(channel.last_error)

    def test_an_answer_of_another_shape_is_a_failed_attempt(self):
        odd, _store = self.woo_channel("A Odd", {("POST", BATCH): (200, {}, ["not", "an", "object"])})
        good, good_store = self.woo_channel("B Good", {("POST", BATCH): accept_batch})
        stuck = self.messages(odd, ["1"])
        healthy = self.messages(good, ["2"])
        self.env["sale.channel.outbox"]._cron_send()
        self.assertEqual((stuck.state, stuck.attempts), ("pending", 1))
        self.assertTrue(stuck.last_error)
        self.assertEqual(healthy.state, "sent")
        self.assertEqual(len(good_store.calls("POST", BATCH)), 1)


@tagged("post_install", "-at_install")
class TestPollIsolation(IsolationFixtures, TransactionCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.order_json = json.loads((DATA / "woocommerce_order.json").read_text())
        cls.watermark = datetime(2025, 3, 1)  # before the example order changed

    def order(self, external_id):
        data = copy.deepcopy(self.order_json)
        data.update(id=external_id, number=str(external_id))
        return data

    def orders_route(self, *orders):
        return {("GET", ORDERS): (200, {"X-WP-TotalPages": "1"}, [self.order(o) for o in orders])}

    def polling(self, name, answers=None, **values):
        channel, _store = self.woo_channel(name, answers, poll_orders=True, poll_watermark=self.watermark, **values)
        return channel

    def inbox(self, channel):
        return self.env["sale.inbox.order"].search([("channel_id", "=", channel.id)])

    def test_a_channel_in_error_does_not_stop_the_poll_of_the_others(self):
        no_scheme = self.polling("A No scheme", store_url=NO_SCHEME_URL)
        html = self.polling("B HTML", {("GET", ORDERS): HTML})
        good = self.polling("C Good", self.orders_route(6001, 6002))
        self.env["sale.channel"]._cron_poll_orders()
        self.assertEqual(sorted(self.inbox(good).mapped("external_id")), ["6001", "6002"])
        self.assertGreater(good.poll_watermark, self.watermark)
        self.assertIn(NO_SCHEME_URL, no_scheme.last_error)
        self.assertIn("HTML", html.last_error)
        for channel in (no_scheme, html):
            self.assertTrue(channel.last_error_date)
            self.assertEqual(channel.poll_watermark, self.watermark, "read again at the next poll")
        self.assertFalse(good.last_error)

    def test_an_unexpected_error_rolls_back_its_channel_only(self):
        """An order PostgreSQL cannot store (here: as if it held a NUL character) stops its
        channel's page, not the poll: what the page stored is undone and read again later."""
        poisoned = self.polling("A Poisoned", self.orders_route(7001, 7002))
        good = self.polling("B Good", self.orders_route(8001))
        Inbox = type(self.env["sale.inbox.order"])
        intake = Inbox._intake

        def poisoned_intake(inbox, channel, delivery, body, content_type, *args, **kwargs):
            if channel == poisoned and b"7002" in body:
                raise ValueError("A string literal cannot contain NUL (0x00) characters.")
            return intake(inbox, channel, delivery, body, content_type, *args, **kwargs)

        with patch.object(Inbox, "_intake", poisoned_intake):
            self.env["sale.channel"]._cron_poll_orders()
        self.assertEqual(self.inbox(good).mapped("external_id"), ["8001"])
        self.assertFalse(self.inbox(poisoned), "the poisoned page is undone, and read again at the next poll")
        self.assertEqual(poisoned.poll_watermark, self.watermark)
        self.assertIn("NUL", poisoned.last_error)
        self.assertTrue(poisoned.last_error_date)


@tagged("post_install", "-at_install")
class TestStockIsolation(IsolationFixtures, TransactionCase):

    def catalog(self, batch=None):
        """A store that knows the mug (11) and the T-shirt (12); ``batch`` answers its updates."""
        return {("GET", PRODUCTS): (200, {"X-WP-TotalPages": "1"}, [
                    {"id": 11, "sku": "SI-MUG", "parent_id": 0}, {"id": 12, "sku": "SI-TEE", "parent_id": 0}]),
                ("POST", f"{PRODUCTS}/batch"): batch or accept_batch}

    @staticmethod
    def pushed(store):
        return {item["id"]: item["stock_quantity"]
                for call in store.calls("POST", f"{PRODUCTS}/batch") for item in call.json()["update"]}

    def mapped_rows(self, channel):
        """The store's products as a first sync learnt them, queued for a push."""
        return self.env["sale.channel.product"].create([
            {"channel_id": channel.id, "product_id": product.id, "sku": product.default_code,
             "remote_id": remote_id, "state": "mapped", "push_queued": True}
            for product, remote_id in ((self.mug, "11"), (self.tee, "12"))])

    def last_run(self, channel):
        return self.env["sale.channel.sync"].search([("channel_id", "=", channel.id)], limit=1)

    def test_a_channel_in_error_does_not_stop_the_stock_sync_of_the_others(self):
        no_scheme, _none = self.woo_channel("A No scheme", store_url=NO_SCHEME_URL, sync_requested=True)
        html, _html_store = self.woo_channel("B HTML", {("GET", PRODUCTS): HTML}, sync_requested=True)
        odd, odd_store = self.woo_channel("C Odd answer", self.catalog(batch=(200, {}, [])), sync_requested=True)
        good, store = self.woo_channel("D Good", self.catalog(), sync_requested=True)
        self.env["sale.channel"]._cron_sync_stock()
        self.assertEqual(self.pushed(store), {11: 20, 12: 5})
        self.assertEqual(self.last_run(good).state, "done", self.last_run(good).message)
        self.assertIn(NO_SCHEME_URL, no_scheme.last_error)
        self.assertIn("HTML", html.last_error)
        self.assertTrue(odd.last_error)
        self.assertEqual(self.pushed(odd_store), {11: 20, 12: 5}, "sent, but not confirmed by the store")
        self.assertFalse(odd.store_product_ids.filtered("last_sync_at"), "nothing unconfirmed is taken as sent")
        for channel in (no_scheme, html, odd):
            run = self.last_run(channel)
            self.assertEqual(run.state, "failed", channel.name)
            self.assertTrue(run.message)
            self.assertTrue(channel.last_error_date)
        self.assertFalse((no_scheme | html | odd | good).filtered("sync_requested"),
                         "done with, failed or not: Sync Now asks again")

    def test_a_failed_push_requeues_its_rows_and_the_others_go(self):
        html, _html_store = self.woo_channel("A HTML", self.catalog(batch=HTML), push_on_change=True)
        odd, _odd_store = self.woo_channel("B Odd answer", self.catalog(batch=(200, {}, [])), push_on_change=True)
        good, store = self.woo_channel("C Good", self.catalog(), push_on_change=True)
        for channel in (html, odd, good):
            self.mapped_rows(channel)
        self.env["sale.channel"]._cron_push_stock()
        self.assertEqual(self.pushed(store), {11: 20, 12: 5})
        self.assertFalse(good.store_product_ids.filtered("push_queued"))
        for channel in (html, odd):
            self.assertEqual(channel.store_product_ids.mapped("push_queued"), [True, True],
                             f"{channel.name}: queued again for the next push")
            self.assertFalse(channel.store_product_ids.filtered("last_sync_at"))
            self.assertEqual(self.last_run(channel).state, "failed")
            self.assertTrue(channel.last_error)
            self.assertTrue(channel.last_error_date)
        self.assertIn("HTML", html.last_error)

    def test_an_unexpected_error_around_a_push_requeues_what_was_claimed(self):
        broken, _store = self.woo_channel("A Broken", self.catalog(), push_on_change=True)
        good, store = self.woo_channel("B Good", self.catalog(), push_on_change=True)
        for channel in (broken, good):
            self.mapped_rows(channel)
        Channel = type(self.env["sale.channel"])
        sync = Channel._sync_stock

        def poisoned_sync(channel, *args, **kwargs):
            if channel == broken:
                raise RuntimeError("boom")
            return sync(channel, *args, **kwargs)

        with patch.object(Channel, "_sync_stock", poisoned_sync):
            self.env["sale.channel"]._cron_push_stock()
        self.assertEqual(self.pushed(store), {11: 20, 12: 5})
        self.assertEqual(broken.store_product_ids.mapped("push_queued"), [True, True])
        self.assertIn("boom", broken.last_error)
        self.assertTrue(broken.last_error_date)
