"""A marketplace order's postings: the marketplace may split the posting a sales order was made
from (packing into several packages, Ozon); its parts are linked to the same sales order (see
``sale_inbox_processor_marketplace``). What the store is told about the goods (assembled,
cancelled) and the labels printed are then each posting's."""
import json

from odoo import models

#: Store statuses of a posting that is no longer one to pack, label or cancel (split into
#: others, or cancelled).
GONE_STATUSES = frozenset({"cancelled_from_split_pending", "cancelled"})


class SaleOrder(models.Model):
    _inherit = "sale.order"

    def _store_postings(self):
        """The store's ids (Ozon: posting numbers) of this order's live postings, in order: the
        one it was made from, then those split off it; [] for an order of no store."""
        self.ensure_one()
        return list(self._store_posting_statuses().get(self.id, {}))

    def _store_posting_statuses(self):
        """{order id: {posting number: its store status ('' unknown)}} of these orders' live
        postings (as superuser, in one query for all the orders)."""
        orders = self.sudo().filtered(lambda o: o.channel_id and o.inbox_order_id.sale_order_id == o)
        result = {order.id: {} for order in self}
        for order in orders:
            if order.inbox_order_id.external_id and (order.store_status or "") not in GONE_STATUSES:
                result[order.id][order.inbox_order_id.external_id] = order.store_status or ""
        if not orders:
            return result
        parts = self.env["sale.inbox.order"].sudo().search(
            [("sale_order_id", "in", orders.ids), ("split_parent_id", "!=", False)], order="id")
        for part in parts:
            order = part.sale_order_id
            if part.channel_id != order.channel_id or not part.external_id:
                continue
            status = _normalized_status(part)
            if status not in GONE_STATUSES:
                result[order.id].setdefault(part.external_id, status)
        return result

    def _store_queue_cancellations(self, reason, postings):
        """The cancellation, with the reason chosen, in the outbox for each of ``postings``
        (the order's, read before it was cancelled): once per posting (one pending or sent
        for it, the status sync's included, is not repeated). As superuser."""
        self.ensure_one()
        Outbox = self.env["sale.channel.outbox"].sudo()
        if not reason.code or not postings:
            return Outbox
        told = set(Outbox.search([("sale_order_id", "=", self.id), ("odoo_stage", "=", "cancelled"),
                                  ("state", "in", ("pending", "sent"))]).mapped("external_id"))
        mapping = {line.odoo_stage: line.store_status for line in self.channel_id.status_map_ids}
        tracking = self._sale_inbox_tracking()
        messages = Outbox.create([dict(
            tracking, channel_id=self.channel_id.id, sale_order_id=self.id, external_id=number,
            odoo_stage="cancelled", store_status=mapping.get("cancelled") or "cancelled",
            reason_code=reason.code, reason_text=reason.text, reason_message=reason.message)
            for number in postings if number not in told])
        if messages:
            self.env["sale.inbox.job"]._trigger_job("sale_inbox.ir_cron_send_outbox")
        return messages


def _normalized_status(inbox_order):
    try:
        data = json.loads(inbox_order.normalized or "{}")
    except ValueError:
        return ""
    status = data.get("status") if isinstance(data, dict) else ""
    return status if isinstance(status, str) else ""
