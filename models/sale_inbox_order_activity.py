"""Somebody is told: an inbox order that needs review or fails gets one activity for the
channel's Responsible person (or, without one, its Salesperson), marked done when the order is
resolved (done or cancelled); the channel's notification rules hear of it too.

Processing writes an order's state with the ORM (``write``, as superuser: ``_fail``, the
steps, the buttons); intake writes new orders in SQL (its unreadable deliveries are told from
``sale_inbox_notice_events.py``). So ``write`` is the one place to watch. What is done here is
set-based (one search for the open activities of all the orders written, one create) and runs
in a savepoint: an activity or a notice that cannot be made is logged and never undoes, nor
stops, what processing recorded.
"""
import logging

from odoo import fields, models
from odoo.tools import plaintext2html

from .sale_inbox_notice_events import listens, order_url

_logger = logging.getLogger(__name__)

ACTIVITY_TYPE = "sale_inbox.mail_activity_type_inbox_order"
#: States in which an order waits for a person; states that resolve it.
ATTENTION = ("needs_review", "error")
RESOLVED = ("done", "cancelled")


class SaleInboxOrder(models.Model):
    _inherit = "sale.inbox.order"

    def write(self, vals):
        result = super().write(vals)
        state = vals.get("state")
        if state in ATTENTION:
            self._sale_inbox_needs_attention(state)
        elif state in RESOLVED:
            self._sale_inbox_resolved(state)
        return result

    def _sale_inbox_needs_attention(self, state):
        """An activity for each order without an open one, and the rules' notices for them:
        an order that fails again (Retry, a new version from the store) is not told twice
        until it is resolved."""
        try:
            with self.env.cr.savepoint():
                fresh = self._sale_inbox_schedule_activities()
        except Exception as exc:  # noqa: BLE001 -- processing's result stands whatever happens here
            _logger.error("Sales Inbox: activities for orders %s could not be scheduled: %s", self.ids,
                          type(exc).__name__)
            fresh = self
        if fresh and listens(self.env, fresh.channel_id.ids, state):
            fresh._sale_inbox_notice_attention(state)

    def _sale_inbox_schedule_activities(self):
        """Schedule the missing activities; returns the orders that had none open."""
        activity_type = self.env.ref(ACTIVITY_TYPE, raise_if_not_found=False)
        if not activity_type:
            return self
        Activity = self.env["mail.activity"].sudo()
        has_open = set(Activity.search([
            ("res_model", "=", self._name), ("res_id", "in", self.ids), ("activity_type_id", "=", activity_type.id),
        ]).mapped("res_id"))
        fresh = self.filtered(lambda order: order.id not in has_open)
        model_id = self.env["ir.model"]._get_id(self._name)
        labels = dict(self._fields["failed_step"]._description_selection(self.env))
        values = []
        for order in fresh:
            # The Responsible is who the channel names to be told; without one, the Salesperson
            # the channel's sales orders go to is the person closest to its orders.
            person = order.channel_id.responsible_id or order.channel_id.user_id
            if not person or not person.active:
                continue
            what = self.env._("Needs review") if order.state == "needs_review" else self.env._("Error")
            step = labels.get(order.failed_step) or ""
            values.append({
                "res_model_id": model_id,
                "res_id": order.id,
                "activity_type_id": activity_type.id,
                # Automated: activity_feedback closes only those.
                "automated": True,
                "user_id": person.id,
                "date_deadline": fields.Date.context_today(order),
                "summary": f"{what}: {step}" if step else what,
                "note": order.error_message and plaintext2html(order.error_message),
            })
        if values:
            # Quietly: the person sees it in their activities; e-mails are the rules' to send.
            Activity.with_context(mail_activity_quick_update=True).create(values)
        return fresh

    def _sale_inbox_resolved(self, state):
        """The orders' open activities are done: the order is resolved."""
        try:
            with self.env.cr.savepoint():
                feedback = self.env._("Done.") if state == "done" else self.env._("Cancelled.")
                self.sudo().activity_feedback([ACTIVITY_TYPE], feedback=feedback)
        except Exception as exc:  # noqa: BLE001
            _logger.error("Sales Inbox: activities of orders %s could not be marked done: %s", self.ids,
                          type(exc).__name__)

    def _sale_inbox_notice_attention(self, state):
        labels = dict(self._fields["failed_step"]._description_selection(self.env))
        items = []
        for order in self:
            try:
                if state == "needs_review":
                    subject = self.env._("Order %(order)s of %(channel)s needs review",
                                         order=order.name, channel=order.channel_id.name)
                else:
                    subject = self.env._("Order %(order)s of %(channel)s failed",
                                         order=order.name, channel=order.channel_id.name)
                # The step only: the error's text may quote what the store sent (a customer's
                # data), and notices leave Odoo; the link shows it to whoever may read it.
                reason = labels.get(order.failed_step) or ""
                items.append({"channel_id": order.channel_id.id, "event": state, "order_id": order.id,
                              "subject": subject, "body": f"{reason}\n{order_url(order)}".strip()})
            except Exception as exc:  # noqa: BLE001
                _logger.error("Sales Inbox: the notice of order %s could not be written: %s", order.id,
                              type(exc).__name__)
        self.env["sale.inbox.notice"]._record_safely(items)
