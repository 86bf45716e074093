"""Ozon stock and prices per store warehouse, against the fake Ozon over real HTTP.

The fake keeps Ozon's limits on its own clock; "time passing" is done by moving the stored
times of both sides back (``age``), so that no test sleeps."""
import json
from datetime import timedelta
from math import ceil

from odoo import Command, fields
from odoo.exceptions import AccessError
from odoo.tests import TransactionCase, new_test_user, tagged

from odoo.addons.sale_inbox.platforms.ozon.fake import FakeOzon
from odoo.addons.sale_inbox.platforms.ozon.stock import PRICES, STOCKS

from .common import StockFixtures

REFS = ("22000000000001", "22000000000002", "22000000000003")


@tagged("post_install", "-at_install")
class TestOzonStock(StockFixtures, TransactionCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_stock()
        Warehouse = cls.env["stock.warehouse"]
        cls.wh_b = Warehouse.create({"name": "Ozon Stock B", "code": "OZB", "company_id": cls.company.id})
        cls.wh_c = Warehouse.create({"name": "Ozon Stock C", "code": "OZC", "company_id": cls.company.id})
        Quant = cls.env["stock.quant"]
        Quant._update_available_quantity(cls.mug, cls.wh_b.lot_stock_id, 4)
        Quant._update_available_quantity(cls.tee, cls.wh_c.lot_stock_id, 7)
        cls.channel_ozon = cls.env["sale.channel"].create({
            "name": "Ozon", "platform": "ozon", "api_login": "123456", "api_secret": "ozon-key",
            "warehouse_id": cls.warehouse.id})
        cls.store_warehouses = cls.env["sale.channel.warehouse"].create([
            {"channel_id": cls.channel_ozon.id, "ref": REFS[0], "name": "FBS One", "warehouse_id": cls.warehouse.id},
            {"channel_id": cls.channel_ozon.id, "ref": REFS[1], "name": "FBS Two", "warehouse_id": cls.wh_b.id},
            {"channel_id": cls.channel_ozon.id, "ref": REFS[2], "name": "FBS Three", "warehouse_id": cls.wh_c.id},
        ])

    def setUp(self):
        super().setUp()
        self.store = self.start_store()
        self.channel_ozon.store_url = self.store.url
        self.ozon = FakeOzon(self.store)
        self.ozon.warehouses[:] = [{"warehouse_id": int(ref), "name": f"FBS {n}", "is_rfbs": False,
                                    "status": "created"} for n, ref in enumerate(REFS, start=1)]
        for sku in ("SI-MUG", "SI-TEE"):
            self.ozon.add_product(sku)

    # -- helpers -------------------------------------------------------------------------------
    def sync(self, **kwargs):
        run = self.channel_ozon._sync_stock(**kwargs)
        self.assertEqual(run.state, "done", run.message)
        return run

    def free(self, sku):
        return tuple(self.ozon.free(sku, int(ref)) for ref in REFS)

    def pair(self, sku, ref):
        return self.env["sale.channel.product.stock"].search(
            [("sku", "=", sku), ("store_warehouse_id.ref", "=", ref), ("channel_id", "=", self.channel_ozon.id)])

    def row(self, sku):
        return self.channel_ozon.store_product_ids.filtered(lambda r: r.sku == sku)

    def stock_calls(self):
        return self.store.calls("POST", STOCKS)

    def age(self, seconds):
        """Time passes: every stored time of both sides moves back ``seconds``."""
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE sale_channel_product_stock SET last_sent_at = last_sent_at - %s, last_sync_at = last_sync_at - %s",
            (timedelta(seconds=seconds), timedelta(seconds=seconds)))
        self.env.invalidate_all()
        for key, moment in list(self.ozon.stock_updated_at.items()):
            self.ozon.stock_updated_at[key] = moment - timedelta(seconds=seconds)
        for path, hits in list(self.ozon._hits.items()):
            self.ozon._hits[path] = [moment - timedelta(seconds=seconds) for moment in hits]

    def inbox_order(self, number, lines, **order):
        """An Ozon order waiting in the inbox (not yet a sales order), as read from Ozon."""
        normalized = dict(order, external_id=number, currency=self.currency.name, total=0,
                          lines=[{"sku": sku, "name": sku, "quantity": qty, "unit_price": 0} for sku, qty in lines])
        return self.env["sale.inbox.order"].create({
            "name": number, "external_id": number, "channel_id": self.channel_ozon.id,
            "company_id": self.company.id, "received_at": fields.Datetime.now(), "state": "needs_review",
            "normalized": json.dumps(normalized)})

    def single_warehouse_with_prices(self):
        """The channel sends to Ozon's only warehouse (no store warehouse mapped), with prices
        (from the products' sales prices), and has sent everything once."""
        self.store_warehouses.active = False
        self.ozon.warehouses[1:] = []
        self.channel_ozon.write({"sync_prices": True, "sync_pricelist_id": False, "pricelist_id": False})
        self.sync()
        self.assertEqual((self.ozon.free("SI-MUG", int(REFS[0])), self.ozon.products["SI-MUG"]["price"]),
                         (20, "12.50"))

    def set_quantity(self, product, warehouse, quantity):
        self.env["stock.quant"]._update_available_quantity(
            product, warehouse.lot_stock_id, quantity - product.with_context(warehouse_id=warehouse.id).qty_available)

    # -- tests ---------------------------------------------------------------------------------
    def test_each_warehouse_gets_its_own_quantity_in_requests_of_100_pairs(self):
        products = self.env["product.product"].create([
            {"name": f"Ozon bulk {n}", "default_code": f"OZ-{n:03}", "is_storable": True} for n in range(50)])
        for n, product in enumerate(products):
            self.ozon.add_product(product.default_code)
            if n:
                self.env["stock.quant"]._update_available_quantity(product, self.wh_b.lot_stock_id, n)
        run = self.sync()
        pairs = 52 * 3
        self.assertEqual((run.changed, run.sent, run.failed), (pairs, pairs, 0))
        self.assertEqual(len(self.stock_calls()), ceil(pairs / 100))
        self.assertEqual([len(c.json()["stocks"]) for c in self.stock_calls()], [100, 56])
        self.assertEqual(self.free("SI-MUG"), (20, 4, 0))
        self.assertEqual(self.free("SI-TEE"), (5, 0, 7))
        self.assertEqual(self.free("OZ-049"), (0, 49, 0))
        self.assertEqual(self.stock_calls()[0].json()["stocks"][0]["warehouse_id"], int(REFS[0]))
        mug = self.row("SI-MUG")
        self.assertEqual((mug.last_quantity, mug.state, mug.last_error), (24, "mapped", False))
        self.assertEqual(len(mug.stock_ids), 3)
        self.assertEqual(set(mug.stock_ids.mapped("state")), {"sent"})
        # Nothing changed: nothing sent, not even after 30 s.
        self.age(40)
        self.store.requests.clear()
        run = self.sync()
        self.assertEqual((run.changed, run.sent, len(self.stock_calls())), (0, 0, 0))
        self.assertFalse(self.ozon.refused)

    def test_the_formula_per_store_warehouse(self):
        # Store warehouse one sums the main warehouse and B; the channel keeps 2 back, sends 0
        # under 3, at most 10.
        self.store_warehouses[0].stock_warehouse_ids = [Command.set((self.warehouse | self.wh_b).ids)]
        self.channel_ozon.write({"stock_reserve": 2, "stock_threshold": 3, "stock_cap": 10})
        self.sync()
        # Mug: 20 + 4 - 2 = 22, capped at 10; B alone 4 - 2 = 2 < 3: 0; C: nothing.
        self.assertEqual(self.free("SI-MUG"), (10, 0, 0))
        # T-shirt: 5 - 2 = 3 (not under 3); C: 7 - 2 = 5.
        self.assertEqual(self.free("SI-TEE"), (3, 0, 5))
        # The channel's "Check a Product" says it per store warehouse.
        self.channel_ozon.stock_preview_product_id = self.mug
        preview = self.channel_ozon.stock_preview.splitlines()
        self.assertEqual(len(preview), 3)
        self.assertTrue(preview[0].startswith("FBS One: "), preview[0])
        self.assertIn("Sent to the store: 10", preview[0])
        self.assertIn("Sent to the store: 0", preview[1])

    def test_a_pair_changed_within_30_seconds_waits_for_a_later_run(self):
        self.sync()
        self.set_quantity(self.mug, self.warehouse, 15)
        self.store.requests.clear()
        run = self.sync()
        self.assertEqual((run.sent, run.waiting, len(self.stock_calls())), (0, 1, 0),
                         "not sent again within 30 s")
        self.assertIn("wait", run.message)
        self.assertEqual(self.free("SI-MUG")[0], 20)
        self.age(31)
        run = self.sync()
        self.assertEqual((run.sent, run.waiting), (1, 0))
        self.assertEqual(self.free("SI-MUG")[0], 15)
        self.assertFalse(self.ozon.refused)

    def test_ozons_too_frequently_is_a_wait_not_a_failure(self):
        # Another program updated the pair a moment ago: Ozon answers TOO_MANY_REQUESTS.
        self.ozon.stock_updated_at[("SI-TEE", int(REFS[2]))] = self.ozon.now()
        run = self.sync()
        self.assertEqual((run.sent, run.failed, run.waiting), (5, 0, 1))
        pair = self.pair("SI-TEE", REFS[2])
        self.assertEqual(pair.state, "waiting")
        self.assertIn("too frequently", pair.last_error)
        self.assertFalse(self.row("SI-TEE").last_error, "a wait is no error of the product")
        self.age(31)
        run = self.sync()
        self.assertEqual((run.sent, run.waiting), (1, 0))
        self.assertEqual(self.free("SI-TEE"), (5, 0, 7))

    def test_per_item_errors_are_recorded_per_pair_and_product(self):
        extra = self.env["product.product"].create(
            {"name": "No price yet", "default_code": "OZ-NOPRICE", "is_storable": True})
        self.ozon.add_product("OZ-NOPRICE", price=None)
        self.ozon.warehouses[:] = self.ozon.warehouses[:2]  # Ozon no longer has warehouse three
        self.sync()
        tee = self.pair("SI-TEE", REFS[2])
        self.assertEqual(tee.state, "refused")
        self.assertIn("WAREHOUSE_NOT_FOUND", tee.last_error)
        self.assertIn("FBS Three: WAREHOUSE_NOT_FOUND", self.row("SI-TEE").last_error)
        self.assertEqual(self.pair("SI-TEE", REFS[0]).state, "sent", "the good pairs of the request are kept")
        self.assertEqual(self.free("SI-TEE")[:2], (5, 0))
        self.assertIn("PRICE_IS_NOT_SENT", self.pair("OZ-NOPRICE", REFS[0]).last_error)
        self.assertEqual(self.row("OZ-NOPRICE").product_id, extra)
        # A product Ozon no longer has: not in the store, not sent again until looked up.
        del self.ozon.products["SI-MUG"]
        self.set_quantity(self.mug, self.warehouse, 12)
        self.age(31)
        run = self.sync(trigger="daily")
        self.assertEqual(self.row("SI-MUG").state, "not_in_store")
        self.assertIn("offer_id_not_found", self.row("SI-MUG").last_error)
        self.assertIn("SI-MUG", run.message)

    def test_a_poisoned_request_fails_alone(self):
        products = self.env["product.product"].create([
            {"name": f"Ozon bulk {n}", "default_code": f"OZ-{n:03}", "is_storable": True} for n in range(40)])
        for product in products:
            self.ozon.add_product(product.default_code)
        # 42 products, 126 pairs in SKU order: the first request (OZ-000 to OZ-033) is answered
        # with an HTML page, the second (26 pairs) is fine.
        self.ozon.poisoned = {"OZ-000"}
        run = self.sync()
        self.assertEqual(len(self.stock_calls()), 2)
        self.assertEqual((run.sent, run.failed), (26, 100))
        self.assertIn("Requests that failed (1)", run.message)
        self.assertEqual(self.pair("OZ-000", REFS[0]).state, "refused")
        self.assertTrue(self.row("OZ-000").last_error)
        self.assertEqual(self.pair("SI-TEE", REFS[2]).state, "sent")
        self.assertEqual(self.free("SI-TEE"), (5, 0, 7))
        # Retryable: the next run sends what failed (it is still a change).
        self.ozon.poisoned = set()
        self.age(31)
        run = self.sync()
        self.assertEqual((run.sent, run.failed), (100, 0))
        self.assertEqual(self.pair("OZ-000", REFS[0]).state, "sent")

    def test_prices_beyond_10_changes_an_hour_wait(self):
        self.channel_ozon.write({"sync_prices": True, "sync_pricelist_id": False, "pricelist_id": False})
        for n in range(1, 11):
            self.mug.list_price = 10 + n
            run = self.sync(trigger="daily")
            self.assertEqual(run.waiting, 0)
        self.assertEqual(self.ozon.products["SI-MUG"]["price"], "20.00")
        self.assertEqual(len(self.store.calls("POST", PRICES)), 10)
        body = self.store.calls("POST", PRICES)[0].json()["prices"]
        self.assertEqual({p["offer_id"] for p in body}, {"SI-MUG", "SI-TEE"})
        self.assertTrue(all(isinstance(p["price"], str) and "." in p["price"] for p in body))
        self.assertEqual(body[0]["currency_code"], self.channel_ozon._store_currency().name)
        self.mug.list_price = 99
        run = self.sync(trigger="daily")
        self.assertEqual((run.waiting, run.failed), (1, 0), "the 11th change of the hour waits")
        self.assertEqual(len(self.store.calls("POST", PRICES)), 10, "not even asked")
        self.assertEqual(self.ozon.products["SI-MUG"]["price"], "20.00")
        # An hour later it goes.
        row = self.row("SI-MUG")
        hour = timedelta(hours=1, seconds=1)
        row.price_changed_at = " ".join(
            (fields.Datetime.to_datetime(t.replace("T", " ")) - hour).strftime("%Y-%m-%dT%H:%M:%S")
            for t in row.price_changed_at.split())
        self.ozon.price_changes["SI-MUG"] = [t - hour for t in self.ozon.price_changes["SI-MUG"]]
        run = self.sync(trigger="daily")
        self.assertEqual((run.waiting, self.ozon.products["SI-MUG"]["price"]), (0, "99.00"))

    def test_ozons_price_limit_answer_is_a_wait(self):
        self.channel_ozon.write({"sync_prices": True})
        now = self.ozon.now()
        self.ozon.price_changes["SI-TEE"] = [now] * 10  # changed 10 times this hour elsewhere
        run = self.sync()
        self.assertEqual((run.waiting, run.failed), (1, 0))
        self.assertFalse(self.row("SI-TEE").last_price_at)
        self.assertTrue(self.row("SI-MUG").last_price_at)

    def test_reconciliation_fills_the_report_per_warehouse(self):
        self.ozon.set_stock("SI-MUG", int(REFS[0]), 25, 3)  # 22 free, Odoo: 20
        self.ozon.set_stock("SI-MUG", int(REFS[1]), 4, 0)
        self.ozon.set_stock("SI-TEE", int(REFS[2]), 7, 0)
        self.ozon.set_stock("SI-TEE", int(REFS[0]), 5, 0)
        self.channel_ozon.action_reconcile()
        mug = self.pair("SI-MUG", REFS[0])
        self.assertEqual((mug.store_present, mug.store_reserved, mug.store_quantity, mug.odoo_quantity, mug.differs),
                         (25, 3, 22, 20, True))
        self.assertFalse(self.pair("SI-MUG", REFS[1]).differs)
        self.assertEqual((self.row("SI-MUG").store_quantity, self.row("SI-MUG").odoo_quantity), (26, 24))
        self.assertTrue(self.row("SI-MUG").differs)
        self.assertFalse(self.row("SI-TEE").differs)
        action = self.row("SI-MUG").action_view_warehouse_stock()
        self.assertEqual(len(self.env[action["res_model"]].search(action["domain"])), 3)
        self.row("SI-MUG").action_push_odoo_quantity()
        self.assertEqual(self.free("SI-MUG"), (20, 4, 0))

    def test_an_ozon_channel_without_mapped_warehouses_sends_to_its_only_one(self):
        self.store_warehouses.active = False
        self.ozon.warehouses[1:] = []
        run = self.sync()
        self.assertEqual(run.sent, 2)
        self.assertEqual(self.ozon.free("SI-MUG", int(REFS[0])), 20)

    def test_a_sales_inbox_user_cannot_change_stock_settings_or_sync(self):
        user = new_test_user(self.env, "ozon_stock_user", groups="sale_inbox.group_sale_inbox_user")
        self.sync()
        warehouse = self.store_warehouses[0].with_user(user)
        self.assertEqual(warehouse.warehouse_id, self.warehouse, "a user reads the mapping")
        with self.assertRaises(AccessError):
            warehouse.write({"stock_warehouse_ids": [Command.set(self.wh_b.ids)]})
        with self.assertRaises(AccessError):
            self.channel_ozon.with_user(user).write({"stock_reserve": 5})
        with self.assertRaises(AccessError):
            self.channel_ozon.with_user(user).action_sync_now()
        pair = self.pair("SI-MUG", REFS[0]).with_user(user)
        self.assertEqual(pair.last_quantity, 20, "a user reads the figures")
        with self.assertRaises(AccessError):
            pair.write({"last_quantity": 1})
        with self.assertRaises(AccessError):
            pair.action_push_odoo_quantity()
        with self.assertRaises(AccessError):
            self.row("SI-MUG").with_user(user).action_push_odoo_quantity()

    def test_a_waiting_pair_is_queued_again_for_push_on_change(self):
        self.channel_ozon.push_on_change = True
        self.sync()
        self.set_quantity(self.tee, self.wh_c, 2)
        row = self.row("SI-TEE")
        row.push_queued = False
        self.env["sale.channel"]._cron_push_stock()  # nothing queued: nothing sent
        row.push_queued = True
        self.env["sale.channel"]._cron_push_stock()
        self.assertEqual(self.free("SI-TEE")[2], 7, "sent less than 30 s ago: waits")
        self.assertTrue(row.push_queued, "queued again for the push job's next run")
        self.age(31)
        self.env["sale.channel"]._cron_push_stock()
        self.assertEqual(self.free("SI-TEE")[2], 2)
        self.assertFalse(row.push_queued)

    def test_the_sync_job_goes_on_past_a_broken_ozon_channel(self):
        broken = self.channel_ozon.copy({"name": "Ozon broken", "api_login": "999", "api_secret": "wrong",
                                         "store_url": self.store.url})
        self.env["sale.channel.warehouse"].create(
            {"channel_id": broken.id, "ref": REFS[0], "name": "FBS One", "warehouse_id": self.warehouse.id})
        (self.channel_ozon | broken).write({"state": "connected", "sync_requested": True})
        self.env["sale.channel"]._cron_sync_stock()
        good_run = self.channel_ozon.sync_ids[:1]
        self.assertEqual((good_run.state, good_run.sent), ("done", 6))
        bad_run = broken.sync_ids[:1]
        self.assertEqual(bad_run.state, "failed")
        self.assertTrue(broken.last_error, "the broken channel shows why")
        self.assertFalse(broken.sync_requested, "not repeated at every cron run")

    def test_inbox_orders_count_at_the_store_warehouse_they_ship_from(self):
        fbo = self.env["stock.warehouse"].create({"name": "Ozon FBO", "code": "OZF", "company_id": self.company.id})
        self.channel_ozon.fbo_warehouse_id = fbo
        self.inbox_order("OZ-1-1", [("SI-MUG", 3)], warehouse_ref=REFS[1])
        self.inbox_order("OZ-2-1", [("SI-TEE", 2)], warehouse_ref=REFS[2])
        # Fulfilled by Ozon from its own warehouse: none of the merchant's stock is sold.
        self.inbox_order("OZ-3-1", [("SI-TEE", 4), ("SI-MUG", 6)], fulfilled_by="marketplace")
        self.sync()
        self.assertEqual(self.free("SI-MUG"), (20, 1, 0))
        self.assertEqual(self.free("SI-TEE"), (5, 0, 5))
        # A store warehouse not mapped to the warehouse its orders ship from yet: its order
        # counts where its stock is taken from.
        self.store_warehouses[2].write({"warehouse_id": False, "stock_warehouse_ids": [Command.set(self.wh_c.ids)]})
        self.inbox_order("OZ-4-1", [("SI-TEE", 1)], warehouse_ref=REFS[2])
        Stock = self.env["sale.channel.stock"]
        self.assertEqual(Stock._available(self.channel_ozon, self.tee.ids, warehouses=self.wh_c)[self.tee.id], 4)
        self.assertEqual(Stock._available(self.channel_ozon, self.tee.ids, warehouses=self.warehouse)[self.tee.id], 5)

    def test_a_quotation_its_marketplace_cancelled_holds_stock_until_the_goods_are_back(self):
        so = self.env["sale.order"].create({
            "partner_id": self.env["res.partner"].create({"name": "Ozon"}).id, "warehouse_id": self.warehouse.id,
            "channel_id": self.channel_ozon.id,
            "order_line": [Command.create({"product_id": self.mug.id, "product_uom_qty": 2})]})
        inbox = self.inbox_order("OZ-5-1", [("SI-MUG", 2)], warehouse_ref=REFS[0])
        inbox.write({"sale_order_id": so.id, "state": "done"})
        cancellation = self.env["sale.inbox.cancellation"].create({
            "name": "OZ-5-1", "channel_id": self.channel_ozon.id, "inbox_order_id": inbox.id,
            "sale_order_id": so.id, "goods_left": True, "cancelled_after_ship": True, "action": "waiting"})
        Stock = self.env["sale.channel.stock"]

        def mugs():
            return Stock._available(self.channel_ozon, self.mug.ids, warehouses=self.warehouse)[self.mug.id]

        self.assertEqual(mugs(), 18, "the goods are not back yet: the quotation still holds them")
        cancellation.action_goods_returned()
        self.assertEqual((cancellation.action, so.state), ("returned", "draft"))
        self.assertEqual(mugs(), 20, "back: the quotation holds nothing")

    def test_a_price_at_ozons_hourly_limit_does_not_hold_back_the_quantity(self):
        self.single_warehouse_with_prices()
        self.ozon.price_changes["SI-MUG"] = [self.ozon.now()] * 10  # changed 10 times this hour elsewhere
        self.mug.list_price = 15
        self.set_quantity(self.mug, self.warehouse, 0)
        self.age(61)  # (Ozon lists its warehouses once a minute)
        run = self.sync()
        self.assertEqual(self.ozon.free("SI-MUG", int(REFS[0])), 0, "sold out: sent at once")
        self.assertEqual(self.ozon.products["SI-MUG"]["price"], "12.50")
        row = self.row("SI-MUG")
        self.assertEqual((run.failed, run.waiting, row.last_quantity, row.last_price), (0, 1, 0, 12.5))
        self.assertFalse(row.last_error)
        # The limit passed: the price goes with the next run.
        self.ozon.price_changes["SI-MUG"] = []
        self.age(61)
        run = self.sync()
        self.assertEqual((run.waiting, self.ozon.products["SI-MUG"]["price"], row.last_price), (0, "15.00", 15))
        self.assertEqual(len(row.price_changed_at.split()), 2, "each price sent is counted")

    def test_odoos_count_of_price_changes_does_not_hold_back_the_quantity(self):
        self.single_warehouse_with_prices()
        row = self.row("SI-MUG")
        now = fields.Datetime.now().strftime("%Y-%m-%dT%H:%M:%S")
        row.price_changed_at = " ".join([now] * 10)
        self.mug.list_price = 15
        self.set_quantity(self.mug, self.warehouse, 0)
        self.age(61)
        self.store.requests.clear()
        run = self.sync()
        self.assertEqual(self.ozon.free("SI-MUG", int(REFS[0])), 0, "sold out: sent at once")
        self.assertFalse(self.store.calls("POST", PRICES), "the 11th change of the hour is not even asked")
        self.assertEqual((run.failed, run.waiting, row.last_quantity, row.last_price), (0, 1, 0, 12.5))
