"""Shopify inventory sync: inventory items at the channel's location, through GraphQL."""
from odoo import fields
from odoo.tests import TransactionCase, tagged

from odoo.addons.sale_inbox.platforms.testing import FakeShopifyAdmin

from .common import StockFixtures


@tagged("post_install", "-at_install")
class TestShopifyStock(StockFixtures, TransactionCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_stock()
        cls.shop = cls.env["sale.channel"].create({
            "name": "Shopify", "platform": "shopify", "api_secret": "shpat_x", "warehouse_id": cls.warehouse.id})

    def setUp(self):
        super().setUp()
        self.store = self.start_store()
        self.shop.store_url = self.store.url
        self.admin = FakeShopifyAdmin(self.store, [
            {"sku": "SI-MUG", "id": "gid://shopify/ProductVariant/1", "product": "gid://shopify/Product/1",
             "item": "gid://shopify/InventoryItem/101", "price": "9.00", "available": 0},
            {"sku": "SI-TEE", "id": "gid://shopify/ProductVariant/2", "product": "gid://shopify/Product/2",
             "item": "gid://shopify/InventoryItem/102", "price": "9.00", "available": 0},
        ])

    def mutations(self):
        return [c.json()["variables"] for c in self.store.calls("POST", self.admin.path)
                if c.json()["query"].lstrip().startswith("mutation")]

    def test_quantities_go_to_the_inventory_items_at_the_only_location(self):
        run = self.shop._sync_stock()
        self.assertEqual(run.state, "done", run.message)
        self.assertEqual(self.shop.store_location, FakeShopifyAdmin.LOCATION, "a single location is chosen")
        self.assertEqual((self.admin.by_sku("SI-MUG")["available"], self.admin.by_sku("SI-TEE")["available"]), (20, 5))
        self.assertEqual(len(self.mutations()), 1, "both quantities in one inventorySetQuantities")
        row = self.shop.store_product_ids.filtered(lambda r: r.sku == "SI-MUG")
        self.assertEqual(row.remote_inventory_id, "gid://shopify/InventoryItem/101")
        self.store.requests.clear()
        run = self.shop._sync_stock()
        self.assertEqual((run.changed, len(self.mutations())), (0, 0), "unchanged: no mutation")

    def test_a_shop_with_several_locations_must_choose(self):
        self.admin.locations.append(("gid://shopify/Location/2", "Warehouse"))
        run = self.shop._sync_stock()
        self.assertEqual(run.state, "failed")
        self.assertIn("gid://shopify/Location/2", run.message)
        self.assertIn("Choose the Shopify location", self.shop.last_error)
        self.assertFalse(self.mutations())
        self.shop.store_location = FakeShopifyAdmin.LOCATION
        self.assertEqual(self.shop._sync_stock().sent, 2)

    def test_prices_are_converted_to_the_store_currency(self):
        eur = self.env.ref("base.EUR")
        eur.active = True
        today = fields.Date.today()
        # Rates are against the company currency: 1 company unit = 0.5 EUR here.
        self.env["res.currency.rate"].create({"currency_id": eur.id, "rate": 0.5, "name": today,
                                              "company_id": self.company.id})
        self.env["res.currency.rate"].create({"currency_id": self.currency.id, "rate": 1.0, "name": today,
                                              "company_id": self.company.id})
        self.shop.write({"sync_prices": True, "store_currency_id": eur.id, "store_prices_include_tax": True})
        run = self.shop._sync_stock()
        self.assertEqual(run.state, "done", run.message)
        # Mug 12.50 + 21% = 15.125 → 7.5625 EUR → 7.56; T-shirt 30 + 21% = 36.30 → 18.15 EUR.
        self.assertEqual((self.admin.by_sku("SI-MUG")["price"], self.admin.by_sku("SI-TEE")["price"]),
                         ("7.56", "18.15"))
        self.assertEqual(self.shop.store_product_ids.filtered(lambda r: r.sku == "SI-TEE").last_price, 18.15)

    def test_reconciliation_reads_the_quantities_at_the_location(self):
        self.shop.store_location = FakeShopifyAdmin.LOCATION
        self.admin.by_sku("SI-MUG")["available"] = 20
        self.admin.by_sku("SI-TEE")["available"] = 7
        self.shop.action_reconcile()
        rows = {r.sku: r for r in self.shop.store_product_ids}
        self.assertEqual([rows[s].differs for s in ("SI-MUG", "SI-TEE")], [False, True])
        self.assertEqual(rows["SI-TEE"].store_quantity, 7)
        rows["SI-TEE"].action_push_odoo_quantity()
        self.assertEqual(self.admin.by_sku("SI-TEE")["available"], 5)
