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

from .sale_channel_inventory import STORE_WIDE_ERRORS

_logger = logging.getLogger(__name__)

#: Rows one run of the job reads at most (each a call to the store).
BATCH = 200
#: Back-off after a failed read: minutes, doubled at each failure, up to the last.
BACKOFF_MINUTES = (1, 5, 15, 60)
#: Orders waiting per channel at most: pushes beyond it are not kept (the poll reads every
#: change anyway), so that a flood of pushes, forged or not, cannot fill the table.
MAX_WAITING = 5000
#: Orders the marketplace fulfils (Ozon FBO) change without a list of changes to read them by:
#: the poll reads those created recently; older ones still open in Odoo are read again, once
#: a day each, at most this many per run.
OPEN_FBO_AFTER_DAYS = 14
OPEN_FBO_EVERY = timedelta(days=1)
OPEN_FBO_BATCH = 500


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
        at the same moment or later, is the same row, due again at once), and have the job
        run soon. ``received_at`` is the database's clock, to the microsecond: the job drops
        a row only if no notification came while it read the order (``_drop``)."""
        # One row per number (a statement may not update a row twice).
        unique = {}
        for ref, scheme in refs:
            unique[ref] = unique.get(ref) or scheme or ""
        refs = list(unique.items())
        self.flush_model()
        self.env.cr.execute("SELECT count(*) FROM sale_channel_reread WHERE channel_id = %s", (channel.id,))
        room = MAX_WAITING - self.env.cr.fetchone()[0]
        if len(refs) > room:
            _logger.warning("Sales channel %s: %s notified orders not kept (%s waiting already); the poll reads "
                            "them", channel.id, len(refs) - max(room, 0), MAX_WAITING - room)
            refs = refs[:max(room, 0)]
        now = fields.Datetime.now()
        rows = [(channel.id, channel.company_id.id, ref, scheme or None, now, 0, self.env.uid, now, self.env.uid,
                 now) for ref, scheme in refs]
        if not rows:
            return
        values = ", ".join(["(%s, %s, %s, %s, clock_timestamp() AT TIME ZONE 'UTC', %s, %s, %s, %s, %s, %s)"]
                           * len(rows))
        # A number waiting already is due again at once, even while its read is backing off
        # or running: what the store says now must be read after this notification.
        self.env.cr.execute(
            f"""
            INSERT INTO sale_channel_reread AS r (channel_id, company_id, ref, scheme, received_at, next_try_at,
                                                  attempt_count, create_uid, create_date, write_uid, write_date)
            VALUES {values}
            ON CONFLICT (channel_id, ref) DO UPDATE
               SET received_at = EXCLUDED.received_at,
                   next_try_at = EXCLUDED.next_try_at,
                   scheme = COALESCE(r.scheme, EXCLUDED.scheme)
            """,  # noqa: S608 -- placeholders only
            [value for row in rows for value in row],
        )
        self.invalidate_model(["received_at", "next_try_at", "scheme"])
        self._trigger_job("sale_inbox.ir_cron_reread_store_orders")

    # ------------------------------------------------------------------
    # The job
    # ------------------------------------------------------------------

    @api.model
    def _cron_reread(self, limit=BATCH):
        """Read the notified orders that are due, each on its own: an order the store knows
        goes through intake; one it does not know is dropped; a failed read is kept with its
        error and read again later, each failure waiting longer. A channel the store refuses
        or cannot answer for (key, rate limit, outage) waits for the next run with all its
        orders: reading them one by one now would only fail as often."""
        # On its own: whatever it meets, the notified orders are read.
        self._run_isolated(self, "queueing open marketplace orders", self._queue_open_marketplace_orders)
        due = self._due(limit)
        commit = self._commit_allowed()
        clients = {}
        halted = set()
        for done, (row_id, channel_id) in enumerate(due):
            row = self.browse() if channel_id in halted else self._lock(row_id)
            if row:
                self._run_isolated(row, "order read", row._reread_or_halt, clients, halted,
                                   on_error=row._record_failure)
            self._notify_job_progress(done + 1, len(due) - done - 1)
            if commit and row:
                # This order is stored (or dropped, or its error kept), and its row lock is
                # released: a notification of it arriving now waits for nothing.
                self.env.cr.commit()  # pylint: disable=invalid-commit

    @api.model
    def _queue_open_marketplace_orders(self):
        """Queue the orders the marketplace fulfils whose sales order is still open (a delivery
        not done) and which the poll no longer reads (older than its look-back), each at most
        once a day: their delivery or cancellation would otherwise never be seen."""
        now = fields.Datetime.now()
        self.env["sale.inbox.order"].flush_model()
        self.env.cr.execute(
            """
            SELECT o.id, o.channel_id, o.external_id FROM sale_inbox_order o
              JOIN sale_channel c ON c.id = o.channel_id
              JOIN sale_order so ON so.id = o.sale_order_id AND so.inbox_order_id = o.id
             WHERE c.active AND c.state = 'connected' AND so.state = 'sale' AND o.state = 'done'
               AND o.create_date < %s AND (o.store_checked_at IS NULL OR o.store_checked_at < %s)
               AND COALESCE(NULLIF(o.normalized, ''), '{}')::jsonb ->> 'fulfilled_by' = 'marketplace'
               AND EXISTS (SELECT 1 FROM stock_picking p
                            WHERE p.sale_id = so.id AND p.state NOT IN ('done', 'cancel'))
             ORDER BY o.store_checked_at NULLS FIRST, o.id
             LIMIT %s
            """,
            (now - timedelta(days=OPEN_FBO_AFTER_DAYS), now - OPEN_FBO_EVERY, OPEN_FBO_BATCH),
        )
        found = self.env.cr.fetchall()
        if not found:
            return
        by_channel = {}
        for _order_id, channel_id, ref in found:
            by_channel.setdefault(channel_id, []).append((ref, "fbo"))
        for channel in self.env["sale.channel"].browse(list(by_channel)):
            self._queue(channel, by_channel[channel.id])
        self.env["sale.inbox.order"].browse([row[0] for row in found]).sudo().write({"store_checked_at": now})

    @api.model
    def _due(self, limit):
        """(row id, channel id) of the rows due, oldest first."""
        self.flush_model()
        self.env.cr.execute(
            """
            SELECT r.id, r.channel_id FROM sale_channel_reread r
              JOIN sale_channel c ON c.id = r.channel_id
             WHERE r.next_try_at <= %s AND c.active AND c.state = 'connected'
             ORDER BY r.next_try_at, r.id
             LIMIT %s
            """,
            (fields.Datetime.now(), limit),
        )
        return self.env.cr.fetchall()

    @api.model
    def _lock(self, row_id):
        """The row, locked for this transaction; empty when another run holds it or it is gone."""
        self.env.cr.execute("SELECT id FROM sale_channel_reread WHERE id = %s FOR UPDATE SKIP LOCKED", (row_id,))
        found = self.env.cr.fetchone()
        return self.browse(found[0]) if found else self.browse()

    def _reread_or_halt(self, clients, halted):
        """``_reread``; an error that is the whole store's halts the channel for this run."""
        try:
            return self._reread(clients)
        except STORE_WIDE_ERRORS:
            halted.add(self.channel_id.id)
            raise

    def _reread(self, clients):
        """Read this order from the store and put it through intake (or drop it)."""
        self.ensure_one()
        channel = self.channel_id
        self.env.cr.execute("SELECT received_at FROM sale_channel_reread WHERE id = %s", (self.id,))
        notified = self.env.cr.fetchone()[0]
        if channel.id not in clients:
            clients[channel.id] = channel._api_client()
        data = self._read_from_store(clients[channel.id])
        if data is None:
            # Ids only: a number someone made up is no one's data, but nothing is kept of it.
            _logger.info("Sales channel %s: a notified order is unknown to the store; dropped", channel.id)
            self._drop(notified)
            return "unknown"
        body = json.dumps(data).encode()
        # Read from the store's own API: authentic, as the poll's orders are.
        result = self.env["sale.inbox.order"].sudo()._intake_delivery(channel, body, "application/json",
                                                                     verified=True)
        if result.status not in ("created", "known", "unreadable"):
            # Disconnected meanwhile, or refused: kept, and read again later.
            raise ValueError(f"intake answered {result.status}: {result.message}")
        self._drop(notified)
        return result.status

    def _drop(self, notified):
        """Forget this row, unless a notification came while it was read (``received_at``
        moved on): then what it read may be older than what was notified, and it stays, due."""
        self.env.cr.execute("DELETE FROM sale_channel_reread WHERE id = %s AND received_at = %s",
                            (self.id, notified))
        if not self.env.cr.rowcount:
            self.env.cr.execute("UPDATE sale_channel_reread SET attempt_count = 0, last_error = NULL "
                                "WHERE id = %s", (self.id,))
        self.invalidate_recordset()

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
