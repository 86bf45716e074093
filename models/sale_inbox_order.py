import hashlib
import json
import logging
import threading
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
]

#: Orders one cron transaction claims and commits together.
BATCH_SIZE = 25
#: Seconds a cron run keeps claiming batches before it yields to the next run.
CRON_TIME_BUDGET = 240
#: Seconds between two wake-up notifications to the cron runners from one process.
WAKE_UP_INTERVAL = 0.25
_WAKE_UP = {"last": 0.0}


class SaleInboxOrder(models.Model):
    _name = "sale.inbox.order"
    _description = "Sales Inbox Order"
    _inherit = ["mail.thread", "mail.activity.mixin"]
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
    # Intake: store first, process after
    # ------------------------------------------------------------------

    @api.model
    def _receive(self, channel, body, content_type):
        """Parse an authenticated delivery and store it; InvalidPayload when unreadable.

        Returns ``(inbox order id, created, answer)``, the answer being what the store is
        told of its order (the Connect API's order resource).
        """
        delivery = channel._platform().parse(body, content_type)
        received_at = fields.Datetime.now()
        order_id, created = self._intake(channel, delivery, body, content_type, received_at)
        if created and delivery.order:
            # Known without reading the row back: it was written a moment ago.
            answer = {
                "id": order_id,
                "external_id": delivery.external_id,
                "number": delivery.order.number or delivery.external_id,
                "status": "new",
                "failed_step": None,
                "message": None,
                "received_at": fields.Datetime.to_string(received_at),
                "processed_at": None,
                "sale_order": None,
                "invoice": None,
            }
        else:
            answer = self.browse(order_id)._api_status()
        return order_id, created, answer

    def _api_status(self):
        """What the store may know of its order (the Connect API's order resource)."""
        self.ensure_one()
        # Only these columns: the record also holds the (possibly large) payloads.
        self.fetch(["external_id", "name", "state", "failed_step", "error_message", "received_at",
                    "processed_at", "sale_order_id", "invoice_id"])
        return {
            "id": self.id,
            "external_id": self.external_id,
            "number": self.name,
            "status": self.state,
            "failed_step": self.failed_step or None,
            "message": self.error_message or None,
            "received_at": fields.Datetime.to_string(self.received_at),
            "processed_at": fields.Datetime.to_string(self.processed_at) if self.processed_at else None,
            "sale_order": self.sale_order_id.name or None,
            "invoice": self.invoice_id.name or None,
        }

    @api.model
    def _intake(self, channel, delivery, body, content_type, received_at=None):
        """Store one verified delivery; return ``(inbox order id, created)``.

        Plain SQL, so that intake costs two statements and never waits for an order that
        processing holds: a new order is inserted with its first delivery; a known order
        gets the delivery as ``pending``, or nothing when that content was seen before.
        Two requests racing on one order meet on the unique constraint: in Odoo's
        repeatable-read transactions the loser gets a serialization failure, and Odoo's
        request retry then finds the winner's row.
        """
        if delivery.order is None:
            return self._intake_patch(channel, delivery, body, content_type, received_at)
        order = delivery.order
        normalized, fingerprint = order.serialize()
        # Cached lookup; env.ref() would also query the cron to check that it exists.
        cron_id = self.env["ir.model.data"]._xmlid_to_res_id("sale_inbox.ir_cron_process_inbox")
        params = {
            "channel": channel.id,
            "company": channel.company_id.id,
            "external_id": delivery.external_id,
            "name": order.number or delivery.external_id,
            "now": received_at or fields.Datetime.now(),
            "payload": body.decode("utf-8"),
            "content_type": content_type,
            "normalized": normalized,
            "fingerprint": fingerprint,
            "customer_name": order.customer.name or order.customer.company,
            "customer_email": order.customer.email,
            "currency": order.currency,
            "total": order.total,
            "paid": order.paid,
            "method": order.payment.method_code,
            "uid": self.env.uid,
            "cron": cron_id,
            "auto": bool(channel.auto_process),
            "kind": "full",
        }
        cr = self.env.cr
        # The cron trigger row is written by the same statement: one round trip in all.
        cr.execute(
            """
            WITH new_order AS (
                INSERT INTO sale_inbox_order (
                    channel_id, company_id, external_id, name, received_at, state,
                    payload, payload_content_type, normalized, fingerprint,
                    customer_name, customer_email, currency_id, amount_total, paid,
                    payment_method_code, attempt_count,
                    create_uid, create_date, write_uid, write_date)
                VALUES (%(channel)s, %(company)s, %(external_id)s, %(name)s, %(now)s, 'new',
                        %(payload)s, %(content_type)s, %(normalized)s, %(fingerprint)s,
                        %(customer_name)s, %(customer_email)s,
                        (SELECT id FROM res_currency WHERE name = %(currency)s),
                        %(total)s, %(paid)s, %(method)s, 0,
                        %(uid)s, %(now)s, %(uid)s, %(now)s)
                ON CONFLICT (channel_id, external_id) DO NOTHING
                RETURNING id
            ), first_delivery AS (
                INSERT INTO sale_inbox_delivery (
                    order_id, channel_id, company_id, received_at, fingerprint, payload,
                    content_type, normalized, kind, state, create_uid, create_date, write_uid, write_date)
                SELECT id, %(channel)s, %(company)s, %(now)s, %(fingerprint)s, %(payload)s,
                       %(content_type)s, %(normalized)s, 'full', 'applied', %(uid)s, %(now)s, %(uid)s, %(now)s
                  FROM new_order
                RETURNING order_id
            ), trigger AS (
                INSERT INTO ir_cron_trigger (cron_id, call_at, create_uid, create_date, write_uid, write_date)
                SELECT %(cron)s, %(now)s, %(uid)s, %(now)s, %(uid)s, %(now)s
                  FROM new_order WHERE %(auto)s
            )
            SELECT order_id FROM first_delivery
            """,
            params,
        )
        row = cr.fetchone()
        if row:
            if channel.auto_process:
                self._wake_processing()
            if channel.company_id.id in self.env["sale.channel"]._push_on_change_company_ids():
                # Sold a moment ago in one store: the others hear of it now, not tomorrow.
                self.env["sale.channel.product"].sudo()._queue_push(
                    skus=[line.sku for line in order.lines if line.sku], company_id=channel.company_id.id)
            return row[0], True
        return self._record_delivery(params), False

    @api.model
    def _record_delivery(self, params):
        """Record a delivery of a known order as pending (once per content) and wake the
        cron up for it; returns the order's id."""
        self.env.cr.execute(
            """
            WITH delivery AS (
                INSERT INTO sale_inbox_delivery (
                    order_id, channel_id, company_id, received_at, fingerprint, payload,
                    content_type, normalized, kind, state, create_uid, create_date, write_uid, write_date)
                SELECT o.id, o.channel_id, o.company_id, %(now)s, %(fingerprint)s, %(payload)s,
                       %(content_type)s, %(normalized)s, %(kind)s, 'pending', %(uid)s, %(now)s, %(uid)s, %(now)s
                  FROM sale_inbox_order o
                 WHERE o.channel_id = %(channel)s AND o.external_id = %(external_id)s
                ON CONFLICT (order_id, fingerprint) DO NOTHING
                RETURNING order_id
            ), trigger AS (
                INSERT INTO ir_cron_trigger (cron_id, call_at, create_uid, create_date, write_uid, write_date)
                SELECT %(cron)s, %(now)s, %(uid)s, %(now)s, %(uid)s, %(now)s FROM delivery
            )
            SELECT id, EXISTS (SELECT 1 FROM delivery) FROM sale_inbox_order
             WHERE channel_id = %(channel)s AND external_id = %(external_id)s
            """,
            params,
        )
        order_id, recorded = self.env.cr.fetchone()
        if recorded:
            # Written in SQL: what the ORM may have cached of this order's deliveries is stale.
            self.browse(order_id).invalidate_recordset(["delivery_ids"])
            self._wake_processing()
        return order_id

    @api.model
    def _intake_patch(self, channel, delivery, body, content_type, received_at=None):
        """Store a patch (only what changed). When the order itself has not arrived yet, a
        placeholder waits for it, so that the change is applied whatever the arrival order."""
        patch = json.dumps(delivery.patch, sort_keys=True)
        params = {
            "channel": channel.id,
            "company": channel.company_id.id,
            "external_id": delivery.external_id,
            "now": received_at or fields.Datetime.now(),
            "uid": self.env.uid,
        }
        self.env.cr.execute(
            """
            INSERT INTO sale_inbox_order (
                channel_id, company_id, external_id, name, received_at, state, attempt_count,
                create_uid, create_date, write_uid, write_date)
            VALUES (%(channel)s, %(company)s, %(external_id)s, %(external_id)s, %(now)s, 'new', 0,
                    %(uid)s, %(now)s, %(uid)s, %(now)s)
            ON CONFLICT (channel_id, external_id) DO NOTHING
            RETURNING id
            """,
            params,
        )
        created = bool(self.env.cr.fetchone())
        order_id = self._record_delivery(dict(
            params,
            fingerprint=hashlib.sha256(f"patch:{patch}".encode()).hexdigest(),
            payload=body.decode("utf-8"),
            content_type=content_type,
            normalized=patch,
            kind="patch",
            cron=self.env["ir.model.data"]._xmlid_to_res_id("sale_inbox.ir_cron_process_inbox"),
        ))
        return order_id, created

    @api.model
    def _keep_unreadable(self, channel, body, content_type, error):
        """Keep an authentic delivery we cannot read, as an order in error that Retry reads
        again (after a fix, or a correction of the raw payload's parser). Returns its id."""
        digest = hashlib.sha256(body).hexdigest()
        now = fields.Datetime.now()
        self.env.cr.execute(
            """
            INSERT INTO sale_inbox_order (
                channel_id, company_id, external_id, name, received_at, state, failed_step,
                error_message, payload, payload_content_type, attempt_count,
                create_uid, create_date, write_uid, write_date)
            VALUES (%(channel)s, %(company)s, %(external_id)s, %(name)s, %(now)s, 'error', 'parse',
                    %(message)s, %(payload)s, %(content_type)s, 0, %(uid)s, %(now)s, %(uid)s, %(now)s)
            ON CONFLICT (channel_id, external_id) DO NOTHING
            RETURNING id
            """,
            {
                "channel": channel.id,
                "company": channel.company_id.id,
                "external_id": f"unreadable:{digest[:24]}",
                "name": _("Unreadable delivery"),
                "now": now,
                "message": str(error),
                "payload": body.decode("utf-8", errors="replace"),
                "content_type": content_type,
                "uid": self.env.uid,
            },
        )
        row = self.env.cr.fetchone()
        if not row:
            self.env.cr.execute(
                "SELECT id FROM sale_inbox_order WHERE channel_id = %s AND external_id = %s",
                (channel.id, f"unreadable:{digest[:24]}"),
            )
            row = self.env.cr.fetchone()
        _logger.warning("Channel %s: kept an unreadable delivery as inbox order %s: %s",
                        channel.id, row[0], error)
        return row[0]

    def _read_again(self):
        """Read the raw payload of an unreadable delivery again: it becomes this order, or,
        when the order came in meanwhile, a delivery of that order. Returns the order to go on
        with (this one, or none)."""
        self.ensure_one()
        delivery = self.channel_id._platform().parse(
            (self.payload or "").encode(), self.payload_content_type or "application/json"
        )
        existing = self.search([("channel_id", "=", self.channel_id.id),
                                ("external_id", "=", delivery.external_id)], limit=1)
        if existing:
            self._intake(self.channel_id, delivery, (self.payload or "").encode(),
                         self.payload_content_type or "application/json")
            self.with_context(sale_inbox_internal=True).write({
                "state": "cancelled", "failed_step": False, "error_message": False})
            self._message_log(body=_("Readable now: it is a delivery of order %s.", existing.name))
            return self.browse()
        normalized, fingerprint = delivery.order.serialize()
        self.with_context(sale_inbox_internal=True).write({
            "external_id": delivery.external_id,
            "name": delivery.order.number or delivery.external_id,
            "normalized": normalized,
            "fingerprint": fingerprint,
            "customer_name": delivery.order.customer.name or delivery.order.customer.company,
            "customer_email": delivery.order.customer.email,
            "amount_total": float(delivery.order.total),
            "paid": delivery.order.paid,
            "payment_method_code": delivery.order.payment.method_code,
            "currency_id": self.env["res.currency"].search(
                [("name", "=", delivery.order.currency)], limit=1).id,
        })
        return self

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

    # ------------------------------------------------------------------
    # Processing: claimed with row locks, in batches
    # ------------------------------------------------------------------

    @api.model
    def _claim(self, limit=BATCH_SIZE):
        """Lock up to ``limit`` orders that processing should take now.

        ``SKIP LOCKED`` lets several workers (or servers) run the cron side by side without
        ever taking the same order.
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
               FOR UPDATE OF o SKIP LOCKED
            """,
            (limit,),
            log_exceptions=False,  # a serialization failure is expected: _claim_fresh retries
        )
        return self.browse([row[0] for row in self.env.cr.fetchall()])

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
            self.env["sale.inbox.processor"]._process(batch, automatic=True)
            done += len(batch)
            remaining = self._pending_count()
            cron._notify_progress(done=done, remaining=remaining)
            if self._commit_allowed():
                self.env.cr.commit()
            else:
                break
        if done:
            _logger.info("Sales Inbox: %s orders processed by the cron", done)
        return done

    def _commit_allowed(self):
        # Under tests the cron runs inside the test transaction: one batch, no commit.
        return not getattr(threading.current_thread(), "testing", False)

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
                    "SELECT id FROM sale_inbox_order WHERE id IN %s FOR UPDATE NOWAIT",
                    (tuple(self.ids),),
                )
        except pg_errors.LockNotAvailable:
            raise UserError(_("These orders are being processed right now; try again in a moment."))

    # ------------------------------------------------------------------
    # Buttons
    # ------------------------------------------------------------------

    def action_process(self):
        """Create the sales document now (the salesperson's click), with the channel's options."""
        todo = self.filtered(lambda o: o.state in ("new", "waiting_payment"))
        if not todo:
            raise UserError(_("Only new orders (or orders waiting for payment) can be processed."))
        todo._lock_for_manual_processing()
        self.env["sale.inbox.processor"]._process(todo, automatic=False)
        return True

    def action_retry(self):
        """Run the order again from the step that failed; the draft is rebuilt if the
        normalized order was corrected."""
        todo = self.filtered(lambda o: o.state in ("error", "needs_review"))
        if not todo:
            raise UserError(_("Only orders in error or waiting for review can be retried."))
        todo._lock_for_manual_processing()
        todo.write({"state": "new", "failed_step": False, "error_message": False})
        self.env["sale.inbox.processor"]._process(todo, automatic=False)
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
        self.env["sale.inbox.processor"].with_context(sale_inbox_accept_difference=True)._process(
            todo, automatic=False
        )
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
        _logger.info(
            "Sales Inbox order %s (channel %s) stopped at %s: %s",
            self.mapped("name"), self.channel_id.ids, step, message,
        )
        self.with_context(sale_inbox_internal=True).write(
            {"state": state, "failed_step": step, "error_message": message}
        )
        label = dict(STEPS).get(step, step)
        # Translated once, here: inside a comprehension _() cannot find the language.
        note = _("Stopped at %(step)s: %(message)s", step=label, message=message)
        self._message_log_batch({order.id: note for order in self})
