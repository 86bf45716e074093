import logging
from datetime import timedelta
from decimal import Decimal

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from ..platforms.base import ODOO_STAGES, StatusUpdate, batches
from ..platforms.http import ApiAuthError, ApiError, ApiRateLimited, ApiUnavailable, RetryPolicy

from .sale_channel_status_map import STAGE_LABELS

_logger = logging.getLogger(__name__)

#: Sends tried before a message is given up (and shown as failed).
MAX_ATTEMPTS = 10
#: Longest wait between two tries, in minutes.
MAX_BACKOFF_MINUTES = 240
#: Messages claimed per round; the job commits after each round.
CLAIM_SIZE = 50
#: The job's own back-off replaces most of the HTTP client's: one quick retry only.
OUTBOX_RETRY = RetryPolicy(attempts=2, backoff=0.5, max_wait=5.0)


class SaleChannelOutbox(models.Model):
    """A status change for a store, written in the transaction that made it and sent by a job:
    in order for each order, retried with back-off while the store fails, never lost."""

    _name = "sale.channel.outbox"
    _inherit = ["sale.inbox.job"]
    _description = "Status Outbox Message"
    _order = "id desc"
    _rec_name = "store_status"

    channel_id = fields.Many2one("sale.channel", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="channel_id.company_id", store=True, index=True)
    sale_order_id = fields.Many2one("sale.order", string="Sales Order", required=True, ondelete="cascade",
                                    index=True)
    external_id = fields.Char(string="Store Order ID", required=True)
    odoo_stage = fields.Selection(
        [(stage, STAGE_LABELS[stage]) for stage in ODOO_STAGES], string="Odoo Stage", readonly=True,
        help="The stage the order reached.")
    store_status = fields.Char(required=True, readonly=True, help="What the store is told.")
    tracking_number = fields.Char(readonly=True)
    tracking_url = fields.Char(string="Tracking URL", readonly=True)
    carrier = fields.Char(readonly=True)
    delivered = fields.Json(
        string="Delivered Quantities", readonly=True,
        help="{SKU: quantity delivered so far} when the message was written, for stores that record "
        "partial deliveries (Shopify).")
    state = fields.Selection(
        [("pending", "Pending"), ("sent", "Sent"), ("failed", "Failed"), ("cancelled", "Cancelled")],
        required=True, default="pending", readonly=True, index=True,
        help="Pending messages are sent by the status job; a failed one was refused by the store or "
        "gave up after many tries: Retry sends it again.")
    attempts = fields.Integer(readonly=True)
    next_attempt_at = fields.Datetime(
        string="Next Try", readonly=True, default=fields.Datetime.now, index=True)
    sent_at = fields.Datetime(readonly=True)
    result = fields.Char(readonly=True, help="What the store was asked to do.")
    last_error = fields.Text(readonly=True)

    @api.model
    def _cron_send(self, time_budget=240):
        """Send due messages, the oldest of each order first, until none is due."""
        deadline = fields.Datetime.now() + timedelta(seconds=time_budget)
        commit = self._commit_allowed()
        sent = 0
        while fields.Datetime.now() < deadline:
            messages = self._claim_fresh(self._claim)
            if not messages:
                break
            sent += messages._send()
            if not commit:
                break
            self.env.cr.commit()
        return sent

    @api.model
    def _claim(self, limit=CLAIM_SIZE):
        """Due messages that are the oldest pending one of their order, locked; messages
        another worker holds are skipped, so several workers share the outbox."""
        self.flush_model()
        self.env["sale.channel"].flush_model(["active", "state"])
        self.env.cr.execute(
            """
            SELECT m.id FROM sale_channel_outbox m
              JOIN sale_channel c ON c.id = m.channel_id
             WHERE m.state = 'pending' AND m.next_attempt_at <= %s
               -- a disconnected channel runs no jobs: its messages wait for it
               AND c.active AND c.state = 'connected'
               AND NOT EXISTS (SELECT 1 FROM sale_channel_outbox o
                                WHERE o.sale_order_id = m.sale_order_id AND o.state = 'pending' AND o.id < m.id)
             ORDER BY m.id LIMIT %s
               FOR UPDATE OF m SKIP LOCKED
            """,
            (fields.Datetime.now(), limit),
            log_exceptions=False,  # a serialization failure is expected: _claim_fresh retries
        )
        return self.browse([row[0] for row in self.env.cr.fetchall()])

    def _send(self):
        """Send these messages (one per order), as many per request as the store takes;
        returns how many the stores took."""
        sent = 0
        for channel in self.channel_id:
            messages = self.filtered(lambda m, c=channel: m.channel_id == c)
            try:
                client = channel._api_client(retry=OUTBOX_RETRY)
            except UserError as exc:  # no credentials yet: kept, and said on the channel
                messages._postpone(str(exc))
                continue
            for chunk in batches(list(messages), client.status_batch_size):
                sent += self.browse([m.id for m in chunk])._send_batch(client)
        return sent

    def _send_batch(self, client):
        try:
            results = client.set_order_statuses([message._status_update() for message in self])
        except (ApiUnavailable, ApiRateLimited, ApiAuthError) as exc:
            # The store did not answer, or not to these credentials: the request is tried
            # again later (credentials can be mended meanwhile).
            self._postpone(str(exc))
            return 0
        except ApiError as exc:
            # The store understood and refused: trying again would change nothing.
            self._give_up(str(exc))
            return 0
        sent = 0
        for message in self:
            result = results.get(message.external_id, ApiError("the store did not answer for this order"))
            if isinstance(result, (ApiUnavailable, ApiRateLimited)):
                message._postpone(str(result))
            elif isinstance(result, Exception):
                message._give_up(str(result))
            else:
                message._mark_sent(result)
                sent += 1
        return sent

    def _status_update(self):
        self.ensure_one()
        return StatusUpdate(self.external_id, self.store_status, tracking_number=self.tracking_number or "",
                            tracking_url=self.tracking_url or "", carrier=self.carrier or "",
                            delivered={sku: Decimal(str(qty)) for sku, qty in (self.delivered or {}).items()})

    def _mark_sent(self, result):
        self.write({"state": "sent", "sent_at": fields.Datetime.now(), "result": result[:250],
                    "attempts": self.attempts + 1, "last_error": False})
        self.sale_order_id._message_log(body=_("%(store)s told: %(result)s.", store=self.channel_id.name,
                                               result=result))

    def _postpone(self, error):
        """The store did not answer: try again later, waiting longer each time."""
        for message in self:
            attempts = message.attempts + 1
            if attempts >= MAX_ATTEMPTS:
                message._give_up(error)
                continue
            wait = min(2 ** attempts, MAX_BACKOFF_MINUTES)
            message.write({"attempts": attempts, "last_error": error,
                           "next_attempt_at": fields.Datetime.now() + timedelta(minutes=wait)})
            _logger.info("Status outbox %s (channel %s, order %s): retry in %s min: %s",
                         message.id, message.channel_id.id, message.external_id, wait, error)
        self.channel_id.write({"last_error": error, "last_error_date": fields.Datetime.now()})

    def _give_up(self, error):
        for message in self:
            message.write({"state": "failed", "attempts": message.attempts + 1, "last_error": error})
        self.channel_id.write({"last_error": error, "last_error_date": fields.Datetime.now()})
        for message in self:
            message.sale_order_id._message_log(body=_(
                "%(store)s was not told '%(status)s': %(error)s", store=message.channel_id.name,
                status=message.store_status, error=error))

    def action_retry(self):
        self.filtered(lambda m: m.state in ("failed", "pending")).write(
            {"state": "pending", "next_attempt_at": fields.Datetime.now()})
        self.env.ref("sale_inbox.ir_cron_send_outbox").sudo()._trigger()

    def action_cancel(self):
        self.filtered(lambda m: m.state in ("failed", "pending")).write({"state": "cancelled"})
