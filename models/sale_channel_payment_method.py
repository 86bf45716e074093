from odoo import api, fields, models
from odoo.exceptions import AccessError

from .sale_channel import MANAGER

#: What an inbox user may give a method that has no mapping yet (from the order it stops).
FIRST_MAPPING_FIELDS = frozenset({"journal_id", "means_paid"})


class SaleChannelPaymentMethod(models.Model):
    _name = "sale.channel.payment.method"
    _inherit = ["channel.owned.mixin"]
    _description = "Payments Mapping"
    _order = "channel_id, sequence, code"
    _rec_name = "name"
    _check_company_auto = True

    channel_id = fields.Many2one("sale.channel", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="channel_id.company_id", store=True, index=True)
    sequence = fields.Integer(default=10)
    code = fields.Char(
        string="Store Code",
        required=True,
        help="The payment method's code as the store sends it (e.g. 'paypal', 'cod').",
    )
    name = fields.Char(string="Label", required=True)
    journal_id = fields.Many2one(
        "account.journal",
        check_company=True,
        domain="[('type', 'in', ('bank', 'cash'))]",
        help="The bank, cash or merchant account that receives the money.",
    )
    means_paid = fields.Boolean(
        string="Paid Online",
        default=True,
        help="Orders paid with this method are paid when they arrive. Cash on delivery is "
        "not: no payment is added for it.",
    )
    is_mapped = fields.Boolean(compute="_compute_is_mapped", store=True)

    _sql_constraints = [
        ("code_unique", "unique(channel_id, code)", "Each payment method is mapped once per channel."),
    ]

    @api.depends("journal_id", "means_paid")
    def _compute_is_mapped(self):
        for method in self:
            method.is_mapped = bool(method.journal_id) or not method.means_paid

    def write(self, vals):
        if not self.env.su and not self.env.user.has_group(MANAGER):
            self._check_first_mapping(vals)
        result = super().write(vals)
        if {"journal_id", "means_paid"} & set(vals):
            # The review screen lists what stops an order: a method just mapped no longer does.
            self.env["sale.inbox.order"].sudo().search([
                ("channel_id", "in", self.channel_id.ids),
                ("payment_method_code", "in", self.mapped("code")),
                ("state", "in", ("error", "needs_review")),
            ])._refresh_problems(after_fix=True)
        return result

    def _check_first_mapping(self, vals):
        """An inbox user maps a store's payment method the first time, from the order it
        stops (the review screen): its journal, or that it is not paid online. Changing a
        mapping, or anything else of the row, is a manager's: payments follow it."""
        if set(vals) - FIRST_MAPPING_FIELDS or self.filtered("is_mapped"):
            raise AccessError(self.env._("Only a Sales Inbox manager can change a payment method's mapping."))
        for method in self:
            method.channel_id.sudo().message_post(body=self.env._(
                "Payment method %(method)s mapped by %(user)s.", method=method.name, user=self.env.user.name))
