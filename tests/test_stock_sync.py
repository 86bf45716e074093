"""Stock sync to a fake WooCommerce: learnt SKU map, only changes sent, batches, failures;
and to fake Mozello and IdoSell stores, which take quantities by SKU: the SKUs they lack."""
from odoo.tests import TransactionCase, tagged

from .common import StockFixtures, StoreChannelFixtures

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
            {"id": 22, "error": {"code": "woocommerce_rest_cannot_edit",
                                 "message": "Sorry, you are not allowed to edit this resource."}}]})
        run = self.channel._sync_stock()
        self.assertEqual((run.sent, run.failed), (1, 1))
        tee = self.channel.store_product_ids.filtered(lambda r: r.sku == "SI-TEE")
        self.assertEqual(tee.last_error, "Sorry, you are not allowed to edit this resource.")
        self.assertFalse(tee.last_sync_at)
        self.assertEqual(tee.state, "mapped", "refused for another reason than a missing product: sent again")

    def test_a_product_deleted_from_the_store_is_not_pushed_again_until_looked_up(self):
        self.channel._sync_stock()
        self.store.route("POST", f"{PRODUCTS}/batch", json={"update": [{"id": 11, "error": {
            "code": "woocommerce_rest_product_invalid_id", "message": "Invalid ID.", "data": {"status": 400}}}]})
        self.env["stock.quant"]._update_available_quantity(self.mug, self.warehouse.lot_stock_id, -4)
        run = self.channel._sync_stock("daily")
        mug = self.channel.store_product_ids.filtered(lambda r: r.sku == "SI-MUG")
        self.assertEqual((mug.state, mug.last_error), ("not_in_store", "Invalid ID."))
        self.assertEqual(run.failed, 0)
        self.assertIn("SI-MUG", run.message)
        self.store.requests.clear()
        self.assertEqual(self.channel._sync_stock("daily").api_calls, 0, "not pushed again before tomorrow")
        # Back in the store (the look-up lists it): Sync Now sends it, and it is mapped again.
        self.store.route("POST", f"{PRODUCTS}/batch", handler=self.accept)
        run = self.channel._sync_stock("manual")
        self.assertEqual(self.sent(), {11: 16})
        self.assertEqual((mug.state, mug.last_quantity, mug.last_error), ("mapped", 16, False))
        self.assertNotIn("SI-MUG", run.message)

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


class FakeMozelloShop:
    """A Mozello store's products as its Store API lists them and updates them by SKU; a SKU
    it does not have is named in the answer's errors."""

    PUSH = "/store/products/batch_update_by_sku/"

    def __init__(self, store, stock):
        self.stock = dict(stock)
        self.pushed = []
        store.route("POST", self.PUSH, handler=self.update)
        store.route("GET", "/store/products/", handler=self.listing)

    def update(self, request):
        items = request.json()["products"]
        self.pushed.append(sorted(item["sku"] for item in items))
        errors = []
        for item in items:
            if item["sku"] in self.stock:
                self.stock[item["sku"]] = item["stock"]
            else:
                errors.append({"sku": item["sku"], "error_message": "Product not found"})
        return 200, {}, {"error": False, "errors": errors}

    def listing(self, _request):
        return 200, {}, {"error": False, "next_page_uri": None, "products": [
            {"handle": f"uid-{n}", "sku": sku, "stock": quantity, "price": 10}
            for n, (sku, quantity) in enumerate(sorted(self.stock.items()))]}


class FakeIdoSellStock:
    """IdoSell's ``PUT products/stockQuantity``: a product size code the shop does not have
    comes back with its own fault, in a 207 (partial) answer."""

    PUSH = "/api/admin/v6/products/stockQuantity"

    def __init__(self, store, stock):
        self.stock = dict(stock)
        self.pushed = []
        store.route("PUT", self.PUSH, handler=self.update)

    def update(self, request):
        items = request.json()["params"]["products"]
        self.pushed.append(sorted(item["productSizeCodeExternal"] for item in items))
        results = []
        for item in items:
            code = item["productSizeCodeExternal"]
            if code in self.stock:
                self.stock[code] = item["productSizeQuantity"]
                results.append({"productSizeCodeExternal": code, "faultCode": 0, "faultString": ""})
            else:
                results.append({"productSizeCodeExternal": code, "faultCode": 2,
                                "faultString": "Product size with this external code was not found"})
        status = 207 if any(r["faultCode"] for r in results) else 200
        return status, {}, {"results": {"productsResults": results}}


