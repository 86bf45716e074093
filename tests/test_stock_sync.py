"""Stock sync to a fake WooCommerce: learnt SKU map, only changes sent, batches, failures."""
from odoo.tests import TransactionCase, tagged

from .common import StockFixtures

PRODUCTS = "/wp-json/wc/v3/products"


@tagged("post_install", "-at_install")
class TestStockSync(StockFixtures, TransactionCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_stock()
        cls.channel.write({"platform": "woocommerce", "api_login": "ck", "api_secret": "cs",
                           "warehouse_id": cls.warehouse.id})
        cls.lonely = cls.env["product.product"].create({"name": "Not online", "default_code": "SI-LONELY"})

    def setUp(self):
        super().setUp()
        self.store = self.start_store()
        self.channel.store_url = self.store.url
        self.store.route("GET", PRODUCTS, headers={"X-WP-TotalPages": "1"}, json=[
            {"id": 11, "sku": "SI-MUG", "parent_id": 0}, {"id": 22, "sku": "SI-TEE", "parent_id": 7}])
        self.store.route("POST", f"{PRODUCTS}/batch", handler=self.accept)
        self.store.route("POST", f"{PRODUCTS}/7/variations/batch", handler=self.accept)

    @staticmethod
    def accept(request):
        return 200, {}, {"update": request.json()["update"]}

    def sent(self):
        return {item["id"]: item["stock_quantity"]
                for call in self.store.requests if call.method == "POST" for item in call.json()["update"]}

    def test_first_sync_sends_every_mapped_product_and_lists_the_unknown(self):
        run = self.channel._sync_stock()
        self.assertEqual(run.state, "done", run.message)
        self.assertEqual(self.sent(), {11: 20, 22: 5})
        self.assertEqual((run.checked, run.changed, run.sent, run.failed), (2, 2, 2, 0))
        self.assertIn("SI-LONELY", run.message)
        rows = {r.sku: r for r in self.channel.store_product_ids}
        self.assertEqual((rows["SI-TEE"].remote_id, rows["SI-TEE"].remote_parent_id), ("22", "7"))
        self.assertEqual(rows["SI-MUG"].last_quantity, 20)
        self.assertEqual(rows["SI-LONELY"].state, "not_in_store")

    def test_only_changes_are_sent(self):
        self.channel._sync_stock()
        self.store.requests.clear()
        run = self.channel._sync_stock()
        self.assertEqual((run.changed, run.api_calls), (0, 1), "nothing changed: only the SKU look-up")
        self.assertFalse([r for r in self.store.requests if r.method == "POST"])
        self.env["stock.quant"]._update_available_quantity(self.mug, self.warehouse.lot_stock_id, -4)
        run = self.channel._sync_stock()
        self.assertEqual(self.sent(), {11: 16})
        self.assertEqual((run.changed, run.sent), (1, 1))

    def test_a_failed_batch_marks_nothing_as_sent(self):
        self.store.route("POST", f"{PRODUCTS}/batch", status=500, json={"message": "boom"})
        run = self.channel._sync_stock()
        self.assertEqual(run.state, "failed")
        self.assertIn("500", run.message)
        self.assertIn("500", self.channel.last_error)
        self.assertFalse(self.channel.store_product_ids.filtered("last_sync_at"))
        self.store.route("POST", f"{PRODUCTS}/batch", handler=self.accept)
        run = self.channel._sync_stock()
        self.assertEqual(run.sent, 2, "everything is sent again once the store answers")

    def test_an_item_the_store_refuses_is_kept_with_its_reason(self):
        self.store.route("POST", f"{PRODUCTS}/7/variations/batch", json={"update": [
            {"id": 22, "error": {"code": "woocommerce_rest_invalid_id", "message": "Invalid ID."}}]})
        run = self.channel._sync_stock()
        self.assertEqual((run.sent, run.failed), (1, 1))
        tee = self.channel.store_product_ids.filtered(lambda r: r.sku == "SI-TEE")
        self.assertEqual(tee.last_error, "Invalid ID.")
        self.assertFalse(tee.last_sync_at)

    def test_sync_now_goes_through_the_cron(self):
        self.channel.action_sync_now()
        self.assertTrue(self.channel.sync_requested)
        self.env["sale.channel"]._cron_sync_stock()
        self.assertFalse(self.channel.sync_requested)
        self.assertEqual(self.channel.sync_ids.trigger, "manual")
        self.assertEqual(self.sent(), {11: 20, 22: 5})

    def test_price_list_sync_sends_prices_with_tax_as_the_store_expects(self):
        pricelist = self.env["product.pricelist"].create({
            "name": "Web", "currency_id": self.currency.id, "item_ids": [
                (0, 0, {"applied_on": "0_product_variant", "product_id": self.mug.id,
                        "compute_price": "fixed", "fixed_price": 10.0})]})
        self.tee.list_price = 30.0
        self.channel.write({"sync_prices": True, "sync_pricelist_id": pricelist.id,
                            "store_prices_include_tax": True})
        self.channel._sync_stock()
        sent = {item["id"]: item["regular_price"]
                for call in self.store.requests if call.method == "POST" for item in call.json()["update"]}
        self.assertEqual(sent, {11: "12.10", 22: "36.30"}, "21% tax included")
        self.store.requests.clear()
        run = self.channel._sync_stock()
        self.assertEqual(run.changed, 0, "same quantities, same prices: nothing sent")
        pricelist.item_ids.fixed_price = 11.0
        run = self.channel._sync_stock()
        self.assertEqual((run.changed, run.sent), (1, 1))
        self.assertEqual(self.channel.store_product_ids.filtered(lambda r: r.sku == "SI-MUG").last_price, 13.31)

    def test_skus_the_store_lacks_are_asked_again_by_sync_now_and_daily_otherwise(self):
        self.channel._sync_stock("daily")
        lonely = self.channel.store_product_ids.filtered(lambda r: r.sku == "SI-LONELY")
        self.assertEqual(lonely.state, "not_in_store")
        self.store.requests.clear()
        run = self.channel._sync_stock("daily")
        self.assertEqual(run.api_calls, 0, "asked an hour ago: no look-up, nothing changed")
        self.assertIn("SI-LONELY", run.message, "still listed as not in the store")
        run = self.channel._sync_stock("manual")
        self.assertEqual(run.api_calls, 1, "Sync Now asks again")
        lonely.checked_at = lonely.checked_at.replace(year=lonely.checked_at.year - 1)
        self.assertEqual(self.channel._sync_stock("daily").api_calls, 1, "a day later, asked again")

    def test_changes_go_in_batches_of_100_and_a_rate_limited_batch_is_sent_again(self):
        products = self.env["product.product"].create([
            {"name": f"Bulk {i}", "default_code": f"SI-BULK-{i:03d}", "is_storable": True} for i in range(230)])
        self.env["stock.quant"]._update_available_quantity(products[0], self.warehouse.lot_stock_id, 7)

        def listing(request):
            skus = request.query["sku"][0].split(",")
            return 200, {"X-WP-TotalPages": "1"}, [
                {"id": 1000 + i, "sku": sku, "parent_id": 0} for i, sku in enumerate(skus) if sku.startswith("SI-BULK")]
        self.store.route("GET", PRODUCTS, handler=listing)
        batches = []

        def batch(request):
            batches.append(len(request.json()["update"]))
            if len(batches) == 2:
                return 429, {"Retry-After": "0"}, {"code": "rate_limited", "message": "Too many requests"}
            return 200, {}, {"update": request.json()["update"]}
        self.store.route("POST", f"{PRODUCTS}/batch", handler=batch)
        run = self.channel._sync_stock()
        self.assertEqual(run.state, "done", run.message)
        self.assertEqual(batches, [100, 100, 100, 30], "the rate-limited batch was sent again, whole")
        self.assertEqual((run.changed, run.sent), (230, 230))
        self.assertEqual(run.api_calls, 3 + 4, "3 look-ups of 100 SKUs, 3 batches and one retry")
