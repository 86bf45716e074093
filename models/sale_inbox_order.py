import json
import logging
import time

from psycopg2 import errors as pg_errors

from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError

from ..platforms import InvalidPayload, NormalizedOrder

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


#: Orders one cron transaction claims and commits together.
BATCH_SIZE = 25
#: Seconds a cron run keeps claiming batches before it yields to the next run.
CRON_TIME_BUDGET = 240
#: Runs of the cron an order may crash before it is parked in error for a person to Retry.
MAX_PROCESS_ATTEMPTS = 3


class SaleInboxOrder(models.Model):
    _name = "sale.inbox.order"
    _description = "Sales Inbox Order"
    _inherit = ["mail.thread", "mail.activity.mixin", "sale.inbox.job"]
    _order = "received_at desc, id desc"
    _rec_name = "name"

    name = fields.Char(string="Order Number", required=True, readonly=True)
    channel_id = fields.Many2one(
        "sale.channel", required=True, readonly=True, index=True, ondelete="restrict"
    )
    platform = fields.Selection(related="channel_id.platform")
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

    partner_id = fields.Many2one("res.partner", string="Customer", readonly=True)
    sale_order_id = fields.Many2one("sale.order", readonly=True, copy=False, index="btree_not_null")
    sale_order_state = fields.Selection(related="sale_order_id.state", string="Order Status")
    invoice_id = fields.Many2one("account.move", readonly=True, copy=False)
    payment_id = fields.Many2one("account.payment", readonly=True, copy=False)
    delivery_ids = fields.One2many("sale.inbox.delivery", "order_id", string="Deliveries")
    delivery_count = fields.Integer(compute="_compute_delivery_count")

    _sql_constraints = [
        (
            "external_unique",
            "unique(channel_id, external_id)",
            "An order of a store is in the inbox once.",
        ),
    ]

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
    def _cron_process(self, batch_size=BATCH_SIZE, time_budget=CRON_TIME_BUDGET):
        """Process the inbox, one committed batch after another."""
        cron = self.env["ir.cron"]
        started = time.monotonic()
        done = 0
        while time.monotonic() - started < time_budget:
            batch = self._claim_fresh(self._claim, batch_size)
            if not batch:
                break
            batch._process_isolated(automatic=True)
            done += len(batch)
            remaining = self._pending_count()
            cron._notify_progress(done=done, remaining=remaining)
            if self._commit_allowed():
                # Each batch is durable on its own: a later batch that fails (or a worker
                # that stops) never undoes the sales documents made for this one.
                self.env.cr.commit()
            else:
                break
        if done:
            _logger.info("Sales Inbox: %s orders processed by the cron", done)
        return done

    def _process_isolated(self, automatic=True):
        """Process these locked orders so that nothing one of them raises stops the others.

        The processor already isolates each step; what still escapes it (an error while
        recording an error, a bug in an extension, …) rolls the batch back and the orders are
        run again one by one. An order that crashes keeps its error and is tried again by the
        next run, up to ``MAX_PROCESS_ATTEMPTS`` runs, then parked in error for a person to
        Retry. A click (``automatic=False``) parks it at once: the person is looking at it."""
        self._count_attempt()
        processor = self.env["sale.inbox.processor"]
        try:
            with self.env.cr.savepoint():
                processor._process(self, automatic=automatic)
            return
        except Exception as exc:  # noqa: BLE001 -- whatever it is, only its order stops
            processor._reraise_if_concurrency(exc)
            if len(self) == 1:
                self._processing_crashed(exc, park=not automatic)
                return
            _logger.warning("Sales Inbox: a batch of %s orders failed as a whole (%s); running them one by one",
                            len(self), type(exc).__name__)
        for order in self:
            try:
                with self.env.cr.savepoint():
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
        _logger.exception("Sales Inbox order %s crashed during processing (attempt %s)", self.id, self.attempt_count)
        message = self.env._("Unexpected error: %(error)s", error=clean_text(f"{type(exc).__name__}: {exc}"))
        if park or self.attempt_count >= MAX_PROCESS_ATTEMPTS:
            self._fail("process", message)
        else:
            # Kept as it was, with the error visible: the next run tries it again.
            self.with_context(sale_inbox_internal=True).write({"error_message": message})

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

    def action_process(self):
        """Create the sales document now (the salesperson's click), with the channel's options."""
        todo = self.filtered(lambda o: o.state in ("new", "waiting_payment"))
        if not todo:
            raise UserError(_("Only new orders (or orders waiting for payment) can be processed."))
        todo._lock_for_manual_processing()
        todo._process_isolated(automatic=False)
        return True

    def action_retry(self):
        """Run the order again from the step that failed; the draft is rebuilt if the
        normalized order was corrected."""
        todo = self.filtered(lambda o: o.state in ("error", "needs_review"))
        if not todo:
            raise UserError(_("Only orders in error or waiting for review can be retried."))
        todo._lock_for_manual_processing()
        todo.write({"state": "new", "failed_step": False, "error_message": False})
        todo._process_isolated(automatic=False)
        return True

    def action_accept_difference(self):
        """Accept the Odoo total where it differs from the store's, and go on."""
        todo = self.filtered(lambda o: o.state == "needs_review" and o.failed_step == "amount_check")
        if not todo:
            raise UserError(_("Only orders stopped by the amount check can be accepted."))
        todo._lock_for_manual_processing()
        for order in todo:
            order.message_post(
                body=_(
                    "Difference of %(amount)s accepted by %(user)s.",
                    amount=order.amount_difference,
                    user=self.env.user.name,
                )
            )
        todo.write({"state": "new", "failed_step": False, "error_message": False})
        todo.with_context(sale_inbox_accept_difference=True)._process_isolated(automatic=False)
        return True

    def action_cancel(self):
        self.filtered(lambda o: o.state not in ("done", "cancelled")).write({"state": "cancelled"})

    def action_reset_to_new(self):
        self.filtered(lambda o: o.state == "cancelled" and not o.sale_order_id).write(
            {"state": "new", "failed_step": False, "error_message": False}
        )

    def action_view_sale_order(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "res_model": "sale.order",
            "res_id": self.sale_order_id.id,
            "view_mode": "form",
        }

    # ------------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------------

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
                raise ValidationError(_("The normalized order cannot be read: %s", exc)) from exc

    def write(self, vals):
        if "normalized" in vals and not self.env.context.get("sale_inbox_internal"):
            if not self.env.user.has_group("sale_inbox.group_sale_inbox_manager"):
                raise UserError(_("Only a Sales Inbox manager can correct an order."))
            try:
                order = NormalizedOrder.from_dict(json.loads(vals["normalized"] or ""))
            except (ValueError, InvalidPayload) as exc:
                raise ValidationError(_("The normalized order cannot be read: %s", exc)) from exc
            vals = dict(vals, fingerprint=order.fingerprint())
            for record in self:
                record.message_post(body=_("Normalized order corrected by %s.", self.env.user.name))
        return super().write(vals)

    def _fail(self, step, message, state="error"):
        """Stop the order at ``step``: kept, visible and retryable."""
        message = clean_text(message)
        # Ids only: the message may quote the customer's data.
        _logger.info("Sales Inbox orders %s (channel %s) stopped at %s", self.ids, self.channel_id.ids, step)
        self.with_context(sale_inbox_internal=True).write(
            {"state": state, "failed_step": step, "error_message": message}
        )
        label = dict(self._fields["failed_step"]._description_selection(self.env)).get(step, step)
        # Translated once, here: inside a comprehension _() cannot find the language.
        note = self.env._("Stopped at %(step)s: %(message)s", step=label, message=message)
        self._message_log_batch({order.id: note for order in self})
