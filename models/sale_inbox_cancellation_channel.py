"""A marketplace channel's rules for the orders the marketplace cancels (see
``sale_inbox_cancellation``)."""
from odoo import api, fields, models
from odoo.exceptions import ValidationError


class SaleChannel(models.Model):
    _inherit = "sale.channel"

    auto_cancel_hours = fields.Integer(
        string="Cancel Automatically Within (Hours)", default=24,
        help="An FBS order the marketplace cancels within this many hours of the order, while its delivery "
        "is not done, is cancelled in Odoo at once with its delivery. Later, the goods may already be packed "
        "or with the courier (and freed stock could go to the next buyer before they are back): a person "
        "gets an activity and presses Goods Returned when they are. 0: no limit.")
    cancel_fbo_automatically = fields.Boolean(
        string="Apply FBO Cancellations Automatically", default=True,
        help="Orders shipped from the marketplace's warehouse (FBO) that it cancels are cancelled in Odoo at "
        "once (a done delivery is returned to the FBO warehouse). Off: a person decides, as for FBS.")
    cancel_fbs_to_fbo = fields.Boolean(
        string="FBS Cancellations Go to the FBO Warehouse",
        help="With FBS and FBO on this channel: the goods of a cancelled FBS order that had left your "
        "warehouse stay with the marketplace. Goods Returned then moves them to the FBO warehouse (an "
        "internal transfer) and cancels the order, instead of bringing them back.")
    cancellation_count = fields.Integer(compute="_compute_cancellation_count", string="Cancellations")

    @api.constrains("auto_cancel_hours")
    def _check_auto_cancel_hours(self):
        if any(channel.auto_cancel_hours < 0 for channel in self):
            raise ValidationError(self.env._("The hours for automatic cancellation cannot be negative (0: no limit)."))

    def _compute_cancellation_count(self):
        counts = dict(self.env["sale.inbox.cancellation"]._read_group(
            [("channel_id", "in", self.ids)], ["channel_id"], ["__count"]))
        for channel in self:
            channel.cancellation_count = counts.get(channel, 0)

    def action_view_cancellations(self):
        self._check_inbox_user()
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("sale_inbox.sale_inbox_cancellation_action")
        action["domain"] = [("channel_id", "=", self.id)]
        return action
