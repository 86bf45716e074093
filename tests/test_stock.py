"""Availability sent to stores: the formula, computed in SQL for a whole catalog."""
from odoo import Command
from odoo.tests import TransactionCase, tagged

from .common import InboxFixtures


@tagged("post_install", "-at_install")
class TestAvailability(InboxFixtures, TransactionCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_inbox()
        cls.Stock = cls.env["sale.channel.stock"]
        cls.warehouse = cls.env["stock.warehouse"].search([("company_id", "=", cls.company.id)], limit=1)
        cls.second = cls.env["stock.warehouse"].create({"name": "Second", "code": "WH2"})
        cls.channel.warehouse_id = cls.warehouse
        for product in (cls.mug, cls.tee):
            product.is_storable = True
        cls.set_stock(cls.mug, cls.warehouse, 20)
        cls.set_stock(cls.tee, cls.warehouse, 5)
        cls.set_stock(cls.mug, cls.second, 7)

    @classmethod
    def set_stock(cls, product, warehouse, quantity):
        cls.env["stock.quant"]._update_available_quantity(product, warehouse.lot_stock_id, quantity)

    def available(self, *products):
        figures = self.Stock._available(self.channel, [p.id for p in products])
        return [figures.get(p.id, 0.0) for p in products]

    def confirmed_order(self, product, quantity, warehouse=None):
        order = self.env["sale.order"].create({
            "partner_id": self.env["res.partner"].create({"name": "Buyer"}).id,
            "warehouse_id": (warehouse or self.warehouse).id,
            "order_line": [Command.create({"product_id": product.id, "product_uom_qty": quantity})],
        })
        order.action_confirm()
        return order

    def test_on_hand_in_the_channel_warehouse(self):
        self.assertEqual(self.available(self.mug, self.tee), [20, 5])

    def test_confirmed_orders_not_yet_delivered_are_taken_off(self):
        order = self.confirmed_order(self.mug, 3)
        self.assertEqual(self.available(self.mug), [17])
        picking = order.picking_ids
        picking.move_ids.write({"quantity": 1, "picked": True})
        picking.with_context(cancel_backorder=False)._action_done()
        # Delivered units left the stock; the 2 still to deliver stay reserved for the order.
        self.assertEqual(self.available(self.mug), [17])
        order.picking_ids.filtered(lambda p: p.state not in ("done", "cancel")).action_cancel()
        self.assertEqual(self.available(self.mug), [19])

    def test_quotations_and_other_warehouses_do_not_count(self):
        self.env["sale.order"].create({
            "partner_id": self.env["res.partner"].create({"name": "Maybe"}).id,
            "order_line": [Command.create({"product_id": self.mug.id, "product_uom_qty": 4})],
        })
        self.confirmed_order(self.mug, 2, warehouse=self.second)
        self.assertEqual(self.available(self.mug), [20])

    def test_inbox_orders_not_yet_sales_orders_are_taken_off(self):
        self.channel.auto_process = False
        inbox = self.receive(self.order_data())  # 2 mugs, 1 T-shirt
        self.assertEqual(self.available(self.mug, self.tee), [18, 4])
        inbox.action_process()
        # Now a confirmed sales order: counted once, as an order to deliver.
        self.assertEqual(self.available(self.mug, self.tee), [18, 4])

    def test_several_warehouses_are_summed(self):
        self.channel.stock_warehouse_ids = self.warehouse | self.second
        self.assertEqual(self.available(self.mug), [27])

    def test_reserve_threshold_and_cap(self):
        self.channel.stock_reserve = 2
        self.assertEqual(self.available(self.mug, self.tee), [18, 3])
        self.channel.stock_threshold = 4
        self.assertEqual(self.available(self.mug, self.tee), [18, 0])
        self.channel.stock_cap = 10
        self.assertEqual(self.available(self.mug, self.tee), [10, 0])

    def test_never_negative(self):
        self.confirmed_order(self.tee, 9)
        self.assertEqual(self.available(self.tee), [0])

    def test_variants_count_separately(self):
        attribute = self.env["product.attribute"].create({
            "name": "Size", "value_ids": [Command.create({"name": "S"}), Command.create({"name": "M"})]})
        template = self.env["product.template"].create({
            "name": "Hoodie", "is_storable": True,
            "attribute_line_ids": [Command.create({"attribute_id": attribute.id,
                                                   "value_ids": [Command.set(attribute.value_ids.ids)]})],
        })
        small, medium = template.product_variant_ids
        self.set_stock(small, self.warehouse, 3)
        self.set_stock(medium, self.warehouse, 8)
        self.assertEqual(self.available(small, medium), [3, 8])

    def test_the_form_explains_the_figure(self):
        self.confirmed_order(self.mug, 3)
        self.channel.stock_reserve = 1
        self.channel.stock_preview_product_id = self.mug
        text = self.channel.stock_preview
        for words in ("20.0 on hand", "3.0 still to deliver", "1.0 kept in reserve", "Sent to the store: 16.0"):
            self.assertIn(words, text)

    def test_queries_do_not_grow_with_the_catalog(self):
        def count(product_ids):
            self.env.invalidate_all()
            before = self.env.cr.sql_log_count
            figures = self.Stock._available(self.channel, product_ids)
            return self.env.cr.sql_log_count - before, figures

        one, _figures = count([self.mug.id])
        self.env["product.product"].create([{"name": f"P{i}", "is_storable": True} for i in range(30)])
        everything, figures = count(None)
        self.assertEqual(one, everything)
        self.assertLessEqual(everything, 4)
        self.assertEqual((figures[self.mug.id], figures[self.tee.id]), (20, 5))
