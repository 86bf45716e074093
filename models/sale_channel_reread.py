"""Store orders to read again from the store's API, as a push notification asked.

Some stores (Ozon) sign nothing they push: a push is never taken as an order. The webhook
stores only the number it names (``_queue``), answers at once, and this job reads the order
from the store's API and puts what the store answers through intake, as the poll does. A
forged push can therefore cause one read of the store's API, nothing more.
"""
import json
import logging
from datetime import timedelta

from odoo import api, fields, models

_logger = logging.getLogger(__name__)

#: Rows one run of the job reads at most (each a call to the store).
BATCH = 200
#: Back-off after a failed read: minutes, doubled at each failure, up to the last.
BACKOFF_MINUTES = (1, 5, 15, 60)


class SaleChannelReread(models.Model):
    _name = "sale.channel.reread"
    _inherit = ["sale.inbox.job"]
    _description = "Store Order to Read Again"
    _order = "id"
    _rec_name = "ref"

    channel_id = fields.Many2one("sale.channel", required=True, readonly=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="channel_id.company_id", store=True, index=True)
    ref = fields.Char(string="Store Order Number", required=True, readonly=True,
                      help="The number the store's notification named (Ozon: the posting number).")
    scheme = fields.Char(readonly=True, help="Which of the store's lists it is in (Ozon: fbs, fbo), when known.")
    received_at = fields.Datetime(string="Notified", readonly=True, required=True)
    next_try_at = fields.Datetime(string="Next Read", readonly=True, required=True, index=True)
    attempt_count = fields.Integer(string="Failed Reads", readonly=True)
    last_error = fields.Text(readonly=True)
    last_error_date = fields.Datetime(readonly=True)

    _sql_constraints = [
        ("ref_unique", "unique(channel_id, ref)", "An order is waiting to be read once per channel."),
    ]

    @api.model
    def _queue(self, channel, refs):
        """Remember the orders a notification names (one statement; the same number again,
        at the same moment or later, is the same row), and have the job run soon."""
        now = fields.Datetime.now()
        rows = [(channel.id, channel.company_id.id, ref, scheme or None, now, now, 0, self.env.uid, now,
                 self.env.uid, now) for ref, scheme in refs]
        if not rows:
            return
        values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"] * len(rows))
        self.env.cr.execute(
            f"""
            INSERT INTO sale_channel_reread (channel_id, company_id, ref, scheme, received_at, next_try_at,
                                             attempt_count, create_uid, create_date, write_uid, write_date)
            VALUES {values}
            ON CONFLICT (channel_id, ref) DO NOTHING
            """,  # noqa: S608 -- placeholders only
            [value for row in rows for value in row],
        )
        self._trigger_job("sale_inbox.ir_cron_reread_store_orders")

    # ------------------------------------------------------------------
    # The job
    # ------------------------------------------------------------------

    @api.model
    def _cron_reread(self, limit=BATCH):
        """Read the notified orders that are due, each on its own: an order the store knows
        goes through intake; one it does not know is dropped; a failed read is kept with its
        error and read again later, each failure waiting longer."""
        due = self._due(limit)
        commit = self._commit_allowed()
        clients = {}
        for done, row_id in enumerate(due):
            row = self._lock(row_id)
            if row:
                self._run_isolated(row, "order read", row._reread, clients, on_error=row._record_failure)
            self._notify_job_progress(done + 1, len(due) - done - 1)
            if commit:
                # This order is stored (or dropped, or its error kept), and its row lock is
                # released: a notification of it arriving now waits for nothing.
                self.env.cr.commit()  # pylint: disable=invalid-commit

    @api.model
    def _due(self, limit):
        self.flush_model()
        self.env.cr.execute(
            """
            SELECT r.id FROM sale_channel_reread r
              JOIN sale_channel c ON c.id = r.channel_id
             WHERE r.next_try_at <= %s AND c.active AND c.state = 'connected'
             ORDER BY r.next_try_at, r.id
             LIMIT %s
            """,
            (fields.Datetime.now(), limit),
        )
        return [row[0] for row in self.env.cr.fetchall()]

    @api.model
    def _lock(self, row_id):
        """The row, locked for this transaction; empty when another run holds it or it is gone."""
        self.env.cr.execute("SELECT id FROM sale_channel_reread WHERE id = %s FOR UPDATE SKIP LOCKED", (row_id,))
        found = self.env.cr.fetchone()
        return self.browse(found[0]) if found else self.browse()

    def _reread(self, clients):
        """Read this order from the store and put it through intake (or drop it)."""
        self.ensure_one()
        channel = self.channel_id
        if channel.id not in clients:
            clients[channel.id] = channel._api_client()
        data = self._read_from_store(clients[channel.id])
        if data is None:
            # Ids only: a number someone made up is no one's data, but nothing is kept of it.
            _logger.info("Sales channel %s: a notified order is unknown to the store; dropped", channel.id)
            self.unlink()
            return "unknown"
        body = json.dumps(data).encode()
        # Read from the store's own API: authentic, as the poll's orders are.
        result = self.env["sale.inbox.order"].sudo()._intake_delivery(channel, body, "application/json",
                                                                     verified=True)
        if result.status not in ("created", "known", "unreadable"):
            # Disconnected meanwhile, or refused: kept, and read again later.
            raise ValueError(f"intake answered {result.status}: {result.message}")
        self.unlink()
        return result.status

    def _read_from_store(self, client):
        """The order as the store's API gives it, or None when the store does not know it.
        Ozon: the scheme a notification gives is not known, so FBS is read first, then FBO."""
        schemes = [self.scheme] if self.scheme else ["fbs", "fbo"]
        for scheme in schemes:
            data = client.posting(self.ref, scheme)
            if data is not None:
                return data
        return None

    def _record_failure(self, error):
        """Keep the row with its error, and read it again after a growing wait."""
        now = fields.Datetime.now()
        for row in self.sudo():
            wait = BACKOFF_MINUTES[min(row.attempt_count, len(BACKOFF_MINUTES) - 1)]
            row.write({"attempt_count": row.attempt_count + 1, "last_error": error, "last_error_date": now,
                       "next_try_at": now + timedelta(minutes=wait)})

    def action_read_now(self):
        """Read these orders again at the job's next run (managers)."""
        self.channel_id._check_manager()
        self.sudo().write({"next_try_at": fields.Datetime.now()})
        self._trigger_job("sale_inbox.ir_cron_reread_store_orders")
