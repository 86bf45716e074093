"""An addon-style extension of processing, loaded by the tests with odoo-test-helper's
FakeModelLoader: what a third-party addon would write with ``_inherit`` and ``super()``."""
from odoo import fields, models


class SaleOrder(models.Model):
    _inherit = "sale.order"

    x_store_gift_note = fields.Char()


class SaleInboxProcessor(models.AbstractModel):
    _inherit = "sale.inbox.processor"

    def _prepare_sale_order_vals(self, run, order):
        vals = super()._prepare_sale_order_vals(run, order)
        note = run.normalized(order).note
        if note.startswith("GIFT:"):
            vals["x_store_gift_note"] = note.removeprefix("GIFT:").strip()
        return vals

    def _prepare_sale_order_line_vals(self, run, order, line, fiscal_position):
        vals = super()._prepare_sale_order_line_vals(run, order, line, fiscal_position)
        vals["name"] = f"[{line.sku}] {line.name or line.sku}"
        return vals

    def _get_processing_steps(self):
        steps = super()._get_processing_steps()
        position = [method for _step, method in steps].index("_step_confirm")
        steps.insert(position, ("order", "_step_hold_big_orders"))
        return steps

    def _step_hold_big_orders(self, run, orders):
        """Orders over 1,000 wait for a person, whatever the channel says."""
        big = orders.filtered(lambda o: o.sale_order_id.amount_total > 1000)
        big._fail("order", "Held for review: over 1,000.", state="needs_review")
        return orders - big
