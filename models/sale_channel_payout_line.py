"""One line of a payout period's reconciliation: an order, a kind of charge, or what the
statement counts that no operation explains. Written by ``sale.channel.payout._reconcile``
only, in one statement per kind of line."""
from odoo import fields, models


class SaleChannelPayoutLine(models.Model):
    _name = "sale.channel.payout.line"
    _description = "Marketplace Payout Reconciliation Line"
    _order = "payout_id, sequence, id"

    payout_id = fields.Many2one("sale.channel.payout", required=True, readonly=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="payout_id.company_id", store=True, index=True)
    currency_id = fields.Many2one(related="payout_id.currency_id")
    sequence = fields.Integer(readonly=True)
    kind = fields.Selection([
        ("order", "Order"),
        ("charge", "Charges of No Order"),
        ("unexplained", "Not in the Operations"),
    ], required=True, readonly=True)
    sale_order_id = fields.Many2one("sale.order", readonly=True, ondelete="set null")
    order_ref = fields.Char(string="Store Order", readonly=True)
    operation_type = fields.Char(readonly=True, help="The marketplace's code of the operations of no order.")
    category = fields.Selection([
        ("orders", "Orders"),
        ("returns", "Returns"),
        ("commission", "Commissions"),
        ("delivery", "Logistics"),
        ("services", "Services"),
    ], string="Statement Category", readonly=True)
    name = fields.Char(string="Description", readonly=True)
    store_amount = fields.Monetary(string="Marketplace", readonly=True)
    odoo_amount = fields.Monetary(string="Booked in Odoo", readonly=True)
    difference = fields.Monetary(readonly=True)
    explanation = fields.Char(readonly=True)
