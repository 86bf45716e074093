"""A sales order's marketplace fees: the operations the marketplace booked on it (the sale
credited, its commission, logistics, late charges…) and their totals, for Sales Inbox users."""
from odoo import api, fields, models

from .sale_channel import USER


class SaleOrder(models.Model):
    _inherit = "sale.order"

    fee_ids = fields.One2many("sale.channel.fee", "sale_order_id", string="Marketplace Fees", readonly=True,
                              groups=USER)
    fee_charges_total = fields.Monetary(
        string="Marketplace Charges", compute="_compute_fee_totals", groups=USER,
        help="What the marketplace charged on this order beyond the sale (commission, logistics, "
        "services), negative; a charge given back counts positive.")
    fee_credited_total = fields.Monetary(
        string="Credited by the Marketplace", compute="_compute_fee_totals", groups=USER,
        help="What the marketplace credited for this order, its charges deducted.")

    @api.depends("fee_ids.charge_amount", "fee_ids.amount")
    def _compute_fee_totals(self):
        totals = {}
        if self.ids:
            groups = self.env["sale.channel.fee"]._read_group(
                [("sale_order_id", "in", self.ids)], ["sale_order_id"], ["charge_amount:sum", "amount:sum"])
            totals = {order.id: (charges, amount) for order, charges, amount in groups}
        for order in self:
            order.fee_charges_total, order.fee_credited_total = totals.get(order.id, (0.0, 0.0))
