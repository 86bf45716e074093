"""The notification queue: what a rule of a channel has to tell, written in the transaction of
the event (one SQL statement for all of an event's notices) and sent by a job.

Sending is the job's alone: a Telegram that does not answer, a bot under flood control or a
broken mail server never delays intake or processing, nor rolls them back. The job claims
notices with ``FOR UPDATE SKIP LOCKED`` (several runners never send one twice), sends each in
its own savepoint, and keeps what failed with its error: a store of Telegram's ``retry_after``
and growing back-off for what may pass (429, an outage, no connection), parked at once for what
a person must mend (a chat not found, a wrong token), and parked after ``MAX_ATTEMPTS`` tries.
Retry puts a parked notice back in the queue.

Sending is at least once: a worker stopped between Telegram's answer and its commit sends the
notice again.
"""
import logging
import time
from datetime import timedelta

from markupsafe import Markup

from odoo import api, fields, models
from odoo.tools import plaintext2html

from ..platforms.telegram import TELEGRAM_API_URL, TelegramClient, TelegramError, split_text
from .sale_channel import MANAGER, check_group_access
from .sale_channel_notify import EVENTS, TELEGRAM_URL_PARAM
from .sale_inbox_job import job_error_text, log_job_error

_logger = logging.getLogger(__name__)

#: Tries before a notice is parked for a person to Retry.
MAX_ATTEMPTS = 8
#: Longest wait between two tries, in minutes.
MAX_BACKOFF_MINUTES = 60
#: Notices one job transaction claims and commits together.
BATCH_SIZE = 20
#: Longest text kept for one notice (an error message quoting a whole answer); what is sent
#: is split into Telegram's 4096-character messages anyway.
MAX_BODY = 12000
CRON_XMLID = "sale_inbox.ir_cron_send_notices"
#: Seconds one run of the job keeps claiming batches.
CRON_TIME_BUDGET = 120
#: Days sent and cancelled notices are kept.
KEEP_DAYS = 30


