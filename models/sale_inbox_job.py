"""What every Sales Inbox job shares: claiming work with row locks, committing it unit by
unit, and waking the cron runners up cheaply.

Models that run jobs (the inbox, channels, the status outbox, the stock push queue) inherit
``sale.inbox.job``; a third-party addon adding a job does the same.
"""
import logging
import threading
import time

from psycopg2 import errors as pg_errors

from odoo import api, fields, models

_logger = logging.getLogger(__name__)

#: Seconds between two wake-up notifications to the cron runners from one process.
WAKE_UP_INTERVAL = 0.25
_WAKE_UP = {"last": 0.0}


class SaleInboxJob(models.AbstractModel):
    _name = "sale.inbox.job"
    _description = "Sales Inbox Job"

    def _wake_processing(self):
        """Wake the cron runners once this transaction is committed.

        The trigger row is already written; the NOTIFY only shortens the wait of an idle
        runner. Odoo sends it over a new connection to the ``postgres`` database (those are
        never pooled), which costs intake a third of its throughput when sent per order, so
        each process sends at most a few per second: a runner busy with earlier orders sees
        the newer trigger rows when it finishes, and an idle one is woken by the next NOTIFY
        (or, if the stream of orders stops right then, by its own minute-long poll).
        """
        self.env.cr.postcommit.add(self._notify_cron_runners)

    @api.model
    def _trigger_job(self, xmlid):
        """Have one of the addon's jobs run soon, cheaply enough for intake and for hooks that
        run once per order: the trigger row in one statement, and the same throttled wake-up
        as processing (``ir.cron._trigger`` would open a connection to ``postgres`` each time)."""
        now = fields.Datetime.now()
        self.env.cr.execute(
            """
            INSERT INTO ir_cron_trigger (cron_id, call_at, create_uid, create_date, write_uid, write_date)
            VALUES (%s, %s, %s, %s, %s, %s)
            """,
            (self.env["ir.model.data"]._xmlid_to_res_id(xmlid), now, self.env.uid, now, self.env.uid, now),
        )
        self._wake_processing()

    def _notify_cron_runners(self):
        now = time.monotonic()
        if now - _WAKE_UP["last"] < WAKE_UP_INTERVAL:
            return
        _WAKE_UP["last"] = now
        self.env["ir.cron"]._notifydb()

    @api.model
    def _claim_fresh(self, claim, *args):
        """Run a claim (a ``SELECT … FOR UPDATE SKIP LOCKED`` at the start of a transaction).

        In Odoo's repeatable-read transactions, a row another worker changed and committed
        after this transaction's snapshot cannot be locked: PostgreSQL answers with a
        serialization failure rather than skipping it. Nothing is done yet at that point, so
        the transaction starts again, with a snapshot that sees the other worker's work.
        """
        for _attempt in range(4):
            try:
                with self.env.cr.savepoint(flush=False):
                    return claim(*args)
            except pg_errors.SerializationFailure:
                if not self._commit_allowed():
                    raise
                self.env.cr.rollback()
        return claim.__self__.browse()

    def _commit_allowed(self):
        """Whether a job may commit its own work, unit by unit.

        Under tests the cron runs inside the test transaction: one round, no commit."""
        return not getattr(threading.current_thread(), "testing", False)
