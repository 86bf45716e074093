"""Marketplace postings on the inbox order: a posting split from another shares its sales order."""
import json

from odoo import fields, models

#: ``fulfilled_by`` of an order the marketplace fulfils itself.
FBO = "marketplace"


class SaleInboxOrder(models.Model):
    _inherit = "sale.inbox.order"

    split_parent_id = fields.Many2one(
        "sale.inbox.order", string="Split From", readonly=True, copy=False, index="btree_not_null",
        help="The marketplace split this order's goods off that order (packing into several "
        "packages): they are on that order's sales order already, so this one has none of its own.")

    store_checked_at = fields.Datetime(
        string="Last Read Again", readonly=True, copy=False,
        help="When this order, fulfilled by the marketplace and still open, was last read again from the "
        "store: the poll reads only recent ones, so older ones are read again once a day until delivered.")

    def _foreign_documents(self):
        """The sales order of the order it was split from is this order's too (processing
        never acts on it for this order: see ``_step_split_postings``)."""
        foreign = super()._foreign_documents()
        so = foreign.get("sale_order_id")
        if so and self.split_parent_id and so == self.split_parent_id.sale_order_id \
                and so.inbox_order_id == self.split_parent_id and so.company_id == self.company_id:
            del foreign["sale_order_id"]
            if self.invoice_id and self.invoice_id not in so.invoice_ids:
                foreign["invoice_id"] = self.invoice_id
            else:
                foreign.pop("invoice_id", None)
        return foreign

    def _fulfilled_by_marketplace(self):
        """{inbox order id: whether the marketplace fulfils it (Ozon FBO)}, as its normalized
        order says (an order whose normalized order cannot be read: False). The one place that
        tells; only that key of the JSON is looked at."""
        result = {}
        for order in self:
            try:
                data = json.loads(order.normalized or "{}")
            except ValueError:
                data = None
            result[order.id] = isinstance(data, dict) and data.get("fulfilled_by") == FBO
        return result
