import logging
from datetime import timedelta
from decimal import Decimal

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..platforms.base import ODOO_STAGES, StatusUpdate, batches
from ..platforms.http import ApiAuthError, ApiBadAnswer, ApiError, ApiRateLimited, ApiUnavailable, RetryPolicy
from .sale_channel import MANAGER, check_group_access
from .sale_channel_status_map import STAGE_LABELS
from .sale_inbox_job import job_error_text, log_job_error

_logger = logging.getLogger(__name__)

#: Sends tried before a message is given up (and shown as failed).
MAX_ATTEMPTS = 10
#: Longest wait between two tries, in minutes.
MAX_BACKOFF_MINUTES = 240
#: Messages claimed per round; the job commits after each round.
CLAIM_SIZE = 50
#: The job's own back-off replaces most of the HTTP client's: one quick retry only.
OUTBOX_RETRY = RetryPolicy(attempts=2, backoff=0.5, max_wait=5.0)
#: Errors after which a message is tried again later: the store did not answer, not to these
#: credentials, or not as its API does (a page instead of JSON); settings can be mended meanwhile.
RETRIED_ERRORS = (ApiUnavailable, ApiRateLimited, ApiAuthError, ApiBadAnswer)
#: The messages due now that are the oldest pending one of their order (parameter: now).
DUE_MESSAGES = """
      FROM sale_channel_outbox m
      JOIN sale_channel c ON c.id = m.channel_id
     WHERE m.state = 'pending' AND m.next_attempt_at <= %s
       -- a disconnected channel runs no jobs: its messages wait for it
       AND c.active AND c.state = 'connected'
       AND NOT EXISTS (SELECT 1 FROM sale_channel_outbox o
                        WHERE o.sale_order_id = m.sale_order_id AND o.state = 'pending' AND o.id < m.id)
"""


def refused(exc):
    """Whether the store understood the request and refused it: trying again would change
    nothing. Anything else (no answer, an answer we cannot read, no request made at all, an
    unexpected exception) is a failed attempt, tried again with back-off."""
    return isinstance(exc, ApiError) and not isinstance(exc, RETRIED_ERRORS) and exc.status is not None


