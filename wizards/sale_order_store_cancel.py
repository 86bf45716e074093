"""Cancelling a marketplace order in Odoo (Ozon FBS): the marketplace wants one of its reasons,
read live for the posting when the wizard opens; the person picks one (Ozon's "other", 402,
needs a message: checked here, on the server), then the order is cancelled and the
cancellation put in the status outbox with the reason, once."""
import logging

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError

from ..models.sale_inbox_job import job_error_text
from ..models.sale_order import CANCEL_REASON, CancelReason
from ..platforms.base import PlatformError
from ..platforms.http import RetryPolicy

_logger = logging.getLogger(__name__)

#: The reason whose message is required (Ozon: "other").
MESSAGE_REQUIRED = {"402"}
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
    needs_message = fields.Boolean()


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
        number = order.inbox_order_id.external_id
        try:
            # As superuser: the store is asked only for this order, which the person may cancel.
            client = order.channel_id._api_client(retry=WIZARD_RETRY)
            reasons = client.cancel_reasons([number]).get(number, [])
        except Exception as exc:  # noqa: BLE001 -- whatever went wrong, the person is told, nothing is cancelled
            if not isinstance(exc, (PlatformError, UserError)):
                _logger.warning("Sales Inbox: cancellation reasons of channel %s: %s", order.channel_id.id,
                                type(exc).__name__)
            self.fetch_error = self.env._(
                "%(store)s could not be asked for its cancellation reasons: %(error)s. Try again later, or "
                "cancel in Odoo only.", store=order.channel_id.name, error=job_error_text(exc))
            return
        if not reasons:
            self.fetch_error = self.env._(
                "%(store)s allows no cancellation of %(number)s now (delivered, or cancelled already).",
                store=order.channel_id.name, number=number)
            return
        self.reason_ids = [fields.Command.create({
            "sequence": index, "code": reason["id"], "name": reason["title"],
            "needs_message": reason["id"] in MESSAGE_REQUIRED,
        }) for index, reason in enumerate(reasons)]

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
        if reason.needs_message and not message:
            raise ValidationError(self.env._("The reason “%s” needs a message for the store.", reason.name))
        choice = CancelReason(reason.code, reason.name, message)
        order.with_context(**{CANCEL_REASON: choice, "disable_cancel_warning": True}).action_cancel()
        order._sale_inbox_queue_cancellation(choice)
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
