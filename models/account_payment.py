from odoo import api, fields, models
from odoo.exceptions import AccessError


class AccountPayment(models.Model):
    _inherit = "account.payment"

    # Written by processing only (as superuser): it proves the payment was registered for
    # this inbox order, so that an order run again never gets a second one.
    sale_inbox_order_id = fields.Many2one(
        "sale.inbox.order", string="Sales Inbox Order", readonly=True, copy=False,
        index="btree_not_null", ondelete="set null", groups="sale_inbox.group_sale_inbox_user")

    @api.model_create_multi
    def create(self, vals_list):
        if not self.env.su and (self.env.context.get("default_sale_inbox_order_id")
                                or any(vals.get("sale_inbox_order_id") for vals in vals_list)):
            raise AccessError(self.env._("Only the Sales Inbox names the inbox order of a payment."))
        return super().create(vals_list)

    def write(self, vals):
        if not self.env.su and "sale_inbox_order_id" in vals:
            raise AccessError(self.env._("Only the Sales Inbox names the inbox order of a payment."))
        return super().write(vals)
