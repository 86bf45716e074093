"""Push on Change, reconciliation and progress, against a fake WooCommerce."""
from datetime import timedelta

from odoo import Command, fields
from odoo.tests import TransactionCase, tagged

from .common import StockFixtures

API = "/wp-json/wc/v3"


class FakeWooCatalog:
    """A WooCommerce store's products as its REST API lists and updates them."""

    def __init__(self, store, products):
        self.products = {p["id"]: dict(p) for p in products}
        store.route("GET", f"{API}/products", handler=self.listing)
        store.route("POST", f"{API}/products/batch", handler=self.batch)
        store.route("POST", f"{API}/products/7/variations/batch", handler=self.batch)
        store.route("GET", f"{API}/products/7/variations", handler=self.variations)

    def listing(self, request):
        items = [p for p in self.products.values() if not p.get("parent_id")]
        if "sku" in request.query:
            wanted = set(request.query["sku"][0].split(","))
            items = [p for p in self.products.values() if p["sku"] in wanted]
        return 200, {"X-WP-TotalPages": "1"}, items

    def variations(self, _request):
        return 200, {"X-WP-TotalPages": "1"}, [p for p in self.products.values() if p.get("parent_id") == 7]

    def batch(self, request):
        for item in request.json()["update"]:
            self.products[item["id"]]["stock_quantity"] = item["stock_quantity"]
        return 200, {}, {"update": request.json()["update"]}


