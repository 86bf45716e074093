from odoo import fields, models


class SaleReport(models.Model):
    """Sales Analysis by the store an order came from (none for orders made in Odoo)."""

    _inherit = "sale.report"

    channel_id = fields.Many2one("sale.channel", string="Sales Channel", readonly=True)

    def _select_additional_fields(self):
        res = super()._select_additional_fields()
        res["channel_id"] = "s.channel_id"
        return res

    def _group_by_sale(self):
        return f"{super()._group_by_sale()},\n            s.channel_id"
