"""Cancelling a marketplace order in Odoo (Ozon FBS): the marketplace wants one of its reasons,
read live for each posting of the order when the wizard opens (the reasons every posting
allows are offered); the person picks one (Ozon's "other" needs a message: checked here, on
the server, from the reason's id), then the order is cancelled and the cancellation put in
the status outbox with the reason, once per posting."""
import logging

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError

from ..models.sale_inbox_job import job_error_text
from ..models.sale_order import CANCEL_REASON, CancelReason
from ..platforms.base import PlatformError
from ..platforms.http import RetryPolicy
from ..platforms.ozon.cancellation import OTHER_REASON

_logger = logging.getLogger(__name__)

#: The person waits for the answer: one quick retry.
WIZARD_RETRY = RetryPolicy(attempts=2, backoff=0.5, max_wait=3.0)


class SaleOrderStoreCancelReason(models.TransientModel):
    _name = "sale.order.store.cancel.reason"
    _description = "Store Cancellation Reason"
    _order = "sequence, id"

    wizard_id = fields.Many2one("sale.order.store.cancel", required=True, ondelete="cascade")
    sequence = fields.Integer()
    code = fields.Char(required=True)
    name = fields.Char(required=True)
    # From the reason's id, on the server: never a value a person could write.
    needs_message = fields.Boolean(compute="_compute_needs_message")

    @api.depends("code")
    def _compute_needs_message(self):
        for reason in self:
            reason.needs_message = reason_needs_message(reason.code)


class SaleOrderStoreCancel(models.TransientModel):
    _name = "sale.order.store.cancel"
    _description = "Cancel a Marketplace Order"

    sale_order_id = fields.Many2one("sale.order", required=True, readonly=True, ondelete="cascade")
    channel_name = fields.Char(related="sale_order_id.channel_id.name", string="Store")
    reason_ids = fields.One2many("sale.order.store.cancel.reason", "wizard_id", string="Reasons Allowed",
                                 readonly=True)
    reason_id = fields.Many2one("sale.order.store.cancel.reason",
                                domain="[('wizard_id', '=', id)]")
    needs_message = fields.Boolean(related="reason_id.needs_message")
    message = fields.Text(help="What the store is told, for a reason that needs the merchant's own words.")
    fetch_error = fields.Char(readonly=True)

    @api.model
    def _open_for(self, order):
        """The wizard for ``order``, its reasons read from the store now."""
        order.check_access("write")
        wizard = self.create({"sale_order_id": order.id})
        wizard._fetch_reasons()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Cancel %s", order.name),
            "res_model": self._name,
            "res_id": wizard.id,
            "view_mode": "form",
            "target": "new",
        }

    def _fetch_reasons(self):
        self.ensure_one()
        order = self.sale_order_id.sudo()
        numbers = order._store_postings()
        try:
            # As superuser: the store is asked only for this order, which the person may cancel.
            client = order.channel_id._api_client(retry=WIZARD_RETRY)
            allowed = client.cancel_reasons(numbers) if numbers else {}
        except Exception as exc:  # noqa: BLE001 -- whatever went wrong, the person is told, nothing is cancelled
            if not isinstance(exc, (PlatformError, UserError)):
                _logger.warning("Sales Inbox: cancellation reasons of channel %s: %s", order.channel_id.id,
                                type(exc).__name__)
            self.fetch_error = self.env._(
                "%(store)s could not be asked for its cancellation reasons: %(error)s. Try again later, or "
                "cancel in Odoo only.", store=order.channel_id.name, error=job_error_text(exc))
            return
        refused = [number for number in numbers if not allowed.get(number)]
        # One reason is sent for every posting: only those they all allow.
        reasons = [reason for reason in allowed.get(numbers[0], [])
                   if all(any(r["id"] == reason["id"] for r in allowed[n]) for n in numbers[1:])] if numbers else []
        if refused or not numbers:
            self.fetch_error = self.env._(
                "%(store)s allows no cancellation of %(number)s now (delivered, or cancelled already).",
                store=order.channel_id.name, number=", ".join(refused) or order.inbox_order_id.external_id)
            return
        if not reasons:
            self.fetch_error = self.env._(
                "%(store)s allows no reason common to the postings %(numbers)s: cancel them in the store.",
                store=order.channel_id.name, numbers=", ".join(numbers))
            return
        self.reason_ids = [fields.Command.create({"sequence": index, "code": reason["id"], "name": reason["title"]})
                           for index, reason in enumerate(reasons)]

    def _check_order(self):
        self.ensure_one()
        order = self.sale_order_id
        order.check_access("write")
        if not order._sale_inbox_needs_cancel_reason():
            raise UserError(self.env._("%s is cancelled already, or its store needs no reason.", order.name))
        return order

    def action_confirm(self):
        """Cancel the order and tell the store, with the reason chosen."""
        order = self._check_order()
        reason = self.reason_id
        if not reason or reason.wizard_id != self:
            raise ValidationError(self.env._("Choose one of the store's reasons."))
        message = (self.message or "").strip()
        if reason_needs_message(reason.code) and not message:
            raise ValidationError(self.env._("The reason “%s” needs a message for the store.", reason.name))
        choice = CancelReason(reason.code, reason.name, message)
        # Before cancelling: the status sync may write "cancelled" as the order's store status.
        postings = order.sudo()._store_postings()
        order.with_context(**{CANCEL_REASON: choice, "disable_cancel_warning": True}).action_cancel()
        order.sudo()._store_queue_cancellations(choice, postings)
        order._message_log(body=self.env._("Cancelled; %(store)s is told the reason “%(reason)s”.",
                                           store=order.sudo().channel_id.name, reason=reason.name))
        return {"type": "ir.actions.act_window_close"}

    def action_cancel_in_odoo_only(self):
        """Cancel the order in Odoo only: the store is not told (cancelled there already, or it
        will be by hand)."""
        order = self._check_order()
        order.with_context(**{CANCEL_REASON: CancelReason(""), "disable_cancel_warning": True}).action_cancel()
        order._message_log(body=self.env._("Cancelled in Odoo only; %s was not told.",
                                           order.sudo().channel_id.name))
        return {"type": "ir.actions.act_window_close"}


def reason_needs_message(code):
    """Whether the store wants the merchant's own words with this reason (Ozon: its "other").
    The wizard is offered only for stores that cancel with a reason, which Ozon alone does."""
    return str(code or "").strip() == OTHER_REASON
