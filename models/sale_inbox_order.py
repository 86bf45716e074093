import json
import logging
import threading
import time
import traceback

from psycopg2 import errors as pg_errors

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tools import config
from odoo.tools.misc import clean_context

from ..platforms import InvalidPayload, NormalizedOrder
from .sale_channel import MANAGER, USER, check_group_access

_logger = logging.getLogger(__name__)

STATES = [
    ("new", "New"),
    ("waiting_payment", "Waiting for Payment"),
    ("processing", "Processing"),
    ("done", "Done"),
    ("needs_review", "Needs Review"),
    ("error", "Error"),
    ("cancelled", "Cancelled"),
]

STEPS = [
    ("parse", "Reading the order"),
    ("cancellation", "Cancellation from the store"),
    ("status", "Status from the store"),
    ("payment_mapping", "Payments mapping"),
    ("customer", "Customer"),
    ("products", "Products"),
    ("currency", "Currency and pricelist"),
    ("order", "Creating the sales document"),
    ("amount_check", "Amount check"),
    ("confirm", "Confirmation"),
    ("invoice", "Invoice"),
    ("post", "Posting the invoice"),
    ("payment", "Payment"),
    ("email", "E-mail"),
    ("process", "Processing"),
]

def clean_text(text):
    """``text`` without what PostgreSQL cannot store in a text column (NUL characters, lone
    surrogates), so that recording an error can never fail because of the error's words."""
    text = str(text).replace("\x00", "\N{REPLACEMENT CHARACTER}")
    return text.encode("utf-8", "replace").decode("utf-8")


def log_unexpected(logger, message, exc, *args):
    """Log an unexpected error with its type and the frames it went through, not its text:
    the text may quote what a store sent (a customer's data, line breaks that would forge log
    lines of their own). The text is kept on the order, where people read it."""
    frames = "".join(traceback.format_list(traceback.extract_tb(exc.__traceback__))).rstrip()
    logger.error(message + ": %s, raised at\n%s", *args, type(exc).__name__, frames)


#: Orders one cron transaction claims and commits together.
BATCH_SIZE = 25
#: Runs of the cron an order may crash before it is parked in error for a person to Retry.
MAX_PROCESS_ATTEMPTS = 3
#: Orders of a runner's first batch, before it knows its speed (see _cron_batch_size).
FIRST_BATCH_SIZE = 5
#: Seconds a cron run keeps claiming batches at most; less when Odoo's worker limits are
#: tighter (see _cron_time_budget).
CRON_TIME_BUDGET = 60
#: The processing jobs. Intake triggers the first; a run that sees more than a batch waiting
#: wakes the others, so that several cron runners (threads, servers) share the inbox. Odoo
#: runs one job on one runner at a time, so one job alone could never use a second server.
PROCESS_CRONS = (
    "sale_inbox.ir_cron_process_inbox",
    "sale_inbox.ir_cron_process_inbox_2",
    "sale_inbox.ir_cron_process_inbox_3",
    "sale_inbox.ir_cron_process_inbox_4",
)
#: Failures a run takes from concurrent work (see _CONCURRENCY_ERRORS) before giving up.
CONCURRENCY_RETRIES = 5
#: What a batch can meet when another runner works at the same moment: a serialization
#: failure or a deadlock; a lock taken NOWAIT; a unique key (a new customer's store id, a
#: document number) that the other batch committed first, invisible to this batch's
#: snapshot. Nothing is wrong with the orders: the batch is rolled back and claimed again.
_CONCURRENCY_ERRORS = (
    pg_errors.SerializationFailure,
    pg_errors.DeadlockDetected,
    pg_errors.LockNotAvailable,
    pg_errors.UniqueViolation,
)
#: First key of the advisory locks on customers that processing runs hold (see
#: _without_busy_customers): "SI" in ASCII.
CUSTOMER_LOCK_CLASS = 0x5349
#: What a cron runner (a thread) learnt of its own speed: seconds per order.
_RUNNER = threading.local()

#: What a person (not our own code, which writes as superuser) may write on an inbox order
#: with write(), whatever the views show: a Sales Inbox Manager corrects the normalized order
#: (an unknown SKU, an address) before a Retry; that is all. The raw payload and fingerprint
#: are the store's; the state, documents, amounts and flags are processing's, changed by
#: people only through the buttons, each of which checks its group (Accept Difference:
#: managers). Users write nothing: everything they do is a button.
MANAGER_WRITABLE = frozenset({"normalized"})
#: States in which the normalized order may still be corrected (as the form shows it).
CORRECTABLE_STATES = ("new", "waiting_payment", "error", "needs_review")
#: What a manager may give an inbox order made by hand; the rest follows from the
#: normalized order or from processing. The ``default_*`` keys of the context are values
#: too (the ORM adds them in create): the same rule holds for them.
MANAGER_CREATABLE = frozenset({"channel_id", "company_id", "external_id", "name", "normalized", "received_at"})
#: Prefixes of the chatter's fields (followers, activities), which the chatter writes for
#: anyone who may write the record.
MAIL_FIELD_PREFIXES = ("message_", "activity_")


