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

    def store_quotation(self, product, quantity, warehouse=None, uom=None, channel=None):
        """A sales order a store order became, left as a draft (as the inbox leaves it)."""
        line = {"product_id": product.id, "product_uom_qty": quantity}
        if uom:
            line["product_uom"] = uom.id
        return self.env["sale.order"].create({
            "partner_id": self.env["res.partner"].create({"name": "Store buyer"}).id,
            "warehouse_id": (warehouse or self.warehouse).id,
            "channel_id": (channel or self.channel).id,
            "order_line": [Command.create(line)],
        })

    def test_store_orders_left_as_quotations_are_taken_off(self):
        # A channel that makes quotations: the inbox order becomes a draft sales order.
        self.channel.write({"auto_process": False, "document_type": "quotation"})
        inbox = self.receive(self.order_data())  # 2 mugs, 1 T-shirt
        inbox.action_process()
        self.assertEqual(inbox.sale_order_id.state, "draft")
        self.assertEqual(self.available(self.mug, self.tee), [18, 4], "the quotation is a promise: counted once")
        inbox.sale_order_id.action_confirm()
        self.assertEqual(self.available(self.mug, self.tee), [18, 4], "confirmed: counted once, by its delivery")
        inbox.sale_order_id._action_cancel()
        self.assertEqual(self.available(self.mug, self.tee), [20, 5])

    def test_an_order_held_for_review_keeps_its_quantities(self):
        # The amount check holds the order in Needs Review with its sales order a draft.
        self.channel.write({"auto_process": False, "amount_mismatch_action": "review"})
        inbox = self.receive(self.order_data(total=99.0))
        inbox.action_process()
        self.assertEqual((inbox.state, inbox.sale_order_id.state), ("needs_review", "draft"), inbox.error_message)
        self.assertEqual(self.available(self.mug, self.tee), [18, 4])

    def test_store_quotations_count_in_the_product_unit_from_their_warehouse(self):
        dozen = self.env.ref("uom.product_uom_dozen")
        self.store_quotation(self.mug, 1, uom=dozen)
        self.store_quotation(self.mug, 5, warehouse=self.second)
        self.assertEqual(self.available(self.mug), [8], "a dozen is 12 mugs; the other warehouse's order is not ours")
        self.channel.stock_warehouse_ids = self.warehouse | self.second
        self.assertEqual(self.available(self.mug), [10])
        cancelled = self.store_quotation(self.mug, 3)
        cancelled._action_cancel()
        self.assertEqual(self.available(self.mug), [10], "a cancelled quotation promises nothing")

    def test_the_form_names_store_quotations(self):
        self.store_quotation(self.mug, 2)
        self.channel.stock_preview_product_id = self.mug
        self.assertIn("2.0 in store orders left as quotations", self.channel.stock_preview)
        self.assertIn("Sent to the store: 18.0", self.channel.stock_preview)

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


@tagged("post_install", "-at_install")
class TestAvailabilityCompanies(InboxFixtures, TransactionCase):
    """Two companies, each with a channel using its default warehouse, stock and an inbox
    order: neither company's orders touch what the other's store is told."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_inbox()
        cls.Stock = cls.env["sale.channel.stock"]
        cls.channel.auto_process = False
        cls.other = cls.env["res.company"].create({"name": "Other Company"})
        cls.env.user.company_ids |= cls.other
        cls.other_channel = cls.env["sale.channel"].create({
            "name": "Other shop", "platform": "connect", "api_key": "other-company-key",
            "company_id": cls.other.id, "auto_process": False,
        })
        cls.warehouse = cls.env["stock.warehouse"].search([("company_id", "=", cls.company.id)], limit=1)
        cls.other_warehouse = cls.env["stock.warehouse"].search([("company_id", "=", cls.other.id)], limit=1)
        for product in (cls.mug, cls.tee):
            product.is_storable = True
        Quant = cls.env["stock.quant"]
        Quant._update_available_quantity(cls.mug, cls.warehouse.lot_stock_id, 20)
        Quant._update_available_quantity(cls.mug, cls.other_warehouse.lot_stock_id, 10)

    def available(self, channel, product):
        return self.Stock._available(channel, [product.id]).get(product.id, 0.0)

    def test_an_inbox_order_lowers_only_its_own_company_s_figure(self):
        self.receive(self.order_data("A-1"))  # 2 mugs, in this company
        other = self.order_data("B-1")
        other["lines"][0]["quantity"] = 3
        self.receive(other, channel=self.other_channel)  # 3 mugs, in the other company
        self.assertEqual(self.available(self.channel, self.mug), 18)
        self.assertEqual(self.available(self.other_channel, self.mug), 7)

    def test_a_sku_counts_for_the_product_of_the_order_s_company(self):
        # Company-specific products sharing a SKU: an order is counted for its company's one.
        ours, theirs = self.env["product.product"].create([
            {"name": "Cap", "default_code": "SI-CAP", "is_storable": True, "company_id": self.company.id},
            {"name": "Cap", "default_code": "SI-CAP", "is_storable": True, "company_id": self.other.id}])
        order = self.order_data("A-2")
        order["lines"] = [{"sku": "SI-CAP", "name": "Cap", "quantity": 1, "unit_price": 10}]
        self.receive(order)
        figures = self.Stock._figures(self.channel, [ours.id, theirs.id])
        self.assertEqual(figures[ours.id][-1], 1)
        self.assertNotIn(theirs.id, figures, "the other company's product is not what this order sold")