class SaleChannelOutbox(models.Model):
    """A status change for a store, written in the transaction that made it and sent by a job:
    in order for each order, retried with back-off while the store fails, never lost."""

    _name = "sale.channel.outbox"
    _inherit = ["sale.inbox.job", "channel.owned.mixin"]
    _description = "Status Outbox Message"
    _order = "id desc"
    _rec_name = "store_status"

    channel_id = fields.Many2one("sale.channel", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="channel_id.company_id", store=True, index=True)
    sale_order_id = fields.Many2one("sale.order", string="Sales Order", required=True, ondelete="cascade",
                                    index=True)
    external_id = fields.Char(string="Store Order ID", required=True)
    odoo_stage = fields.Selection(
        [(stage, STAGE_LABELS[stage]) for stage in ODOO_STAGES], readonly=True,
        help="The stage the order reached.")
    store_status = fields.Char(string="Store Status Code", required=True, readonly=True,
                               help="The store's code of the status it is told.")
    store_status_label = fields.Char(
        string="Store Status", compute="_compute_store_status_label",
        help="What the store is told, as the store names it.")
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

    @api.depends("store_status", "channel_id.platform")
    def _compute_store_status_label(self):
        for message in self:
            message.store_status_label = message._status_label()

    @api.depends("store_status_label", "sale_order_id")
    def _compute_display_name(self):
        for message in self:
            message.display_name = f"{message.sale_order_id.name or ''}: {message.store_status_label or ''}"

    def _status_label(self):
        """The store's name of the status (IdoSell's ``on_order`` is "Being handled"); the code
        itself when the platform lists no such status."""
        self.ensure_one()
        if not self.channel_id or not self.store_status:
            return self.store_status or ""
        labels = {status.code: status.label for status in self.channel_id._platform().order_statuses}
        return labels.get(self.store_status, self.store_status)

    def _result_text(self, result):
        """What the store's client reports, the status in it by its label: clients answer
        ``status <code>`` (and what else they did: ``, tracking …``)."""
        prefix = f"status {self.store_status}"
        if result.startswith(prefix):
            return self.env._("status “%s”", self._status_label()) + result[len(prefix):]
        return result

    @api.model
    def _cron_send(self, time_budget=240):
        """Send due messages, the oldest of each order first, until none is due, or the time
        is up (the cron runner then hears that some are left, and runs the job again)."""
        deadline = fields.Datetime.now() + timedelta(seconds=time_budget)
        commit = self._commit_allowed()
        sent = handled = 0
        messages = self.browse()
        while fields.Datetime.now() < deadline:
            messages = self._claim_fresh(self._claim)
            if not messages:
                break
            sent += messages._send()
            handled += len(messages)
            if not commit:
                break
            # The round is done: its answers are kept, and its messages released, before the
            # next claim (a worker stopped later sends only its own round again).
            self.env.cr.commit()  # pylint: disable=invalid-commit
        self._notify_job_progress(handled, self._count_due() if messages else 0)
        return sent

    @api.model
    def _claim(self, limit=CLAIM_SIZE):
        """Due messages that are the oldest pending one of their order, locked; messages
        another worker holds are skipped, so several workers share the outbox."""
        self.flush_model()
        self.env["sale.channel"].flush_model(["active", "state"])
        self.env.cr.execute(
            """
            SELECT m.id""" + DUE_MESSAGES + """
             ORDER BY m.id LIMIT %s
               FOR UPDATE OF m SKIP LOCKED
            """,
            (fields.Datetime.now(), limit),
            log_exceptions=False,  # a serialization failure is expected: _claim_fresh retries
        )
        return self.browse([row[0] for row in self.env.cr.fetchall()])

    @api.model
    def _count_due(self):
        """How many messages the next claim could take: told to the cron runner, which then
        runs the job again at once."""
        self.flush_model()
        self.env["sale.channel"].flush_model(["active", "state"])
        self.env.cr.execute("SELECT count(*)" + DUE_MESSAGES, (fields.Datetime.now(),))
        return self.env.cr.fetchone()[0]

    def _send(self):
        """Send these messages (one per order), as many per request as the store takes;
        returns how many the stores took.

        Each channel, and each request within it, is a unit of its own: whatever goes wrong
        there (an exception of any kind) is a failed attempt of those messages only, undone
        and tried again later with back-off, the error shown on the messages and the channel."""
        sent = 0
        for channel in self.channel_id:
            messages = self.filtered(lambda m, c=channel: m.channel_id == c)
            ok, count = self._run_isolated(channel, "status sync", messages._send_channel, channel,
                                           on_error=messages._postpone)
            sent += count if ok else 0
        return sent

    def _send_channel(self, channel):
        try:
            client = channel._api_client(retry=OUTBOX_RETRY)
        except UserError as exc:  # no credentials yet: kept, and said on the channel
            self._postpone(str(exc))
            return 0
        sent = 0
        for chunk in batches(list(self), client.status_batch_size):
            batch = self.browse([m.id for m in chunk])
            ok, count = self._run_isolated(channel, "status sync", batch._send_batch, client,
                                           on_error=batch._postpone)
            sent += count if ok else 0
        return sent

    def _send_batch(self, client):
        """One request for these messages of one channel; each order's answer on its own."""
        updates = {}
        for message in self:
            try:
                updates[message.id] = message._status_update()
            except Exception as exc:  # noqa: BLE001 - a message that cannot be read fails alone
                log_job_error(message, "status message", exc)
                message._postpone(job_error_text(exc))
        messages = self.filtered(lambda m: m.id in updates)
        if not messages:
            return 0
        try:
            results = client.set_order_statuses([updates[message.id] for message in messages])
        except ApiError as exc:
            if refused(exc):
                messages._give_up(str(exc))
            else:
                messages._postpone(str(exc))
            return 0
        sent = 0
        for message in messages:
            result = results.get(message.external_id, ApiError("the store did not answer for this order"))
            if isinstance(result, RETRIED_ERRORS):
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
        # What was done, in the store's words (its status by name, not by code).
        result = self._result_text(result)
        self.write({"state": "sent", "sent_at": fields.Datetime.now(), "result": result[:250],
                    "attempts": self.attempts + 1, "last_error": False})
        self.sale_order_id._message_log(body=self.env._("%(store)s told: %(result)s.", store=self.channel_id.name,
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
            _logger.info("Status outbox %s (channel %s, order %r): retry in %s min: %r",
                         message.id, message.channel_id.id, message.external_id, wait, error)
        self.channel_id.write({"last_error": error, "last_error_date": fields.Datetime.now()})

    def _give_up(self, error):
        for message in self:
            message.write({"state": "failed", "attempts": message.attempts + 1, "last_error": error})
        self.channel_id.write({"last_error": error, "last_error_date": fields.Datetime.now()})
        for message in self:
            message.sale_order_id._message_log(body=self.env._(
                "%(store)s was not told “%(status)s”: %(error)s", store=message.channel_id.name,
                status=message._status_label(), error=error))

    # People write no message (the access rights give managers read only): what the store is
    # told is the sales order's and the job's. A manager's Retry and Don't Send change only the
    # state, as superuser, once the check has passed.

    def _check_manager_action(self):
        """Managers only, on messages they see of channels they may change: a message sent again
        tells the store, with the channel's credentials."""
        check_group_access(self, MANAGER, "read")
        self.channel_id._check_manager()

    def action_retry(self):
        self._check_manager_action()
        self.filtered(lambda m: m.state in ("failed", "pending")).sudo().write(
            {"state": "pending", "next_attempt_at": fields.Datetime.now()})
        self.env.ref("sale_inbox.ir_cron_send_outbox").sudo()._trigger()

    def action_cancel(self):
        self._check_manager_action()
        self.filtered(lambda m: m.state in ("failed", "pending")).sudo().write({"state": "cancelled"})
