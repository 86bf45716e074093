from odoo import fields, models


class SaleOrder(models.Model):
    _inherit = "sale.order"

    channel_id = fields.Many2one(
        "sale.channel", string="Sales Channel", readonly=True, index="btree_not_null", copy=False
    )
    inbox_order_id = fields.Many2one(
        "sale.inbox.order", string="Inbox Order", readonly=True, copy=False
    )
    external_order_number = fields.Char(
        string="Store Order Number", readonly=True, copy=False, index="trigram"
    )

    def action_view_inbox_order(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "res_model": "sale.inbox.order",
            "res_id": self.inbox_order_id.id,
            "view_mode": "form",
        }
