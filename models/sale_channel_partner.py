from odoo import fields, models


class SaleChannelPartner(models.Model):
    """Which Odoo contact a store's customer id stands for, so that a returning customer
    is recognised even after changing e-mail address."""

    _name = "sale.channel.partner"
    _inherit = ["channel.owned.mixin"]
    _description = "Store Customer"
    _order = "channel_id, external_id"
    _rec_name = "external_id"

    channel_id = fields.Many2one("sale.channel", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="channel_id.company_id", store=True, index=True)
    external_id = fields.Char(string="Store Customer ID", required=True)
    partner_id = fields.Many2one("res.partner", required=True, ondelete="cascade", index=True)

    _sql_constraints = [
        ("external_unique", "unique(channel_id, external_id)", "A store customer maps to one contact."),
    ]
