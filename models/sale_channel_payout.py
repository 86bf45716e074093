"""The marketplace's settlement periods (``money.PayoutPeriod``), compared with what Odoo
booked for them, the difference explained line by line."""
from odoo import fields, models


class SaleChannelPayout(models.Model):
    _name = "sale.channel.payout"
    _inherit = ["sale.inbox.job", "mail.thread"]
    _description = "Marketplace Payout Period"
    _order = "date_from desc, id desc"

    name = fields.Char(required=True, readonly=True)
    channel_id = fields.Many2one("sale.channel", required=True, readonly=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="channel_id.company_id", store=True, index=True)
    currency_id = fields.Many2one("res.currency", required=True, readonly=True)
    ref = fields.Char(string="Period ID", required=True, readonly=True)
    date_from = fields.Date(required=True, readonly=True)
    date_to = fields.Date(required=True, readonly=True)
    orders_amount = fields.Monetary(string="Orders", readonly=True)
    returns_amount = fields.Monetary(string="Returns", readonly=True)
    commission_amount = fields.Monetary(string="Commissions", readonly=True)
    delivery_amount = fields.Monetary(string="Logistics", readonly=True)
    services_amount = fields.Monetary(string="Services", readonly=True)
    total_amount = fields.Monetary(string="Statement Total", readonly=True)
    payout_amount = fields.Monetary(string="Paid Out", readonly=True)
    line_ids = fields.One2many("sale.channel.payout.line", "payout_id", string="Reconciliation", readonly=True)
    fee_ids = fields.One2many("sale.channel.fee", "payout_id", string="Operations", readonly=True)

    _sql_constraints = [
        ("ref_unique", "unique(channel_id, ref)", "A settlement period is kept once per channel."),
    ]
