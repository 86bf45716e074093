from odoo import models


class StockMove(models.Model):
    _inherit = "stock.move"

    # Each of these changes what a store may be told is available: stock arrives or leaves
    # (done), a sales order reserves it (confirmed) or gives it back (cancelled).

    def _action_confirm(self, merge=True, merge_into=False):
        moves = super()._action_confirm(merge=merge, merge_into=merge_into)
        self._queue_store_push()
        return moves

    def _action_done(self, cancel_backorder=False):
        moves = super()._action_done(cancel_backorder=cancel_backorder)
        (self | moves)._queue_store_push()
        return moves

    def _action_cancel(self):
        result = super()._action_cancel()
        self._queue_store_push()
        return result

    def _queue_store_push(self):
        products = self.product_id.filtered(lambda p: p.default_code)
        if products:
            self.env["sale.channel.product"].sudo()._queue_push(product_ids=products.ids)
