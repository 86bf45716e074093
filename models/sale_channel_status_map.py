from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..platforms.base import ODOO_STAGES

STAGE_LABELS = {
    "quotation": "Quotation",
    "confirmed": "Confirmed",
    "partially_delivered": "Partially Delivered",
    "delivered": "Delivered",
    "invoiced": "Invoiced",
    "paid": "Paid",
    "cancelled": "Cancelled",
}


class SaleChannelStatusMap(models.Model):
    """One line of a channel's status mapping: an Odoo order stage and the store status it
    is told as (to the store), and that, reported by the store, moves the order (from it)."""

    _name = "sale.channel.status.map"
    _inherit = ["channel.owned.mixin"]
    _description = "Order Status Mapping"
    _order = "channel_id, stage_sequence"
    _rec_name = "odoo_stage"

    channel_id = fields.Many2one("sale.channel", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="channel_id.company_id", store=True, index=True)
    odoo_stage = fields.Selection(
        [(stage, STAGE_LABELS[stage]) for stage in ODOO_STAGES], required=True,
        help="What a salesperson sees on the sales order.")
    stage_sequence = fields.Integer(compute="_compute_stage_sequence", store=True)
    store_status = fields.Char(
        required=True,
        help="The store's own status code. Several stages may share one: told to the store once; "
        "reported by the store, it moves the order to the first of them.")
    store_status_label = fields.Char(compute="_compute_store_status_label", string="Shown in the Store")

    _sql_constraints = [
        ("stage_unique", "unique(channel_id, odoo_stage)", "Each Odoo stage is mapped once per channel."),
    ]

    @api.depends("odoo_stage")
    def _compute_stage_sequence(self):
        for line in self:
            line.stage_sequence = ODOO_STAGES.index(line.odoo_stage) if line.odoo_stage else 0

    @api.depends("store_status", "channel_id.platform")
    def _compute_store_status_label(self):
        for line in self:
            statuses = {s.code: s.label for s in line.channel_id._platform().order_statuses} \
                if line.channel_id else {}
            line.store_status_label = statuses.get(line.store_status, "")

    @api.constrains("store_status", "channel_id")
    def _check_store_status(self):
        for line in self:
            statuses = line.channel_id._platform().order_statuses
            if statuses and line.store_status not in {status.code for status in statuses}:
                # The code is what the field takes; the label is how a person knows it.
                raise ValidationError(self.env._(
                    "%(status)s is not a %(platform)s order status. Known statuses: %(known)s.",
                    status=line.store_status, platform=line.channel_id._platform().label,
                    known=", ".join(f"{status.label} ({status.code})" for status in statuses)))
