from odoo import fields, models


class AccountPayment(models.Model):
    _inherit = "account.payment"

    # Written by processing only (as superuser): it proves the payment was registered for
    # this inbox order, so that an order run again never gets a second one.
    sale_inbox_order_id = fields.Many2one(
        "sale.inbox.order", string="Sales Inbox Order", readonly=True, copy=False,
        index="btree_not_null", ondelete="set null", groups="sale_inbox.group_sale_inbox_user")
