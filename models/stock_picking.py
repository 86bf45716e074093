from odoo import models


class StockPicking(models.Model):
    _inherit = "stock.picking"

    def _action_done(self):
        result = super()._action_done()
        # A delivery done is a stage of its sales order that its store may have to hear of.
        self.sale_id._sale_inbox_stage_changed()
        return result
