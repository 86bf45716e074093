"""Live progress on the bus (Sync Now, Reconcile Stock, Import Orders) against fake stores, who
may follow it, and the Store Products report right after a sync."""
import copy
import json
import pathlib
from unittest.mock import patch

from lxml import etree

from odoo import Command
from odoo.exceptions import UserError
from odoo.tests import TransactionCase, new_test_user, tagged

from odoo.addons.sale_inbox.platforms.testing import FakeStore

from .common import StockFixtures, StoreChannelFixtures
from .test_stock_push import API, FakeWooCatalog

DATA = pathlib.Path(__file__).resolve().parents[1] / "platforms" / "tests" / "data"


class ProgressMessages:
    """The progress messages a channel's browsers are sent, in order, since the last call."""

    def progress(self, channel):
        # The bus writes its rows when the transaction commits; a test transaction never does.
        self.env.cr.precommit.run()
        target = json.dumps([self.env.cr.dbname, "sale.channel", channel.id, "sale_inbox_progress"],
                            separators=(",", ":"))
        seen = getattr(self, "_seen", {})
        rows = self.env["bus.bus"].sudo().search(
            [("channel", "=", target), ("id", ">", seen.get(channel.id, 0))], order="id")
        self._seen = {**seen, channel.id: rows[-1:].id or seen.get(channel.id, 0)}
        messages = [json.loads(row.message) for row in rows]
        self.assertEqual({m["type"] for m in messages} - {"sale_inbox/progress"}, set())
        return [m["payload"] for m in messages]