class SkusTheStoreLacks(StoreChannelFixtures, StockFixtures):
    """Mozello and IdoSell take quantities by SKU and list no SKUs: the push is the look-up.
    What a store refused as unknown is remembered, and sent again only when it is looked up
    again (Sync Now, or the first run of the day)."""

    platform = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_store(cls.platform, name="Store", api_secret="key")
        warehouse = cls.env["stock.warehouse"].search([("company_id", "=", cls.env.company.id)], limit=1)
        cls.channel.warehouse_id = warehouse
        for sku in ("TSHIRT-RED-M", "MUG-01"):
            product = cls.env["product.product"].search([("default_code", "=", sku)])
            cls.env["stock.quant"]._update_available_quantity(product, warehouse.lot_stock_id, 50)

    def setUp(self):
        super().setUp()
        self.store = self.start_store()
        self.channel.store_url = self.store.url
        self.shop = self.fake(self.store, {"MUG-01": 3})

    def row(self, sku):
        return self.channel.store_product_ids.filtered(lambda r: r.sku == sku)

    def test_a_sku_the_store_refused_as_unknown_is_not_pushed_again_until_looked_up(self):
        run = self.channel._sync_stock("daily")
        self.assertEqual(run.state, "done", run.message)
        self.assertEqual(self.shop.pushed, [["MUG-01", "TSHIRT-RED-M"]])
        self.assertEqual(self.shop.stock["MUG-01"], 50)
        self.assertEqual((self.row("MUG-01").state, self.row("MUG-01").last_quantity), ("mapped", 50))
        self.assertEqual(self.row("TSHIRT-RED-M").state, "not_in_store")
        self.assertIn("TSHIRT-RED-M", run.message)
        self.assertEqual(run.failed, 0, "a SKU the store lacks is not a failure of the sync")

        again = self.channel._sync_stock("daily")
        self.assertEqual(self.shop.pushed, [["MUG-01", "TSHIRT-RED-M"]], "nothing changed: nothing sent")
        self.assertEqual(again.api_calls, 0)
        self.assertIn("TSHIRT-RED-M", again.message, "still listed as not in the store")

        self.channel._sync_stock("manual")
        self.assertEqual(self.shop.pushed[1:], [["TSHIRT-RED-M"]], "Sync Now asks the store again, by a push")
        self.assertEqual(self.row("TSHIRT-RED-M").state, "not_in_store")

        self.shop.stock["TSHIRT-RED-M"] = 0  # the merchant adds the product to the store
        self.channel._sync_stock("daily")
        self.assertEqual(len(self.shop.pushed), 2, "asked a moment ago: not asked again before tomorrow")
        row = self.row("TSHIRT-RED-M")
        row.checked_at = row.checked_at.replace(year=row.checked_at.year - 1)
        self.channel._sync_stock("daily")
        self.assertEqual(self.shop.pushed[2:], [["TSHIRT-RED-M"]])
        self.assertEqual((row.state, row.last_quantity, self.shop.stock["TSHIRT-RED-M"]), ("mapped", 50, 50))


@tagged("post_install", "-at_install")
class TestMozelloSkusTheStoreLacks(SkusTheStoreLacks, TransactionCase):
    platform = "mozello"
    fake = FakeMozelloShop

    def test_sync_now_keeps_what_a_reconciliation_found_missing(self):
        self.channel.action_reconcile()
        self.assertEqual(self.row("TSHIRT-RED-M").state, "not_in_store")
        self.assertEqual(self.row("MUG-01").store_quantity, 3)
        self.channel._sync_stock("manual")
        self.assertEqual(self.row("TSHIRT-RED-M").state, "not_in_store", "the store still lacks it")
        self.assertEqual(self.shop.pushed, [["MUG-01", "TSHIRT-RED-M"]], "the T-shirt sent as its look-up")
        self.assertEqual(self.shop.stock["MUG-01"], 50)
        self.shop.stock["TSHIRT-RED-M"] = 1
        self.channel._sync_stock("manual")
        self.assertEqual(self.row("TSHIRT-RED-M").state, "mapped", "the store took a quantity: it has it")
        self.assertEqual(self.shop.stock["TSHIRT-RED-M"], 50)


@tagged("post_install", "-at_install")
class TestIdoSellSkusTheStoreLacks(SkusTheStoreLacks, TransactionCase):
    platform = "idosell"
    fake = FakeIdoSellStock

    def test_a_fault_of_the_whole_request_is_not_a_missing_sku(self):
        self.store.route("PUT", self.shop.PUSH, status=207, json={
            "errors": {"faultCode": 1, "faultString": "Stock 1 is locked"}, "results": {}})
        run = self.channel._sync_stock("daily")
        self.assertEqual(run.failed, 2)
        self.assertIn("Stock 1 is locked", run.message)
        self.assertEqual(self.channel.store_product_ids.mapped("state"), ["mapped", "mapped"])
