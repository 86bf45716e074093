from odoo import models


class AccountMove(models.Model):
    _inherit = "account.move"

    def _post(self, soft=True):
        posted = super()._post(soft=soft)
        posted._sale_inbox_orders()._sale_inbox_stage_changed()
        return posted

    def _invoice_paid_hook(self):
        result = super()._invoice_paid_hook()
        self._sale_inbox_orders()._sale_inbox_stage_changed()
        return result

    def _sale_inbox_orders(self):
        invoices = self.filtered(lambda m: m.move_type == "out_invoice")
        return invoices.line_ids.sale_line_ids.order_id.filtered("channel_id")
