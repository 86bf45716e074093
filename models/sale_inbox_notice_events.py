"""Where the events that notification rules listen to happen: a new order stored by intake, a
channel whose store calls start failing, a stock sync run that failed, a status the store was
not told. Orders that need review or fail are told by ``sale_inbox_order_activity.py``.

Each hook is cheap when no rule listens (``_listened_events`` is cached per process) and never
raises (``_record_safely``): the event's own work goes on whatever happens here.

Notices carry no customer's personal data (they go to chats and mailboxes outside Odoo): the
order's number, channel, total and what stopped it, with a link to the order.
"""
import logging

from odoo import api, models

_logger = logging.getLogger(__name__)


def order_url(order):
    return f"{order.get_base_url()}/odoo/sale.inbox.order/{order.id}"


def channel_url(channel):
    return f"{channel.get_base_url()}/odoo/sale.channel/{channel.id}"


def listens(env, channel_ids, event):
    """Whether a rule of one of ``channel_ids`` listens to ``event`` (no query once cached)."""
    try:
        listened = env["sale.channel.notify.rule"]._listened_events()
    except Exception as exc:  # noqa: BLE001 -- the event goes on untold
        _logger.error("Sales Inbox: notification rules could not be read: %s", type(exc).__name__)
        return False
    return any((channel_id, event) in listened for channel_id in channel_ids)


class SaleInboxOrder(models.Model):
    _inherit = "sale.inbox.order"

    @api.model
    def _intake(self, channel, delivery, body, content_type, received_at=None):
        order_id, created = super()._intake(channel, delivery, body, content_type, received_at)
        if created and delivery.order is not None and listens(self.env, channel.ids, "new_order"):
            self._notice_new_order(channel, order_id, delivery.order)
        return order_id, created

    @api.model
    def _notice_new_order(self, channel, order_id, normalized):
        try:
            number = normalized.number or normalized.external_id
            subject = self.env._("New order %(number)s in %(channel)s", number=number, channel=channel.name)
            body = self.env._("Total %(total)s %(currency)s.", total=normalized.total, currency=normalized.currency)
            body += "\n" + order_url(self.browse(order_id))
        except Exception as exc:  # noqa: BLE001 -- an order is never refused for its notice
            _logger.error("Sales Inbox: the new-order notice of order %s could not be written: %s", order_id,
                          type(exc).__name__)
            return
        self.env["sale.inbox.notice"]._record_safely([{
            "channel_id": channel.id, "event": "new_order", "order_id": order_id, "subject": subject, "body": body,
        }])

    @api.model
    def _store_unreadable(self, channel, body, content_type, error):
        order_id, created = super()._store_unreadable(channel, body, content_type, error)
        if created:
            # Stored in SQL in error: it needs a person as an order stopped by processing does.
            self.browse(order_id)._sale_inbox_needs_attention("error")
        return order_id, created


class SaleChannel(models.Model):
    _inherit = "sale.channel"

    def write(self, vals):
        starting = self.browse()
        if vals.get("last_error") and listens(self.env, self.ids, "channel_failing"):
            # Told when it starts failing, not at every failed call after: "failing" as the
            # health light reads it (an error no poll or import answered since), since an
            # error a later success proved past stays written on the channel.
            starting = self.filtered(lambda channel: not channel._connection_error())
        result = super().write(vals)
        if starting:
            self.env["sale.inbox.notice"]._record_safely([{
                "channel_id": channel.id, "event": "channel_failing",
                "subject": self.env._("%s is failing", channel.name),
                "body": f"{vals['last_error']}\n{channel_url(channel)}",
            } for channel in starting])
        return result


class SaleChannelSync(models.Model):
    _inherit = "sale.channel.sync"

    def write(self, vals):
        result = super().write(vals)
        if vals.get("state") == "failed" and listens(self.env, self.channel_id.ids, "sync_failure"):
            self.env["sale.inbox.notice"]._record_safely([{
                "channel_id": run.channel_id.id, "event": "sync_failure",
                "subject": self.env._("Stock sync of %s failed", run.channel_id.name),
                "body": f"{run.message or ''}\n{channel_url(run.channel_id)}".strip(),
            } for run in self])
        return result


class SaleChannelOutbox(models.Model):
    _inherit = "sale.channel.outbox"

    def write(self, vals):
        result = super().write(vals)
        if vals.get("state") == "failed" and listens(self.env, self.channel_id.ids, "outbox_failure"):
            self.env["sale.inbox.notice"]._record_safely([{
                "channel_id": message.channel_id.id, "event": "outbox_failure",
                "subject": self.env._("%(store)s was not told '%(status)s' for order %(order)s",
                                      store=message.channel_id.name, status=message.store_status_label,
                                      order=message.sale_order_id.name or message.external_id),
                "body": message.last_error or "",
            } for message in self])
        return result
