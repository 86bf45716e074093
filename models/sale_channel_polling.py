"""Reading orders from the store's API: Import Orders and the poll for missed orders."""
import json
import logging
from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError

from .. import platforms

_logger = logging.getLogger(__name__)

#: Minutes the poll reads back before its watermark, for changes committed out of order.
POLL_OVERLAP_MINUTES = 10


class SaleChannel(models.Model):
    _inherit = "sale.channel"

    poll_orders = fields.Boolean(
        string="Poll for Missed Orders",
        help="Every 15 minutes, read the orders changed in the store since the last poll: "
        "whatever a webhook missed comes in the same way, never twice.",
    )
    poll_watermark = fields.Datetime(
        string="Polled Up To", copy=False,
        help="Newest change the poll has stored; the next poll reads from a little before it.",
    )

    def _import_orders(self, since, commit_pages=False, progress=None):
        """Put every order changed in the store since ``since`` through intake, page by page.

        The same intake as webhooks, so an order a webhook brought is recognised (same
        content: nothing happens; changed content: a pending delivery). Returns counts and
        the newest change seen, which the poll keeps as its watermark. ``progress(pages,
        counts)`` is called after each page (Import Orders shows it as it goes).
        """
        self.ensure_one()
        platform = self._platform()
        self._check_supports("can_poll_orders", self.env._(
            "%s has no list of orders to read: its orders come by webhook only.", platform.label))
        client = self._api_client()
        Inbox = self.env["sale.inbox.order"].sudo()
        counts = {"created": 0, "known": 0, "unreadable": 0, "refused": 0}
        newest = None
        for pages, page in enumerate(client.orders_since(since.strftime("%Y-%m-%dT%H:%M:%SZ")), start=1):
            for data in page:
                body = json.dumps(data).encode()
                # The webhooks' intake; read from the store's own API, the order is authentic.
                result = Inbox._intake_delivery(self, body, "application/json", verified=True)
                if result.status == "disconnected":
                    raise UserError(self.env._("The channel is disconnected: connect it to import its orders."))
                counts[result.status if result.status in counts else "refused"] += 1
                if result.status not in ("created", "known"):
                    continue
                changed = platform.changed_at(data)
                if changed and (newest is None or changed > newest):
                    newest = changed
            # The watermark moves only once the page is stored, and page by page only when
            # the store lists orders by change time (else at the end of a complete read).
            if commit_pages and newest and getattr(client, "sorted_by_change", True):
                self.sudo().poll_watermark = newest
            if commit_pages and self._commit_allowed():
                # The page is stored (with the watermark that covers it): a failure on a later
                # page reads again from there, not from the start.
                self.env.cr.commit()  # pylint: disable=invalid-commit
            if progress:
                progress(pages, counts)
        complete_up_to = getattr(client, "complete_up_to", None)
        if complete_up_to and (newest is None or complete_up_to > newest):
            newest = complete_up_to
            if commit_pages:
                self.sudo().poll_watermark = newest
        return counts, newest

    @api.model
    def _cron_poll_orders(self):
        """Catch what webhooks missed: orders changed since the watermark, with overlap.

        Each channel is a unit of its own, in its own transaction (its pages are committed as
        they are stored): whatever goes wrong in one channel undoes only its page in progress,
        is shown on it, and the next channel is polled."""
        channels = self.search([("poll_orders", "=", True), ("state", "=", "connected"),
                                ("platform", "in", platforms.supporting("can_poll_orders"))])
        commit = self._commit_allowed()
        for done, channel in enumerate(channels):
            self._run_isolated(channel, "order poll", channel._poll_orders, own_transaction=True)
            self._notify_job_progress(done + 1, len(channels) - done - 1)
            if commit:
                # The channel is done with (its last page, its watermark, or its error): kept
                # whatever the next channel does.
                self.env.cr.commit()  # pylint: disable=invalid-commit

    def _poll_orders(self):
        """One channel's poll, from a little before its watermark (intake wakes the
        processing up for the orders it stores)."""
        self.ensure_one()
        since = (self.poll_watermark or fields.Datetime.now() - timedelta(days=1)) \
            - timedelta(minutes=POLL_OVERLAP_MINUTES)
        counts, _newest = self._import_orders(since, commit_pages=True)
        if counts["created"]:
            _logger.info("Sales channel %s: the poll found %s orders webhooks had not brought",
                         self.id, counts["created"])
        return counts

    @api.onchange("platform")
    def _onchange_platform(self):
        # Stores that never retry a failed webhook, or send none, are polled (see poll_by_default).
        if not self.platform:
            return
        platform = self._platform()
        self.poll_orders = platform.poll_by_default
        if platform.default_timezone and not self.store_timezone:
            self.store_timezone = platform.default_timezone