@tagged("post_install", "-at_install")
class TestStockPush(StockFixtures, TransactionCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_stock()
        cls.channel.write({"api_login": "ck", "api_secret": "cs", "warehouse_id": cls.warehouse.id,
                           "auto_process": False})
        cls.shop = cls.env["sale.channel"].create({
            "name": "Woo", "platform": "woocommerce", "api_login": "ck", "api_secret": "cs",
            "warehouse_id": cls.warehouse.id, "push_on_change": True})

    def setUp(self):
        super().setUp()
        self.store = self.start_store()
        self.shop.store_url = self.store.url
        self.woo = FakeWooCatalog(self.store, [
            {"id": 11, "sku": "SI-MUG", "type": "simple", "manage_stock": True, "stock_quantity": 20},
            {"id": 7, "sku": "SI-TEE-PARENT", "type": "variable", "manage_stock": False},
            {"id": 22, "sku": "SI-TEE", "parent_id": 7, "manage_stock": True, "stock_quantity": 9},
            {"id": 33, "sku": "ONLY-ONLINE", "type": "simple", "manage_stock": True, "stock_quantity": 3},
        ])

    def posted(self):
        return [item for call in self.store.requests if call.method == "POST" for item in call.json()["update"]]

    def last_run(self):
        return self.env["sale.channel.sync"].search([("channel_id", "=", self.shop.id)], limit=1)

    def row(self, sku):
        return self.shop.store_product_ids.filtered(lambda r: r.sku == sku)

    def test_a_stock_move_queues_its_product_and_the_push_job_sends_it_alone(self):
        self.shop._sync_stock()
        self.store.requests.clear()
        quant = self.env["stock.quant"].search(
            [("product_id", "=", self.mug.id), ("location_id", "=", self.warehouse.lot_stock_id.id)])
        quant.inventory_quantity = 14
        quant.action_apply_inventory()
        self.assertTrue(self.row("SI-MUG").push_queued, "the inventory adjustment's move queued the mug")
        self.assertFalse(self.row("SI-TEE").push_queued)
        self.assertTrue(self.env["ir.cron.trigger"].search(
            [("cron_id", "=", self.env.ref("sale_inbox.ir_cron_push_stock").id)]), "the push job is woken up")
        self.env["sale.channel"]._cron_push_stock()
        self.assertEqual([(i["id"], i["stock_quantity"]) for i in self.posted()], [(11, 14)])
        self.assertFalse(self.row("SI-MUG").push_queued)
        self.assertEqual(self.last_run().trigger, "push")
        self.assertEqual(self.last_run().api_calls, 1, "no SKU look-up, one batch request")

    def test_an_incoming_order_lowers_what_the_other_store_is_told(self):
        self.shop._sync_stock()
        self.store.requests.clear()
        self.receive(self.order_data("P-1"))  # 2 mugs and a T-shirt, sold on the Connect channel
        self.assertTrue(self.row("SI-MUG").push_queued and self.row("SI-TEE").push_queued)
        self.env["sale.channel"]._cron_push_stock()
        self.assertEqual(sorted((i["id"], i["stock_quantity"]) for i in self.posted()), [(11, 18), (22, 4)])

    def test_a_sales_order_confirmed_in_odoo_is_pushed(self):
        self.shop._sync_stock()
        self.store.requests.clear()
        order = self.env["sale.order"].create({
            "partner_id": self.env["res.partner"].create({"name": "Walk-in"}).id,
            "warehouse_id": self.warehouse.id,
            "order_line": [Command.create({"product_id": self.tee.id, "product_uom_qty": 2})]})
        order.action_confirm()
        self.env["sale.channel"]._cron_push_stock()
        self.assertEqual([(i["id"], i["stock_quantity"]) for i in self.posted()], [(22, 3)])

    def test_a_store_quotation_cancelled_frees_its_units_at_once(self):
        # A channel that makes quotations: its orders count as sold while they are drafts.
        self.channel.document_type = "quotation"
        inbox = self.receive(self.order_data("P-Q"))  # 2 mugs and a T-shirt
        inbox.action_process()
        self.assertEqual(inbox.sale_order_id.state, "draft")
        self.shop._sync_stock()
        self.assertEqual(sorted((i["id"], i["stock_quantity"]) for i in self.posted()), [(11, 18), (22, 4)])
        self.store.requests.clear()
        self.shop.store_product_ids.write({"push_queued": False})
        # No stock move says so: the cancellation itself queues the products.
        inbox.sale_order_id._action_cancel()
        self.assertTrue(self.row("SI-MUG").push_queued and self.row("SI-TEE").push_queued)
        self.env["sale.channel"]._cron_push_stock()
        self.assertEqual(sorted((i["id"], i["stock_quantity"]) for i in self.posted()), [(11, 20), (22, 5)])

    def test_nothing_is_queued_without_push_on_change(self):
        self.shop._sync_stock()
        self.shop.push_on_change = False
        self.receive(self.order_data("P-2"))
        self.assertFalse(self.shop.store_product_ids.filtered("push_queued"))

    def test_a_failed_push_is_queued_again(self):
        self.shop._sync_stock()
        self.receive(self.order_data("P-3"))
        self.store.route("POST", f"{API}/products/batch", status=503, json={"message": "down"})
        self.env["sale.channel"]._cron_push_stock()
        self.assertEqual(self.last_run().state, "failed")
        self.assertTrue(self.row("SI-MUG").push_queued, "not lost: the next push job sends it")
        self.assertEqual(self.row("SI-MUG").last_quantity, 20)
        self.assertIn("503", self.shop.last_error)
        self.store.route("POST", f"{API}/products/batch", handler=self.woo.batch)
        self.env["sale.channel"]._cron_push_stock()
        self.assertEqual(self.row("SI-MUG").last_quantity, 18)
        self.assertEqual(self.woo.products[11]["stock_quantity"], 18)

    def test_a_sync_that_fails_halfway_keeps_what_the_store_accepted(self):
        self.store.route("POST", f"{API}/products/7/variations/batch", status=500, json={"message": "boom"})
        run = self.shop._sync_stock()
        self.assertEqual((run.state, run.sent), ("failed", 1))
        self.assertEqual(self.row("SI-MUG").last_quantity, 20, "the simple products' request was accepted")
        self.assertFalse(self.row("SI-TEE").last_sync_at)
        self.assertTrue(self.row("SI-TEE").push_queued, "what was not sent waits for the push job")

    def test_reconciliation_lists_differences_and_skus_only_one_side_knows(self):
        self.env["product.product"].create({"name": "Not online", "default_code": "SI-LONELY"})
        self.shop.action_reconcile()
        rows = {r.sku: r for r in self.shop.store_product_ids}
        self.assertEqual((rows["SI-MUG"].store_quantity, rows["SI-MUG"].odoo_quantity, rows["SI-MUG"].differs),
                         (20, 20, False))
        self.assertEqual((rows["SI-TEE"].store_quantity, rows["SI-TEE"].odoo_quantity, rows["SI-TEE"].differs),
                         (9, 5, True))
        self.assertEqual((rows["SI-TEE"].remote_id, rows["SI-TEE"].remote_parent_id), ("22", "7"))
        self.assertEqual(rows["ONLY-ONLINE"].state, "not_in_odoo")
        self.assertFalse(rows["ONLY-ONLINE"].product_id)
        self.assertEqual(rows["SI-LONELY"].state, "not_in_store")
        self.assertFalse([r for r in self.store.requests if r.method == "POST"], "a reconciliation only reads")
        # The report's button sends Odoo's figure for the rows chosen.
        rows["SI-TEE"].action_push_odoo_quantity()
        self.assertEqual(self.woo.products[22]["stock_quantity"], 5)
        self.assertFalse(rows["SI-TEE"].differs)
        self.assertEqual(rows["SI-TEE"].store_quantity, 5)
        self.assertEqual(self.last_run().trigger, "reconcile")
        # A product added to Odoo later replaces the store-only row.
        self.env["product.product"].create({"name": "Now in Odoo", "default_code": "ONLY-ONLINE"})
        self.shop.action_reconcile()
        online = self.shop.store_product_ids.filtered(lambda r: r.sku == "ONLY-ONLINE")
        self.assertEqual((len(online), online.state, online.store_quantity, online.differs), (1, "mapped", 3, True))

    def test_a_running_sync_shows_its_progress_on_the_channel(self):
        run = self.env["sale.channel.sync"].create({"channel_id": self.shop.id, "progress": 40})
        self.shop.invalidate_recordset(["sync_running", "sync_progress"])
        self.assertEqual((self.shop.sync_running, self.shop.sync_progress), (True, 40))
        run.state = "done"
        self.shop.invalidate_recordset(["sync_running", "sync_progress"])
        self.assertFalse(self.shop.sync_running)
        done = self.shop._sync_stock()
        self.assertEqual(done.progress, 100)
        # A run a stopped worker left 'running' is closed by the next one, and shows no bar.
        cut = self.env["sale.channel.sync"].create({"channel_id": self.shop.id, "progress": 30})
        cut.started_at = fields.Datetime.now() - timedelta(hours=2)
        self.shop.invalidate_recordset(["sync_running"])
        self.assertFalse(self.shop.sync_running)
        self.shop._sync_stock()
        self.assertEqual(cut.state, "failed")
        self.assertIn("Interrupted", cut.message)
