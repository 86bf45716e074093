"""The store channel as a dimension of Sales Analysis, and on sales orders' form and list."""
from lxml import etree

from odoo import Command
from odoo.tests import TransactionCase, new_test_user, tagged

from .common import InboxFixtures


@tagged("post_install", "-at_install")
class TestSalesAnalysisByChannel(InboxFixtures, TransactionCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_inbox()
        cls.other = cls.env["sale.channel"].create({"name": "Other shop", "platform": "connect"})
        cls.customer = cls.env["res.partner"].create({"name": "Customer"})

    def order(self, channel, quantity, price):
        # As processing makes them (only the Sales Inbox links an order to a channel).
        order = self.env["sale.order"].sudo().create({
            "partner_id": self.customer.id, "channel_id": channel.id if channel else False,
            "order_line": [Command.create({"product_id": self.mug.id, "product_uom_qty": quantity,
                                           "price_unit": price, "tax_id": False})]})
        order.action_confirm()
        return order

    def test_sales_analysis_groups_by_channel_with_its_totals(self):
        self.order(self.channel, 2, 10.0)
        self.order(self.channel, 1, 5.0)
        self.order(self.other, 3, 7.0)
        self.order(False, 4, 1.0)
        self.env.flush_all()
        groups = self.env["sale.report"].read_group(
            [("partner_id", "=", self.customer.id)], ["price_subtotal:sum", "product_uom_qty:sum"], ["channel_id"])
        totals = {g["channel_id"] and g["channel_id"][0]: (g["price_subtotal"], g["product_uom_qty"]) for g in groups}
        self.assertEqual(totals, {self.channel.id: (25.0, 3.0), self.other.id: (21.0, 3.0), False: (4.0, 4.0)})
        store_only = self.env["sale.report"].search_count(
            [("partner_id", "=", self.customer.id), ("channel_id", "!=", False)])
        self.assertEqual(store_only, 3)

    def test_a_salesperson_without_inbox_rights_groups_by_channel(self):
        """The channel's name is shown to whoever reads the orders; no Access Error."""
        self.order(self.channel, 2, 10.0)
        self.env.flush_all()
        salesman = new_test_user(self.env, "analysis_salesman", groups="sales_team.group_sale_salesman_all_leads")
        groups = self.env["sale.report"].with_user(salesman).web_read_group(
            [("partner_id", "=", self.customer.id)], ["price_subtotal:sum"], ["channel_id"])["groups"]
        self.assertEqual([g["channel_id"] for g in groups], [(self.channel.id, "Test shop")])

    def test_the_channel_is_on_the_order_main_tab_list_and_searches(self):
        form = etree.fromstring(self.env["sale.order"].get_views([(False, "form")])["views"]["form"]["arch"])
        field = form.xpath("//field[@name='channel_id']")
        self.assertTrue(field)
        self.assertFalse(field[0].xpath("ancestor::notebook"), "above the tabs, not under Other Info")
        for view in ("sale.view_order_tree", "sale.view_quotation_tree"):
            arch = etree.fromstring(self.env["sale.order"].get_views([(self.env.ref(view).id, "list")])
                                    ["views"]["list"]["arch"])
            self.assertTrue(arch.xpath("//field[@name='channel_id'][not(@optional='hide')]"), view)
        for model, search in (("sale.order", "sale.view_sales_order_filter"),
                              ("sale.order", "sale.sale_order_view_search_inherit_quotation"),
                              ("sale.report", "sale.view_order_product_search")):
            arch = etree.fromstring(self.env[model].get_views([(self.env.ref(search).id, "search")])
                                    ["views"]["search"]["arch"])
            contexts = [f.get("context") or "" for f in arch.iter("filter")]
            self.assertTrue([c for c in contexts if "'channel_id'" in c], f"{search}: group by channel")