class SaleInboxNotice(models.Model):
    _name = "sale.inbox.notice"
    _inherit = ["sale.inbox.job"]
    _description = "Sales Inbox Notification"
    _order = "id desc"
    _rec_name = "subject"

    rule_id = fields.Many2one("sale.channel.notify.rule", required=True, ondelete="cascade", index=True,
                              readonly=True)
    channel_id = fields.Many2one("sale.channel", required=True, ondelete="cascade", index=True, readonly=True)
    company_id = fields.Many2one("res.company", required=True, index=True, readonly=True)
    target = fields.Selection(related="rule_id.target", string="Send To")
    event = fields.Selection(EVENTS, required=True, readonly=True)
    order_id = fields.Many2one("sale.inbox.order", string="Inbox Order", ondelete="set null", readonly=True)
    subject = fields.Char(readonly=True)
    body = fields.Text(readonly=True)
    state = fields.Selection(
        [("pending", "To Send"), ("sent", "Sent"), ("failed", "Failed"), ("cancelled", "Cancelled")],
        required=True, default="pending", readonly=True, index=True)
    attempts = fields.Integer(readonly=True)
    next_attempt_at = fields.Datetime(readonly=True, index=True, default=fields.Datetime.now)
    sent_at = fields.Datetime(readonly=True)
    parts_sent = fields.Integer(readonly=True, help="Messages of a long text Telegram took already.")
    last_error = fields.Text(readonly=True)

    # ------------------------------------------------------------------
    # Recording: in the event's transaction, never failing it
    # ------------------------------------------------------------------

    @api.model
    def _record_safely(self, items):
        """Queue the notices of ``items`` for the rules that want them; never raises.

        ``items``: dicts with ``channel_id``, ``event``, ``subject``, ``body`` and optionally
        ``order_id``. Without a rule listening (the usual case) this costs no query. The
        insert runs in a savepoint: whatever goes wrong, the event's own work (an order
        stored, a step recorded) stays, and the failure is logged."""
        try:
            listened = self.env["sale.channel.notify.rule"]._listened_events()
            items = [item for item in items if (item["channel_id"], item["event"]) in listened]
            if not items:
                return
            with self.env.cr.savepoint(flush=False):
                self._record(items)
        except Exception as exc:  # noqa: BLE001 -- telling people never breaks the event
            _logger.error("Sales Inbox: %s notifications could not be queued: %s", len(items),
                          job_error_text(exc).split(":")[0])

    @api.model
    def _record(self, items):
        """One statement: a notice per item and rule that wants its event, and the job's
        trigger when any was made."""
        self.env["sale.channel.notify.rule"].flush_model()
        self.env.cr.execute(
            """
            WITH item AS (
                SELECT * FROM unnest(%(channels)s::int[], %(events)s::varchar[], %(orders)s::int[],
                                     %(subjects)s::varchar[], %(bodies)s::text[])
                              AS t(channel_id, event, order_id, subject, body)
            ), notice AS (
                INSERT INTO sale_inbox_notice (rule_id, channel_id, company_id, event, order_id, subject, body,
                                               state, attempts, parts_sent, next_attempt_at,
                                               create_uid, create_date, write_uid, write_date)
                SELECT r.id, r.channel_id, r.company_id, i.event, i.order_id, i.subject, i.body,
                       'pending', 0, 0, %(now)s, %(uid)s, %(now)s, %(uid)s, %(now)s
                  FROM item i
                  JOIN sale_channel_notify_rule r ON r.channel_id = i.channel_id AND r.active
                 -- One line per event of EVENTS (sale_channel_notify.py) and its on_* column.
                 WHERE (i.event = 'new_order' AND r.on_new_order)
                    OR (i.event = 'needs_review' AND r.on_needs_review)
                    OR (i.event = 'error' AND r.on_error)
                    OR (i.event = 'sync_failure' AND r.on_sync_failure)
                    OR (i.event = 'outbox_failure' AND r.on_outbox_failure)
                    OR (i.event = 'channel_failing' AND r.on_channel_failing)
                RETURNING id
            )
            INSERT INTO ir_cron_trigger (cron_id, call_at, create_uid, create_date, write_uid, write_date)
            SELECT %(cron)s, %(now)s, %(uid)s, %(now)s, %(uid)s, %(now)s
             WHERE EXISTS (SELECT 1 FROM notice)
            RETURNING id
            """,
            {
                "channels": [item["channel_id"] for item in items],
                "events": [item["event"] for item in items],
                "orders": [item.get("order_id") or None for item in items],
                "subjects": [(item.get("subject") or "")[:250] for item in items],
                "bodies": [(item.get("body") or "")[:MAX_BODY] for item in items],
                "now": fields.Datetime.now(),
                "uid": self.env.uid,
                "cron": self.env["ir.model.data"]._xmlid_to_res_id(CRON_XMLID),
            },
            log_exceptions=False,  # the texts may name customers' orders
        )
        if self.env.cr.fetchall():
            self.env["sale.channel"].invalidate_model(["notice_problem_ids"])
            self._wake_processing()

    # ------------------------------------------------------------------
    # The job
    # ------------------------------------------------------------------

    @api.model
    def _claim(self, limit=BATCH_SIZE):
        self.flush_model()
        self.env.cr.execute(
            """
            SELECT id FROM sale_inbox_notice
             WHERE state = 'pending' AND next_attempt_at <= %s
             ORDER BY id
             LIMIT %s
               FOR UPDATE SKIP LOCKED
            """,
            (fields.Datetime.now(), limit),
            log_exceptions=False,  # a serialization failure is expected: _claim_fresh retries
        )
        return self.browse([row[0] for row in self.env.cr.fetchall()])

    @api.model
    def _cron_send(self, batch_size=BATCH_SIZE, time_budget=CRON_TIME_BUDGET):
        """Send what is due, a committed batch after another, for ``time_budget`` seconds at
        most (a slow Telegram must not keep a cron worker past Odoo's limits: what is left is
        sent by the next run, which is triggered at once); returns the notices tried."""
        commit = self._commit_allowed()
        started = time.monotonic()
        done = 0
        while True:
            notices = self._claim_fresh(self._claim, batch_size)
            if not notices:
                break
            notices._send_batch()
            done += len(notices)
            if not commit:
                break
            # The batch's results are kept and its row locks released before the next claim.
            self.env.cr.commit()  # pylint: disable=invalid-commit
            if time.monotonic() - started > time_budget:
                # Committed by Odoo with the end of the run.
                self.env.ref(CRON_XMLID).sudo()._trigger()
                break
        return done

    @api.autovacuum
    def _gc_sent_notices(self):
        """What was sent (or not to be sent) is kept a month, for the list; then deleted."""
        self.search([("state", "in", ("sent", "cancelled")),
                     ("write_date", "<", fields.Datetime.now() - timedelta(days=KEEP_DAYS))]).unlink()

    def _send_batch(self):
        """Each notice on its own: one that fails (even unexpectedly) is kept with its error,
        and the next is sent. A rule that failed once in a batch (flood control, a wrong token,
        a chat not found: one rule is one chat) is not called again in that batch: its other
        notices share the failure."""
        failed_rules = {}
        for notice in self:
            rule = notice.rule_id
            if rule.id in failed_rules:
                notice._failed(failed_rules[rule.id])
                continue
            ok, result = self._run_isolated(notice, "notification", notice._send,
                                            on_error=notice._failed_unexpectedly)
            if ok and result is not None:
                failed_rules[rule.id] = result

    def _send(self):
        """Send this notice; None when sent, else the TelegramError (already recorded)."""
        self.ensure_one()
        rule = self.rule_id.sudo()
        if not rule.active:
            # Turned off since the event: its notices are not sent.
            self.write({"state": "cancelled", "next_attempt_at": False})
            return None
        try:
            self._deliver(rule, self.subject or "", self.body or "", start=self.parts_sent)
        except TelegramError as exc:
            if exc.sent > self.parts_sent:
                # The first parts of a long text went: a retry goes on after them.
                self.write({"parts_sent": exc.sent})
            self._failed(exc)
            return exc
        self.write({"state": "sent", "sent_at": fields.Datetime.now(), "attempts": self.attempts + 1,
                    "last_error": False, "next_attempt_at": False})
        return None

    def _failed(self, exc):
        """Record a delivery that did not go: parked when only a person can mend it (or after
        ``MAX_ATTEMPTS``), else tried again later, not before Telegram's ``retry_after``."""
        for notice in self:
            attempts = notice.attempts + 1
            values = {"attempts": attempts, "last_error": str(exc)}
            if getattr(exc, "permanent", False) or attempts >= MAX_ATTEMPTS:
                values.update(state="failed", next_attempt_at=False)
            else:
                wait = min(2 ** attempts, MAX_BACKOFF_MINUTES) * 60
                wait = max(wait, getattr(exc, "retry_after", None) or 0)
                values["next_attempt_at"] = fields.Datetime.now() + timedelta(seconds=wait)
            notice.write(values)
            _logger.info("Sales Inbox notice %s (rule %s): not sent (attempt %s): %s", notice.id,
                         notice.rule_id.id, attempts, getattr(exc, "error_code", None) or type(exc).__name__)

    def _failed_unexpectedly(self, error):
        """``_run_isolated``'s error callback: the savepoint is rolled back, the error kept."""
        self._failed(_Unexpected(error))

    # ------------------------------------------------------------------
    # Delivery, per target
    # ------------------------------------------------------------------

    @api.model
    def _deliver_now(self, rule, subject, body):
        """Send a message through ``rule`` at once (Send Test Message); the error in words,
        or None when it went."""
        try:
            with self.env.cr.savepoint():
                self._deliver(rule, subject, body)
        except TelegramError as exc:
            return str(exc)
        except Exception as exc:  # noqa: BLE001 -- shown to the manager who pressed the button
            log_job_error(rule, "test message", exc)
            return job_error_text(exc)
        return None

    @api.model
    def _deliver(self, rule, subject, body, start=0):
        getattr(self, f"_deliver_{rule.target}")(rule, subject, body, start)

    @api.model
    def _deliver_telegram(self, rule, subject, body, start=0):
        params = self.env["ir.config_parameter"].sudo()
        base_url = (rule.telegram_api_url or params.get_param(TELEGRAM_URL_PARAM) or TELEGRAM_API_URL).strip()
        # Tests and the demo run a fake Bot API on this machine, which the client refuses unless
        # private addresses are allowed, as for stores.
        allow_private = self.env["sale.channel"]._allow_private_store_addresses()
        client = TelegramClient(rule.telegram_token or "", base_url, allow_private_addresses=allow_private)
        client.send_parts(rule.telegram_chat_id.strip(), split_text(_text(subject, body)), start=start)

    @api.model
    def _deliver_discuss(self, rule, subject, body, start=0):
        rule.discuss_channel_id.sudo().message_post(
            body=Markup("<b>%s</b><br/>") % subject + plaintext2html(body) if subject else plaintext2html(body),
            message_type="comment", subtype_xmlid="mail.mt_comment",
            author_id=self.env.ref("base.partner_root").id)

    @api.model
    def _deliver_email(self, rule, subject, body, start=0):
        """Through Odoo's outgoing mail queue (its own cron sends it, and retries)."""
        addresses = [address.strip() for address in (rule.email_to or "").split(",") if address.strip()]
        company = rule.company_id or self.env.company
        self.env["mail.mail"].sudo().create({
            "subject": subject,
            "body_html": plaintext2html(body),
            "email_from": company.email_formatted or self.env.ref("base.partner_root").email_formatted,
            "email_to": ", ".join(addresses),
            "recipient_ids": [(6, 0, rule.user_ids.partner_id.ids)],
            "auto_delete": True,
        })

    # ------------------------------------------------------------------
    # Buttons (managers)
    # ------------------------------------------------------------------

    def action_retry(self):
        check_group_access(self, MANAGER, "read")
        todo = self.filtered(lambda n: n.state in ("failed", "pending"))
        todo.sudo().write({"state": "pending", "attempts": 0, "next_attempt_at": fields.Datetime.now()})
        self.env.ref(CRON_XMLID).sudo()._trigger()
        return True

    def action_cancel(self):
        check_group_access(self, MANAGER, "read")
        self.filtered(lambda n: n.state in ("failed", "pending")).sudo().write({"state": "cancelled"})
        return True


class _Unexpected(Exception):
    """An error nobody foresaw while sending (already logged by the job): retried with
    back-off, like an outage."""


def _text(subject, body):
    return f"{subject}\n{body}" if subject and body else subject or body
