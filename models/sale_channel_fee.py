"""The marketplace's money operations on the seller's account (``money.FeeOperation``), kept
per channel exactly once: sales credited, commissions, logistics and services charged, on an
order or of no order. Read by a job, page by page, each page stored in one statement."""
from odoo import fields, models

from ..platforms.money import FEE_KINDS

FEE_KIND_LABELS = {
    "sale": "Sale", "return": "Return", "order_charge": "Order Charge", "service": "Service",
    "compensation": "Compensation", "other": "Other",
}
BOOKING_STATES = [
    ("waiting", "Waiting for Payment"),
    ("in_payment", "Deducted from Payment"),
    ("booked", "Booked as Charge"),
    ("nothing", "Nothing to Book"),
    ("unmatched", "Order Not in Odoo"),
]


class SaleChannelFee(models.Model):
    _name = "sale.channel.fee"
    _inherit = ["sale.inbox.job"]
    _description = "Marketplace Fee"
    _order = "date desc, id desc"
    _rec_name = "name"

    channel_id = fields.Many2one("sale.channel", required=True, readonly=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="channel_id.company_id", store=True, index=True)
    currency_id = fields.Many2one("res.currency", required=True, readonly=True)
    ref = fields.Char(string="Operation ID", required=True, readonly=True)
    date = fields.Datetime(required=True, readonly=True, index=True)
    operation_type = fields.Char(readonly=True, index=True, help="The marketplace's code of the operation.")
    name = fields.Char(string="Operation", readonly=True)
    kind = fields.Selection([(k, FEE_KIND_LABELS[k]) for k in FEE_KINDS], readonly=True, index=True)
    order_ref = fields.Char(string="Store Order", readonly=True, index=True,
                            help="The marketplace's number of the order (Ozon: the posting).")
    sale_order_id = fields.Many2one("sale.order", readonly=True, index=True, ondelete="set null")
    amount = fields.Monetary(readonly=True, help="The operation's total: credited positive, charged negative.")
    sale_amount = fields.Monetary(readonly=True, help="The goods' price credited (negative for a return).")
    commission_amount = fields.Monetary(string="Commission", readonly=True)
    delivery_amount = fields.Monetary(string="Logistics", readonly=True)
    services_amount = fields.Monetary(string="Services", readonly=True)
    charge_amount = fields.Monetary(
        string="Charges", readonly=True,
        help="What the operation charged beyond the sale (negative), or gave back (positive).")
    state = fields.Selection(BOOKING_STATES, string="Booking", default="waiting", required=True, readonly=True,
                             index=True)
    move_id = fields.Many2one("account.move", string="Booked In", readonly=True, index=True, ondelete="set null")
    payout_id = fields.Many2one("sale.channel.payout", string="Payout Period", readonly=True, index=True,
                                ondelete="set null")

    _sql_constraints = [
        ("ref_unique", "unique(channel_id, ref)", "The marketplace's operation is kept once per channel."),
    ]
