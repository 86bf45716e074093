"""Everything that is wrong with an inbox order, at once.

Processing stops an order at the first step that fails (the engine's rule: a step that
fails leaves the later ones alone). A person wants the whole list: all unknown SKUs, the
unmapped payment method, the inactive currency, the missing pricelist and the amount
difference, each with the button that fixes it. ``sale.inbox.order._check_problems`` runs
those checks side by side, for the orders that failed only (when processing stops them, and
on *Check Again*), with one search per kind of record for the whole set of orders.
"""
from odoo import fields, models

from .sale_channel import MANAGER, USER, check_group_access

PROBLEM_KINDS = [
    ("sku_missing", "Unknown SKU"),
    ("sku_ambiguous", "SKU of several products"),
    ("sku_empty", "Line without SKU"),
    ("charge_product", "Channel product missing"),
    ("method_missing", "No payment method"),
    ("method_unmapped", "Payment method not mapped"),
    ("currency_unknown", "Unknown currency"),
    ("currency_inactive", "Inactive currency"),
    ("pricelist_missing", "No pricelist"),
    ("amount_difference", "Amount difference"),
    ("other", "Error"),
]

#: Who may link or create products from the review screen, as the views say it; the
#: server's check (``_check_product_rights``) also lets in anyone else who may create products.
PRODUCT_EDITORS = "sale_inbox.group_sale_inbox_manager,sales_team.group_sale_manager,product.group_product_manager"


class SaleInboxOrderProblem(models.Model):
    _name = "sale.inbox.order.problem"
    _description = "Sales Inbox Order Problem"
    _order = "order_id, sequence, id"

    order_id = fields.Many2one("sale.inbox.order", required=True, readonly=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="order_id.company_id", store=True, index=True)
    channel_id = fields.Many2one(related="order_id.channel_id")
    sequence = fields.Integer(readonly=True)
    kind = fields.Selection(PROBLEM_KINDS, required=True, readonly=True)
    message = fields.Text(readonly=True)
    sku = fields.Char(string="SKU", readonly=True)
    method_code = fields.Char(readonly=True)
    method_id = fields.Many2one("sale.channel.payment.method", string="Payment Method", readonly=True)
    currency_code = fields.Char(readonly=True)
    currency_id = fields.Many2one("res.currency", readonly=True)

    def _check_user(self):
        check_group_access(self, USER, "read")

    def action_link_product(self):
        self.ensure_one()
        self._check_user()
        return self.order_id.action_open_link_product(self.sku)

    def action_create_product(self):
        self.ensure_one()
        self._check_user()
        return self.order_id.action_create_product_for_sku(self.sku)

    def action_map_payment_method(self):
        self.ensure_one()
        self._check_user()
        return self.order_id.action_map_payment_method()

    def action_activate_currency(self):
        self.ensure_one()
        self._check_user()
        return self.order_id.action_activate_currency()

    def action_create_pricelist(self):
        self.ensure_one()
        self._check_user()
        return self.order_id.action_create_pricelist()

    def action_accept_difference(self):
        self.ensure_one()
        check_group_access(self, MANAGER, "read")
        return self.order_id.action_accept_difference()
