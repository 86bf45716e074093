"""What every Sales Inbox job shares: claiming work with row locks, committing it unit by
unit, running each unit on its own so that one failure holds up nothing else, and waking the
cron runners up cheaply.

Models that run jobs (the inbox, channels, the status outbox, the stock push queue) inherit
``sale.inbox.job``; a third-party addon adding a job does the same.
"""
import logging
import threading
import time
import traceback

from psycopg2 import errors as pg_errors

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..platforms.base import PlatformError

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

    # ------------------------------------------------------------------
    # One unit at a time
    # ------------------------------------------------------------------

    @api.model
    def _run_isolated(self, record, what, unit, *args, on_error=None, own_transaction=False):
        """Run one unit of a job (a channel, a batch of messages) so that nothing it raises
        stops the job: on any exception the unit's work is undone, its error recorded where a
        merchant sees it (``on_error(error)``, by default ``record._record_job_error``) and
        logged, and the job goes on with the next unit.

        The unit runs in a savepoint. A unit that commits as it goes (page by page) runs in
        its own transaction instead (``own_transaction``, when the job may commit): the job
        commits before it, and on an exception what the unit committed stays (each commit is
        a consistent step of it) while the rest is rolled back.

        Returns ``(True, result)``, or ``(False, error text)``.
        """
        commits = own_transaction and self._commit_allowed()
        try:
            if commits:
                result = unit(*args)
            else:
                with self.env.cr.savepoint():
                    result = unit(*args)
        except Exception as exc:  # noqa: BLE001 - whatever it is, it is this unit's failure
            if commits:
                self.env.cr.rollback()
            error = job_error_text(exc)
            log_job_error(record, what, exc)
            (on_error or record._record_job_error)(error)
            return False, error
        return True, result

    def _record_job_error(self, error):
        """Show a failed unit's error on its records (``last_error`` and its date, for those
        models that have them)."""
        values = {}
        if "last_error" in self._fields:
            values["last_error"] = error
        if "last_error_date" in self._fields:
            values["last_error_date"] = fields.Datetime.now()
        if values:
            self.sudo().write(values)

    @api.model
    def _notify_job_progress(self, done, remaining):
        """Tell the cron runner how far the job is (Odoo runs a job that reports work left
        again at once, rather than at its next interval)."""
        self.env["ir.cron"]._notify_progress(done=done, remaining=max(remaining, 0))


def job_error_text(exc):
    """What is shown of an error: our own messages (a store's answer, a setting to mend) in
    full; of anything else its kind and first line (PostgreSQL's detail lines, which quote
    the values, are left out)."""
    if isinstance(exc, (PlatformError, UserError)):
        return str(exc)
    first_line = next((line for line in str(exc).splitlines() if line.strip()), "")
    return f"{type(exc).__name__}: {first_line[:300]}" if first_line else type(exc).__name__


def log_job_error(record, what, exc):
    """A log line without personal data: our own messages, which name stores and settings,
    in full; of an unexpected exception only its kind and where it was raised (its message
    may quote an order's content)."""
    unit = f"{record._description} {','.join(map(str, record.ids)) or '-'}"
    if isinstance(exc, (PlatformError, UserError)):
        _logger.warning("%s: %s failed: %r", unit, what, job_error_text(exc))
        return
    frames = traceback.extract_tb(exc.__traceback__)
    where = f"{frames[-1].filename}:{frames[-1].lineno} in {frames[-1].name}" if frames else "?"
    _logger.error("%s: %s failed with an unexpected %s, raised at %s", unit, what, type(exc).__name__, where)