class SaleInboxOrder(models.Model):
    _name = "sale.inbox.order"
    _description = "Sales Inbox Order"
    _inherit = ["mail.thread", "mail.activity.mixin", "sale.inbox.job"]
    _order = "received_at desc, id desc"
    _rec_name = "name"
    _check_company_auto = True

    name = fields.Char(string="Order Number", required=True, readonly=True)
    channel_id = fields.Many2one(
        "sale.channel", required=True, readonly=True, index=True, ondelete="restrict", check_company=True
    )
    platform = fields.Selection(related="channel_id.platform")
    responsible_id = fields.Many2one(related="channel_id.responsible_id", string="Responsible")
    company_id = fields.Many2one("res.company", required=True, readonly=True, index=True)
    external_id = fields.Char(string="Store Order ID", required=True, readonly=True)
    received_at = fields.Datetime(string="Received", required=True, readonly=True, index=True)
    state = fields.Selection(STATES, required=True, default="new", tracking=True, index=True)
    payload = fields.Text(
        string="Raw Payload", readonly=True, help="The latest delivery exactly as received."
    )
    payload_content_type = fields.Char(readonly=True)
    normalized = fields.Text(
        string="Normalized Order",
        help="The order as read from the store. A manager may correct it, then Retry.",
    )
    fingerprint = fields.Char(readonly=True, copy=False)
    built_fingerprint = fields.Char(
        readonly=True, copy=False, help="Content the sales document was built from."
    )

    customer_name = fields.Char(readonly=True)
    customer_email = fields.Char(readonly=True)
    currency_id = fields.Many2one("res.currency", readonly=True)
    amount_total = fields.Monetary(string="Store Total", readonly=True)
    odoo_amount_total = fields.Monetary(string="Odoo Total", readonly=True)
    amount_difference = fields.Monetary(readonly=True)
    paid = fields.Boolean(string="Paid in Store", readonly=True)
    payment_method_code = fields.Char(string="Payment Method", readonly=True)

    amount_accepted = fields.Boolean(
        readonly=True, copy=False, help="The difference between the totals was accepted."
    )
    email_sent = fields.Boolean(string="E-mailed", readonly=True, copy=False)
    failed_step = fields.Selection(STEPS, readonly=True, copy=False)
    error_message = fields.Text(readonly=True, copy=False)
    attempt_count = fields.Integer(readonly=True, copy=False)
    processed_at = fields.Datetime(readonly=True, copy=False)

    partner_id = fields.Many2one("res.partner", string="Customer", readonly=True, check_company=True)
    sale_order_id = fields.Many2one("sale.order", readonly=True, copy=False, index="btree_not_null",
                                    check_company=True)
    sale_order_state = fields.Selection(related="sale_order_id.state", string="Order Status")
    invoice_id = fields.Many2one("account.move", readonly=True, copy=False, check_company=True)
    payment_id = fields.Many2one("account.payment", readonly=True, copy=False, check_company=True)
    delivery_ids = fields.One2many("sale.inbox.delivery", "order_id", string="Deliveries")
    delivery_count = fields.Integer(compute="_compute_delivery_count")

    _sql_constraints = [
        (
            "external_unique",
            "unique(channel_id, external_id)",
            "An order of a store is in the inbox once.",
        ),
    ]

    @api.constrains("company_id", "channel_id")
    def _check_channel_company(self):
        """An order belongs to its channel's company: processing creates its documents there,
        and the company is what the record rules let people see."""
        for order in self:
            if order.company_id != order.channel_id.company_id:
                raise ValidationError(self.env._(
                    "An inbox order belongs to its channel's company (%(channel)s: %(company)s).",
                    channel=order.channel_id.display_name, company=order.channel_id.company_id.display_name))

    def _compute_delivery_count(self):
        counts = dict(
            self.env["sale.inbox.delivery"]._read_group(
                [("order_id", "in", self.ids)], ["order_id"], ["__count"]
            )
        )
        for order in self:
            order.delivery_count = counts.get(order, 0)

    # ------------------------------------------------------------------
    # Processing: claimed with row locks, in batches
    # ------------------------------------------------------------------

    @api.model
    def _claim(self, limit=BATCH_SIZE):
        """Lock up to ``limit`` orders that processing should take now.

        ``SKIP LOCKED`` lets several workers (or servers) run the cron side by side without
        ever taking the same order. ``NO KEY UPDATE``, not ``UPDATE``: intake records a
        redelivery of a claimed order as a delivery row, whose foreign key takes a key-share
        lock on the order; ``FOR UPDATE`` would make it wait until the whole batch is
        processed (seconds, past a store's webhook timeout), ``FOR NO KEY UPDATE`` lets it
        through while still keeping the other workers out. Processing only writes non-key
        columns of the rows it claimed, which takes no stronger lock.
        """
        self.env.flush_all()
        self.env.cr.execute(
            """
            SELECT o.id
              FROM sale_inbox_order o
              JOIN sale_channel c ON c.id = o.channel_id
             WHERE c.active AND c.state = 'connected'
               AND ((o.state = 'new' AND c.auto_process AND o.normalized IS NOT NULL)
                    OR EXISTS (SELECT 1 FROM sale_inbox_delivery d
                                WHERE d.order_id = o.id AND d.state = 'pending'
                                  -- a patch waits until the order it patches has arrived
                                  AND (d.kind = 'full' OR o.normalized IS NOT NULL)))
             ORDER BY o.id
             LIMIT %s
               FOR NO KEY UPDATE OF o SKIP LOCKED
            """,
            (limit,),
            log_exceptions=False,  # a serialization failure is expected: _claim_fresh retries
        )
        return self.browse([row[0] for row in self.env.cr.fetchall()])

    @api.model
    def _cron_process(self, batch_size=BATCH_SIZE, time_budget=None):
        """Process the inbox, one committed batch after another, as one of several runners.

        A run keeps to a time budget that fits Odoo's cron worker limits (_cron_time_budget)
        and sizes its batches to it. The first job, with more than a batch waiting, first
        wakes the other processing jobs so that free runners (cron threads, servers) take
        their share. A run out of time with orders left has the first job run again at once;
        at its end, the other jobs' wake-ups no free runner took are withdrawn, so that a
        runner never runs several processing jobs, each with its own budget, one after the
        other in one iteration.
        """
        budget = self._cron_time_budget() if time_budget is None else time_budget
        crons = self._process_cron_ids()
        current = self.env.context.get("cron_id")
        current = current if current in crons else crons[0]
        others = [cron_id for cron_id in crons[1:] if cron_id != current]
        if current == crons[0]:
            self._wake_other_runners(crons[1:], self._cron_batch_size(batch_size, budget))
        try:
            done, stopped_early = self._cron_process_batches(batch_size, budget)
        except Exception:
            if self._commit_allowed():
                # Withdrawn even when the run fails, or this worker would run the other
                # processing jobs next, in the same iteration. Odoo then records the failure.
                self.env.cr.rollback()
                self._withdraw_runners(others)
                self.env.cr.commit()  # pylint: disable=invalid-commit
            raise
        self._withdraw_runners(others)
        left = self._pending_count()
        if stopped_early and left:
            self._trigger_runners(crons[:1], again=True)
        # Progress says nothing remains: with a remainder Odoo would run the job again inside
        # this same worker iteration (up to ten times), past the limits the budget keeps to;
        # the trigger above has the first job run again in the next one.
        self.env["ir.cron"]._notify_progress(done=done, remaining=0)
        if done:
            _logger.info("Sales Inbox: %s orders processed by the cron, %s left", done, left)
        return done

    def _cron_process_batches(self, batch_size, budget):
        """Claim, process and commit batches until none is left or the budget is spent;
        returns (orders processed, whether the budget stopped it)."""
        cron = self.env["ir.cron"]
        started = time.monotonic()
        size = self._cron_batch_size(batch_size, budget)
        done = retries = 0
        while True:
            began = time.monotonic()
            batch = self._claim_fresh(self._claim, size)
            if not batch:
                return done, False  # what is left, if anything, other runners are processing
            batch = batch._without_busy_customers()
            if not batch:
                # Every order claimed is of a customer another run has in hand: that run goes
                # on to these orders once it has committed (or has the first job run again).
                self.env.cr.rollback()
                return done, False
            try:
                # Each order is isolated inside; only concurrency failures come out here. After
                # a few of them, a duplicate key is taken as the order's own error.
                batch.with_context(sale_inbox_unique_is_final=retries >= CONCURRENCY_RETRIES)._process_isolated(
                    automatic=True)
            except _CONCURRENCY_ERRORS as exc:
                retries += 1
                if not self._commit_allowed() or retries > 2 * CONCURRENCY_RETRIES:
                    raise
                # Another runner's transaction won; its work is committed, so the next claim
                # (a new snapshot) sees it and the same orders go through.
                _logger.info("Sales Inbox: batch rolled back after a concurrent update (%s), claimed again",
                             type(exc).__name__)
                self.env.cr.rollback()
                continue
            done += len(batch)
            cron._notify_progress(done=done, remaining=self._pending_count())
            if not self._commit_allowed():
                return done, True
            # Each batch is committed on its own: its orders are done for good, and its row
            # locks (and the journals' next numbers) are released for the other runners.
            self.env.cr.commit()  # pylint: disable=invalid-commit
            _RUNNER.seconds_per_order = (time.monotonic() - began) / len(batch)
            size = self._cron_batch_size(batch_size, budget)
            if time.monotonic() - started + size * _RUNNER.seconds_per_order > budget:
                return done, True

    def _process_isolated(self, automatic=True):
        """Process these locked orders so that nothing one of them raises stops the others.

        The processor already isolates each step; what still escapes it (an error while
        recording an error, a bug in an extension, …) rolls the batch back and the orders are
        run again one by one. An order that crashes keeps its error and is tried again by the
        next run, up to ``MAX_PROCESS_ATTEMPTS`` runs, then parked in error for a person to
        Retry. A click (``automatic=False``) parks it at once: the person is looking at it."""
        # What processing creates as superuser takes no default value from the caller's
        # context (a click's, an RPC call's).
        # (Replaced, not updated: the default_* keys must go.)
        orders = self.with_context(clean_context(self.env.context))  # pylint: disable=context-overridden
        # A person waiting (a click) gets a duplicate key as the order's error at once.
        orders = orders.with_context(sale_inbox_unique_is_final=True) if not automatic else orders
        orders._count_attempt()
        orders._process_guarded(automatic)
        # The person's view of what went wrong: every problem of the orders that stopped
        # (processing itself stops at the first), none for the others.
        orders.sudo()._refresh_problems()

    def _process_guarded(self, automatic):
        orders = self
        processor = orders.env["sale.inbox.processor"]
        try:
            with orders.env.cr.savepoint():
                processor._process(orders, automatic=automatic)
            return
        except Exception as exc:  # noqa: BLE001 -- whatever it is, only its order stops
            processor._reraise_if_concurrency(exc)
            if len(orders) == 1:
                orders._processing_crashed(exc, park=not automatic)
                return
            _logger.warning("Sales Inbox: a batch of %s orders failed as a whole (%s); running them one by one",
                            len(orders), type(exc).__name__)
        for order in orders:
            try:
                with orders.env.cr.savepoint():
                    processor._process(order, automatic=automatic)
            except Exception as exc:  # noqa: BLE001
                processor._reraise_if_concurrency(exc)
                order._processing_crashed(exc, park=not automatic)

    def _count_attempt(self):
        """One more processing attempt for the orders that processing will act on; counted
        outside the batch's savepoint, so that a crash still counts."""
        todo = self.filtered(lambda o: o.state in ("new", "waiting_payment"))
        if not todo:
            return
        self.env.cr.execute(
            "UPDATE sale_inbox_order SET attempt_count = attempt_count + 1 WHERE id IN %s",
            (tuple(todo.ids),),
        )
        todo.invalidate_recordset(["attempt_count"])

    def _processing_crashed(self, exc, park=False):
        self.ensure_one()
        log_unexpected(_logger, "Sales Inbox order %s crashed during processing (attempt %s)", exc,
                       self.id, self.attempt_count)
        message = self.env._("Unexpected error: %(error)s", error=clean_text(f"{type(exc).__name__}: {exc}"))
        if park or self.attempt_count >= MAX_PROCESS_ATTEMPTS:
            self._fail("process", message)
        else:
            # Kept as it was, with the error visible: the next run tries it again.
            self.sudo().with_context(sale_inbox_internal=True).write({"error_message": message})

    def _without_busy_customers(self):
        """These orders but those of a customer that another processing run has in hand.

        Two batches made at the same moment with one new customer both create it: the
        second waits for the first's commit, then meets the store id's unique key and is
        rolled back, its whole batch time lost. A transaction-level advisory lock per
        customer (store id, e-mail) lets the second leave those orders to a later batch
        instead; they stay locked by its claim until it commits, so no one else takes them.
        """
        keys = {}
        for order in self:
            try:
                customer = json.loads(order.normalized or "{}").get("customer") or {}
            except ValueError:
                continue  # unreadable: processing stops it at the first step
            if customer.get("external_id"):
                keys.setdefault(f"{order.channel_id.id}:{customer['external_id']}", []).append(order.id)
            if customer.get("email"):
                keys.setdefault(customer["email"].strip().lower(), []).append(order.id)
        if not keys:
            return self
        self.env.cr.execute(
            """
            SELECT key FROM unnest(%s::text[]) AS key
             WHERE NOT pg_try_advisory_xact_lock(%s, hashtext(key))
            """,
            (sorted(keys), CUSTOMER_LOCK_CLASS),
        )
        busy = {order_id for (key,) in self.env.cr.fetchall() for order_id in keys[key]}
        return self.filtered(lambda order: order.id not in busy)

    @api.model
    def _cron_time_budget(self):
        """Seconds a processing run may keep claiming batches.

        Odoo kills a cron worker whose iteration lasts longer than ``limit_time_real`` (or
        ``limit_time_real_cron``), counting from before its sleep (up to 70 s when no
        NOTIFY woke it), and stops one that used ``limit_time_cpu`` seconds of CPU in it.
        A killed run loses the batch it holds, and after three in a row Odoo skips the job
        until its next interval: orders wait minutes. A quarter of the real-time limit and
        half of the CPU limit leave room for the sleep, a last batch and the other jobs.
        """
        budget = CRON_TIME_BUDGET
        real = config["limit_time_real_cron"]
        if real is None or real < 0:
            real = config["limit_time_real"]
        if real and real > 0:
            budget = min(budget, real / 4)
        cpu = config["limit_time_cpu"]
        if config["workers"] and cpu and cpu > 0:
            budget = min(budget, cpu / 2)
        return budget

    @api.model
    def _cron_batch_size(self, batch_size, budget):
        """Orders to claim next: ``batch_size``, or fewer when this runner's last batch went
        so slowly (a busy machine) that one would take more than a third of the budget; a
        shorter batch also holds its locks (customers, journal numbers) for less long.

        A runner that has not made a batch yet (a cron worker just started, maybe in place
        of one Odoo killed for a batch too long) starts with a few orders to learn its speed.
        """
        if not self._commit_allowed():
            return batch_size
        seconds = getattr(_RUNNER, "seconds_per_order", 0)
        if not seconds:
            return min(batch_size, FIRST_BATCH_SIZE)
        return max(1, min(batch_size, int(budget / 3 / seconds)))

    @api.model
    def _process_cron_ids(self):
        ids = (self.env["ir.model.data"]._xmlid_to_res_id(xmlid, raise_if_not_found=False)
               for xmlid in PROCESS_CRONS)
        return [cron_id for cron_id in ids if cron_id]

    def _wake_other_runners(self, cron_ids, batch_size):
        """With more than a batch waiting, trigger as many other processing jobs as there are
        further batches, so that other runners (threads, servers) take their share now."""
        wanted = min(len(cron_ids), -(-self._pending_count() // batch_size) - 1)
        if wanted > 0 and self._trigger_runners(cron_ids[:wanted]) and self._commit_allowed():
            # Committed at once, before this run's first batch: nothing else is written yet,
            # and the other runners would otherwise wait for that batch's commit.
            self.env.cr.commit()  # pylint: disable=invalid-commit

    @api.model
    def _trigger_runners(self, cron_ids, again=False):
        """Make the jobs ready now and wake the runners when this transaction commits;
        returns whether a job was triggered.

        A job with a trigger waiting already gets no second one, unless ``again``: a job
        that runs now has its older triggers deleted by Odoo once the run is over. The trigger
        time is the database's clock, to the microsecond, for the same reason: Odoo deletes
        the triggers older than the start of the run that ends, and a time truncated to the
        second could fall before the start of a run that began within that second.
        """
        if not cron_ids:
            return False
        self.env.cr.execute(
            """
            INSERT INTO ir_cron_trigger (cron_id, call_at, create_uid, create_date, write_uid, write_date)
            SELECT c.id, now() AT TIME ZONE 'UTC', %(uid)s, now() AT TIME ZONE 'UTC',
                   %(uid)s, now() AT TIME ZONE 'UTC'
              FROM ir_cron c
             WHERE c.id IN %(ids)s AND c.active
               AND (%(again)s OR NOT EXISTS (SELECT 1 FROM ir_cron_trigger t WHERE t.cron_id = c.id))
            RETURNING cron_id
            """,
            {"ids": tuple(cron_ids), "uid": self.env.uid, "again": again},
        )
        if not self.env.cr.fetchall():
            return False
        # Not throttled as intake's wake-ups are: at most two per run, and a runner left
        # asleep here would wait a minute with orders to process.
        self.env.cr.postcommit.add(self.env["ir.cron"]._notifydb)
        return True

    @api.model
    def _withdraw_runners(self, cron_ids):
        """Delete the wake-ups of other processing jobs that no runner took while this run
        lasted: no runner was free for them, and this runner would otherwise run them next,
        in the same iteration, each for a whole budget (Odoo runs every job that was ready
        when its iteration began).

        Only for jobs that no runner holds: the row lock taken here is the one Odoo takes to
        run a job, and a running job deletes its own triggers when it ends, which fails
        with a serialization error if they were deleted under it.
        """
        if not cron_ids:
            return
        self.env.cr.execute(
            """
            WITH idle AS (SELECT id FROM ir_cron WHERE id IN %s FOR NO KEY UPDATE SKIP LOCKED)
            DELETE FROM ir_cron_trigger
             WHERE cron_id IN (SELECT id FROM idle) AND call_at <= now() AT TIME ZONE 'UTC'
            """,
            (tuple(cron_ids),),
        )

    @api.model
    def _pending_count(self):
        self.flush_model()
        self.env.cr.execute(
            """
            SELECT count(*)
              FROM sale_inbox_order o JOIN sale_channel c ON c.id = o.channel_id
             WHERE c.active AND c.state = 'connected' AND o.state = 'new' AND c.auto_process
               AND o.normalized IS NOT NULL
            """
        )
        return self.env.cr.fetchone()[0]

    def _lock_for_manual_processing(self):
        """Lock the records a user acts on; refuse if the cron holds them right now."""
        try:
            with self.env.cr.savepoint(flush=False):
                self.env.cr.execute(
                    "SELECT id FROM sale_inbox_order WHERE id IN %s FOR NO KEY UPDATE NOWAIT",
                    (tuple(self.ids),),
                )
        except pg_errors.LockNotAvailable as exc:
            raise UserError(
                self.env._("These orders are being processed right now; try again in a moment.")) from exc

    # ------------------------------------------------------------------
    # Buttons
    # ------------------------------------------------------------------

    def _check_button(self, group=USER):
        """First thing in every button: the buttons are public methods, which RPC reaches
        whatever the form shows. The group, then the right to change these records (the
        access rights and the company rule); what the button then writes, it writes as
        superuser, since people write no field of an inbox order themselves."""
        check_group_access(self, group, "write")

    def action_process(self):
        """Create the sales document now (the salesperson's click), with the channel's options."""
        self._check_button()
        todo = self.filtered(lambda o: o.state in ("new", "waiting_payment"))
        if not todo:
            raise UserError(self.env._("Only new orders (or orders waiting for payment) can be processed."))
        todo._lock_for_manual_processing()
        todo._process_isolated(automatic=False)
        return True

    def action_retry(self):
        """Run the order again from the step that failed; the draft is rebuilt if the
        normalized order was corrected."""
        self._check_button()
        todo = self.filtered(lambda o: o.state in ("error", "needs_review"))
        if not todo:
            raise UserError(self.env._("Only orders in error or waiting for review can be retried."))
        todo._lock_for_manual_processing()
        todo.sudo().write({"state": "new", "failed_step": False, "error_message": False})
        todo._process_isolated(automatic=False)
        return True

    def action_accept_difference(self):
        """Accept the Odoo total where it differs from the store's, and go on (managers)."""
        self._check_button(MANAGER)
        todo = self.filtered(lambda o: o.state == "needs_review" and o.failed_step == "amount_check")
        if not todo:
            raise UserError(self.env._("Only orders stopped by the amount check can be accepted."))
        todo._lock_for_manual_processing()
        for order in todo:
            order.message_post(
                body=self.env._(
                    "Difference of %(amount)s accepted by %(user)s.",
                    amount=order.amount_difference,
                    user=self.env.user.name,
                )
            )
        # Recorded on the orders (the amount check honours it), never taken from the context
        # of a call, which is the caller's.
        todo.sudo().write({"state": "new", "failed_step": False, "error_message": False, "amount_accepted": True})
        todo._process_isolated(automatic=False)
        return True

    def action_cancel(self):
        """Set the orders aside; the draft quotation processing built for one goes too, so that
        no orphan quotation is left (nor counted as sold in the stores' availability). A
        confirmed sales order, or a document processing did not make, is left as it is."""
        self._check_button()
        todo = self.filtered(lambda o: o.state not in ("done", "cancelled"))
        if not todo:
            return True
        todo._lock_for_manual_processing()
        todo.sudo()._drop_own_drafts()
        todo.sudo().write({"state": "cancelled"})
        todo.sudo().problem_ids.unlink()
        return True

    def _drop_own_drafts(self):
        """Delete the draft quotations processing made for these orders (as superuser: the
        person cancelling may not delete sales orders; only drafts that link back)."""
        drafts = self.sale_order_id.filtered(
            lambda so: so.state == "draft" and so.inbox_order_id in self and so.inbox_order_id.sale_order_id == so
            and so.company_id == so.inbox_order_id.company_id and not so.invoice_ids)
        if not drafts:
            return
        owners = {so.id: so.inbox_order_id for so in drafts}
        names = {so.id: so.name for so in drafts}
        # As _action_cancel does for a quotation: its units count as sold until it goes.
        products = drafts.order_line.product_id.filtered("default_code")
        for so_id, order in owners.items():
            order.message_post(body=self.env._("Draft %s deleted with the cancelled order.", names[so_id]))
        self.filtered(lambda o: o.sale_order_id in drafts).with_context(sale_inbox_internal=True).write(
            {"sale_order_id": False, "built_fingerprint": False, "partner_id": False,
             "odoo_amount_total": 0.0, "amount_difference": 0.0})
        drafts.unlink()
        if products:
            self.env["sale.channel.product"]._queue_push(product_ids=products.ids)

    def action_reset_to_new(self):
        """A cancelled order that never became a document goes back to the inbox."""
        self._check_button()
        todo = self.filtered(lambda o: o.state == "cancelled" and not (o.sale_order_id or o.invoice_id or o.payment_id))
        if not todo:
            raise UserError(self.env._("Only cancelled orders without a sales document can be reset to new."))
        todo.sudo().write({"state": "new", "failed_step": False, "error_message": False})

    def action_view_sale_order(self):
        self._check_button()
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "res_model": "sale.order",
            "res_id": self.sale_order_id.id,
            "view_mode": "form",
        }

    def action_drop_foreign_documents(self):
        """Drop the links to documents the Sales Inbox did not make for these orders (a sales
        order that does not link back, an invoice of another sales order), which processing
        refuses to touch, so that Retry goes on with documents of its own (managers). The
        documents themselves are left as they are; the chatter says what was dropped."""
        self._check_button(MANAGER)
        # As superuser: a foreign document may be of a company the manager cannot read.
        foreign = {order: order.sudo()._foreign_documents() for order in self}
        todo = self.browse([order.id for order, documents in foreign.items() if documents])
        if not todo:
            raise UserError(self.env._(
                "These orders link only documents the Sales Inbox made for them: nothing to drop."))
        todo._lock_for_manual_processing()
        for order in todo:
            documents = foreign[order]
            order.sudo().write(dict.fromkeys(documents, False))
            order.message_post(body=self.env._(
                "Link to %(documents)s dropped by %(user)s: the Sales Inbox did not create it for this "
                "order. The document itself is unchanged.",
                documents=", ".join(document.name for document in documents.values()), user=self.env.user.name))
        return True

    # ------------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------------

    def _foreign_documents(self):
        """The documents this order links to that processing did not make for it, by field:
        processing acts on an order's documents as superuser (cancels, deletes, confirms, posts,
        pays), so only on those. A sales order proves it is the order's by its link back (which
        only processing writes) and its company; an invoice by being that sales order's."""
        self.ensure_one()
        foreign = {}
        so = self.sale_order_id
        if so and (so.inbox_order_id != self or so.company_id != self.company_id):
            foreign["sale_order_id"] = so
            so = so.browse()
        if self.invoice_id and self.invoice_id not in so.invoice_ids:
            foreign["invoice_id"] = self.invoice_id
        return foreign

    def _foreign_documents_error(self):
        """Why processing leaves this order's documents alone, or None when they are its own."""
        foreign = self._foreign_documents()
        if "sale_order_id" in foreign:
            return self.env._(
                "%(document)s was not created by the Sales Inbox for this order: the Sales Inbox leaves it "
                "alone. A Sales Inbox manager can drop the link (Drop Foreign Documents), then Retry.",
                document=foreign["sale_order_id"].name)
        if "invoice_id" in foreign:
            return self.env._(
                "%(document)s is not an invoice of this order's sales order: the Sales Inbox leaves it alone. "
                "A Sales Inbox manager can drop the link (Drop Foreign Documents), then Retry.",
                document=foreign["invoice_id"].name)
        return None

    def _read_normalized(self):
        self.ensure_one()
        try:
            data = json.loads(self.normalized or "")
        except ValueError as exc:
            raise InvalidPayload(f"the normalized order is not valid JSON: {exc}") from exc
        return NormalizedOrder.from_dict(data)

    @api.constrains("normalized")
    def _check_normalized(self):
        for order in self.filtered("normalized"):
            try:
                order._read_normalized()
            except InvalidPayload as exc:
                raise ValidationError(self.env._("The normalized order cannot be read: %s", exc)) from exc

    @api.model_create_multi
    def create(self, vals_list):
        """Stores' orders come in by intake (SQL, as superuser). A person (a manager: users
        have no create right) may make one by hand from a normalized order, and give it
        nothing that processing or the store decides."""
        if self.env.su:
            return super().create(vals_list)
        if not self.env.user.has_group(MANAGER):
            raise AccessError(self.env._("Only a Sales Inbox manager can add an order to the inbox."))
        # The context's default values are the caller's values: checked as such, then given
        # explicitly, so that the ORM adds none behind the check.
        defaults = {key[len("default_"):]: value for key, value in self.env.context.items()
                    if key.startswith("default_") and key[len("default_"):] in self._fields}
        self._check_person_fields(defaults, MANAGER_CREATABLE)
        prepared = []
        for vals in vals_list:
            self._check_person_fields(vals, MANAGER_CREATABLE)
            vals = dict(defaults, **vals)
            vals.setdefault("received_at", fields.Datetime.now())
            if vals.get("channel_id"):
                # As the manager, before anything is read from it: a channel of a company they
                # are not in is refused (AccessError), not merely found inconsistent.
                channel = self.env["sale.channel"].browse(vals["channel_id"])
                channel.check_access("read")
                if not vals.get("company_id"):
                    vals["company_id"] = channel.company_id.id
            if vals.get("normalized"):
                vals.update(self._normalized_vals(vals["normalized"], summary=True))
            prepared.append(vals)
        without_defaults = self.with_context(clean_context(self.env.context))  # pylint: disable=context-overridden
        return super(SaleInboxOrder, without_defaults).create(prepared)

    def write(self, vals):
        if not self.env.su:
            self._check_person_write(vals)
        # Processing writes the normalized order with its fingerprint (the context key,
        # honoured for our own code only); a person's correction gets them here.
        internal = self.env.su and self.env.context.get("sale_inbox_internal")
        if "normalized" in vals and not internal:
            vals = dict(vals, **self._normalized_vals(vals["normalized"]))
            for record in self:
                record.message_post(body=self.env._("Normalized order corrected by %s.", self.env.user.name))
        return super().write(vals)

    def _check_person_write(self, vals):
        """What a person writes with write() (the form, or an RPC call): see
        MANAGER_WRITABLE."""
        if self.env.user.has_group(MANAGER):
            self._check_person_fields(vals, MANAGER_WRITABLE)
            if "normalized" in vals and any(o.state not in CORRECTABLE_STATES for o in self):
                raise AccessError(self.env._(
                    "An order is corrected only while it is new, waiting for payment, in error or "
                    "waiting for review."))
            return
        self._check_person_fields(vals, frozenset())

    def _check_person_fields(self, vals, allowed):
        refused = sorted(name for name in vals if name not in allowed and not name.startswith(MAIL_FIELD_PREFIXES))
        if refused and "normalized" in refused and not self.env.user.has_group(MANAGER):
            raise AccessError(self.env._("Only a Sales Inbox manager can correct an order."))
        if refused:
            raise AccessError(self.env._(
                "These fields of an inbox order are changed by processing or by its buttons, not by hand: %s.",
                ", ".join(refused)))

    def _normalized_vals(self, text, summary=False):
        """The fingerprint (and with ``summary`` the columns the lists show) of a normalized
        order a person gives; ValidationError when it cannot be read."""
        try:
            order = NormalizedOrder.from_dict(json.loads(text or ""))
        except (ValueError, InvalidPayload) as exc:
            raise ValidationError(self.env._("The normalized order cannot be read: %s", exc)) from exc
        vals = {"fingerprint": order.fingerprint()}
        if summary:
            content = self._content_params(order)
            vals.update(
                customer_name=content["customer_name"], customer_email=content["customer_email"],
                amount_total=float(order.total), paid=order.paid, payment_method_code=content["method"],
                currency_id=self.env["res.currency"].search([("name", "=", order.currency)], limit=1).id,
            )
        return vals

    def _fail(self, step, message, state="error"):
        """Stop the order at ``step``: kept, visible and retryable."""
        message = clean_text(message)
        # Ids only: the message may quote the customer's data.
        _logger.info("Sales Inbox orders %s (channel %s) stopped at %s", self.ids, self.channel_id.ids, step)
        # As superuser: processing stops orders whoever clicked.
        self.sudo().with_context(sale_inbox_internal=True).write(
            {"state": state, "failed_step": step, "error_message": message}
        )
        label = dict(self._fields["failed_step"]._description_selection(self.env)).get(step, step)
        # Translated once, here: inside a comprehension self.env._() cannot find the language.
        note = self.env._("Stopped at %(step)s: %(message)s", step=label, message=message)
        self.sudo()._message_log_batch({order.id: note for order in self})