@tagged("post_install", "-at_install")
class TestStockProgress(ProgressMessages, StockFixtures, TransactionCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_stock()
        cls.shop = cls.env["sale.channel"].create({
            "name": "Woo", "platform": "woocommerce", "api_login": "ck", "api_secret": "cs",
            "warehouse_id": cls.warehouse.id})

    def setUp(self):
        super().setUp()
        self.store = self.start_store()
        self.shop.store_url = self.store.url
        self.woo = FakeWooCatalog(self.store, [
            {"id": 11, "sku": "SI-MUG", "type": "simple", "manage_stock": True, "stock_quantity": 3},
            {"id": 7, "sku": "SI-TEE-PARENT", "type": "variable", "manage_stock": False},
            {"id": 22, "sku": "SI-TEE", "parent_id": 7, "manage_stock": True, "stock_quantity": 9},
        ])

    def sync_now(self):
        self.shop.action_sync_now()
        self.env["sale.channel"]._cron_sync_stock()

    def test_store_products_show_what_the_sync_sent(self):
        self.sync_now()
        self.assertEqual((self.woo.products[11]["stock_quantity"], self.woo.products[22]["stock_quantity"]), (20, 5))
        # The report as a person opens it from the channel: its visible columns, read as the
        # list reads them.
        action = self.shop.action_view_store_products()
        arch = self.env["sale.channel.product"].get_views([(False, "list")])["views"]["list"]["arch"]
        shown = [node.get("name") for node in etree.fromstring(arch).iter("field")
                 if node.get("optional") != "hide" and node.get("column_invisible") not in ("1", "True")]
        rows = {row["sku"]: row for row in self.env["sale.channel.product"].search_read(action["domain"], shown)}
        self.assertEqual((rows["SI-MUG"]["store_quantity"], rows["SI-MUG"]["odoo_quantity"]), (20, 20))
        self.assertEqual((rows["SI-TEE"]["store_quantity"], rows["SI-TEE"]["odoo_quantity"]), (5, 5))
        self.assertEqual(rows["SI-MUG"]["last_quantity"], 20, "the quantity last sent is a visible column")
        self.assertTrue(rows["SI-MUG"]["last_sync_at"])
        self.assertFalse(rows["SI-MUG"]["differs"])

    def test_sync_now_publishes_its_progress_batch_by_batch(self):
        self.shop.action_sync_now()
        self.assertEqual([(m["kind"], m["state"]) for m in self.progress(self.shop)], [("sync", "queued")])
        self.env["sale.channel"]._cron_sync_stock()
        messages = self.progress(self.shop)
        # Products and variations are two WooCommerce batches: one message each, not per product.
        self.assertEqual([(m["state"], m["done"], m["total"]) for m in messages], [
            ("running", 0, 0), ("running", 0, 2), ("running", 1, 2), ("running", 2, 2), ("done", 2, 2)])
        self.assertIn("2 sent, 0 refused", messages[-1]["message"])
        self.assertEqual({m["channel_id"] for m in messages}, {self.shop.id})

    def test_a_failing_batch_publishes_the_error_and_the_other_channels_go_on(self):
        other_store = self.start_store()
        other = self.shop.copy({"name": "Woo 2", "store_url": other_store.url, "api_login": "ck",
                                "api_secret": "cs"})
        FakeWooCatalog(other_store, [{"id": 11, "sku": "SI-MUG", "type": "simple", "manage_stock": True}])
        # The first store answers its first batch with a page of HTML.
        self.store.route("POST", f"{API}/products/batch",
                         responses=[(200, {"Content-Type": "text/html"}, b"<html>Maintenance</html>")])
        (self.shop | other).action_sync_now()
        self.env["sale.channel"]._cron_sync_stock()
        failed = self.progress(self.shop)[-1]
        self.assertEqual(failed["state"], "failed")
        self.assertTrue(failed["message"])
        self.assertEqual(failed["message"], self.shop.sync_ids[:1].message, "the error the run records")
        self.assertEqual(self.progress(other)[-1]["state"], "done")
        self.assertEqual(other.store_product_ids.filtered(lambda r: r.sku == "SI-MUG").last_quantity, 20)

    def test_a_sync_that_breaks_before_its_run_says_so_and_the_next_channel_goes(self):
        other_store = self.start_store()
        other = self.shop.copy({"name": "Woo 2", "store_url": other_store.url, "api_login": "ck",
                                "api_secret": "cs"})
        FakeWooCatalog(other_store, [{"id": 11, "sku": "SI-MUG", "type": "simple", "manage_stock": True}])
        Channel = type(self.env["sale.channel"])
        close_runs = Channel._close_interrupted_runs

        def broken_for_the_first(channel):
            if channel == self.shop:
                raise ZeroDivisionError("division by zero")
            return close_runs(channel)

        (self.shop | other).action_sync_now()
        with patch.object(Channel, "_close_interrupted_runs", broken_for_the_first):
            self.env["sale.channel"]._cron_sync_stock()
        failed = self.progress(self.shop)[-1]
        self.assertEqual((failed["state"], failed["message"]), ("failed", "ZeroDivisionError: division by zero"))
        self.assertEqual(self.shop.last_error, "ZeroDivisionError: division by zero")
        self.assertEqual(self.progress(other)[-1]["state"], "done")
        self.assertEqual(other.store_product_ids.filtered(lambda r: r.sku == "SI-MUG").last_quantity, 20)

    def test_reconcile_publishes_each_page_read_then_the_differences(self):
        self.shop.action_reconcile()
        messages = self.progress(self.shop)
        self.assertEqual([m["kind"] for m in messages], ["reconcile"] * len(messages))
        self.assertEqual(messages[0]["state"], "running")
        pages = [m for m in messages if m["state"] == "running" and m["done"]]
        self.assertTrue(pages, "one message per page read")
        self.assertEqual([m["done"] for m in pages], list(range(1, len(pages) + 1)))
        self.assertEqual(messages[-1]["state"], "done")
        self.assertIn("2 differ", messages[-1]["message"], "the mug (3 against 20) and the T-shirt (9 against 5)")

    def test_a_reconciliation_the_store_refuses_publishes_why(self):
        self.store.route("GET", f"{API}/products", status=401, json={"message": "Invalid signature"})
        # Not assertRaises: its savepoint would take back the messages with the failed work,
        # where a server commits them on their own (tested by test_live_websocket).
        refused = None
        try:
            self.shop.action_reconcile()
        except UserError as exc:
            refused = exc
        self.assertIn("Invalid signature", str(refused))
        last = self.progress(self.shop)[-1]
        self.assertEqual(last["state"], "failed")
        self.assertIn("Invalid signature", last["message"])


@tagged("post_install", "-at_install")
class TestImportProgress(ProgressMessages, StoreChannelFixtures, TransactionCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_store("shopify", name="Shopify", webhook_secret="s", api_secret="shpat_token",
                        store_url="https://anna.myshopify.com")
        cls.order_json = json.loads((DATA / "shopify_order.json").read_text())

    def test_import_orders_publishes_each_page_and_the_counts(self):
        other = copy.deepcopy(self.order_json)
        other.update(id=5550001110000, name="#1041")
        with FakeStore() as store:
            store.route("GET", "/admin/api/2025-01/orders.json", json={"orders": [self.order_json, other]})
            self.channel.store_url = store.url
            wizard = self.env["sale.channel.import"].create({"channel_id": self.channel.id, "days": 30})
            wizard.action_import()
        messages = self.progress(self.channel)
        self.assertEqual([(m["kind"], m["state"], m["done"]) for m in messages],
                         [("import", "running", 0), ("import", "running", 1), ("import", "done", 0)])
        self.assertIn("2 new orders", messages[1]["message"])
        self.assertIn("2 new orders imported", messages[-1]["message"])


@tagged("post_install", "-at_install")
class TestWhoFollowsProgress(StockFixtures, TransactionCase):
    """A browser asks for a channel's progress by its id; only a user who may read that channel
    is given it."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_inbox()
        env = cls.env
        cls.user = new_test_user(env, "progress_user", groups="sale_inbox.group_sale_inbox_user")
        cls.salesman = new_test_user(env, "progress_salesman", groups="sales_team.group_sale_salesman")
        cls.company_two = env["res.company"].create({"name": "Company Two"})
        cls.user_two = new_test_user(env, "progress_user_two", groups="sale_inbox.group_sale_inbox_user",
                                     company_id=cls.company_two.id, company_ids=[Command.set(cls.company_two.ids)])

    def granted(self, user):
        asked = [f"sale_inbox_progress:{self.channel.id}", "sale_inbox_progress:999999999", "broadcast"]
        return self.env["ir.websocket"].with_user(user)._sale_inbox_progress_channels(asked)

    def test_only_readers_of_the_channel_get_its_progress(self):
        self.assertEqual(self.granted(self.user), [(self.channel, "sale_inbox_progress")])
        self.assertEqual(self.granted(self.user_two), [], "another company's user")
        self.assertEqual(self.granted(self.salesman), [], "not a Sales Inbox user")
        self.assertEqual(self.granted(self.env.ref("base.public_user")), [])
