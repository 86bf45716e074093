"""Turning inbox orders into sales documents, a batch at a time.

Processing is a list of steps (``_get_processing_steps``), each a method of this model that
takes the run and the orders still going and returns the orders that may go on. A step runs
once for the whole batch (one ``create`` for all the orders, one ``action_confirm``, …) inside
a savepoint; when it fails for the batch it is run again order by order, each in its own
savepoint, so that the one bad order is stopped with its error and the others go on. Every
step is resumable: a retried order starts again from the step it stopped at.

Other addons extend processing the Odoo way, with ``_inherit = "sale.inbox.processor"`` and
``super()``: the ``_prepare_*_vals`` methods build what is created (sales order, its lines,
customers, addresses, payments); ``_get_processing_steps`` lists the steps, so a step can be
added, replaced or removed.

The work is split by concern over three files: this one (the driver, the step runner, what
the store reports), ``sale_inbox_processor_build.py`` (customers, products, the sales order)
and ``sale_inbox_processor_money.py`` (amounts, confirmation, invoices, payments, e-mail).
"""
import json
import logging
from collections import defaultdict
from datetime import datetime, timezone

from psycopg2 import IntegrityError, OperationalError, errorcodes

from odoo import fields, models
from odoo.exceptions import UserError, ValidationError

from ..platforms import InvalidPayload, NormalizedOrder
from ..platforms.base import apply_patch
from .sale_inbox_order import log_unexpected
from .sale_order import FROM_STORE

_logger = logging.getLogger(__name__)

# A concurrency failure is not the order's fault: let the whole transaction roll back and
# the batch be claimed again, rather than stopping orders with a misleading error.
_RETRYABLE = {
    errorcodes.SERIALIZATION_FAILURE,
    errorcodes.DEADLOCK_DETECTED,
    errorcodes.LOCK_NOT_AVAILABLE,
}


class StepFailed(Exception):
    """A rule of ours stopped the order (as opposed to an error raised by Odoo)."""


class ProcessingRun:
    """What the steps of one channel's batch share: the channel, each order's normalized
    content, what was resolved for it (customer, addresses, products, payment methods) and
    the notes that end up in its chatter.

    Values are kept per order id, so that a step rerun order by order after a failed batch
    attempt overwrites what the failed attempt left (see ``snapshot``/``restore``)."""

    def __init__(self, env, channel):
        self.env = env
        self.channel = channel
        self.company = channel.company_id
        self.parsed = {}
        self.notes = defaultdict(list)
        self.partners = {}
        self.addresses = {}
        self.products = {}
        self.pricelists = {}
        self.methods = {}
        #: Look-ups that only read (countries, twin taxes): safe to keep across savepoints.
        self.cache = {}

    def normalized(self, order):
        return self.parsed[order.id]

    _STATE = ("notes", "partners", "addresses", "products", "pricelists", "methods")

    def snapshot(self):
        """The mutable state, to put back when a savepoint is rolled back: what the failed
        attempt resolved may name records that no longer exist."""
        state = {name: dict(getattr(self, name)) for name in self._STATE}
        state["notes"] = {key: list(value) for key, value in self.notes.items()}
        return state

    def restore(self, state):
        for name in self._STATE:
            if name == "notes":
                self.notes = defaultdict(list, state["notes"])
            else:
                setattr(self, name, state[name])


class SaleInboxProcessor(models.AbstractModel):
    _name = "sale.inbox.processor"
    _description = "Sales Inbox Processing"

    # ------------------------------------------------------------------
    # Driver
    # ------------------------------------------------------------------

    def _process(self, orders, automatic=True):
        """Process locked inbox orders; commits nothing (the caller does)."""
        # Mail tracking costs a third of the processing time (tracking values on every order,
        # invoice and payment written along the way). The inbox order's chatter gets one entry
        # per run listing each step (see _step_finish), and each sales order one line saying
        # where it came from; the documents' own chatter stays as quiet as an import's.
        processor = self.sudo().with_context(
            sale_inbox_internal=True,
            mail_notify_force_send=False,
            tracking_disable=True,
        )
        orders = orders.with_env(processor.env)
        processor._apply_deliveries(orders)
        for channel in orders.channel_id:
            group = orders.filtered(lambda o, c=channel: o.channel_id == c)
            if automatic and not channel.auto_process:
                continue
            company = channel.company_id
            processor.with_company(company)._process_channel(
                channel.with_company(company), group.with_company(company)
            )

    def _get_processing_steps(self):
        """The steps every order goes through, in order: ``(step code, method name)``.

        The step code is what an order stopped by the step shows (``STEPS`` of the inbox
        order). Override with ``super()`` to add, replace or drop a step; a step is a method
        ``(run, orders) -> orders that go on``."""
        return [
            ("parse", "_step_parse"),
            ("order", "_step_check_documents"),
            ("cancellation", "_step_store_cancellations"),
            ("status", "_step_store_statuses"),
            ("payment_mapping", "_step_payment_methods"),
            ("payment_mapping", "_step_wait_for_payment"),
            ("order", "_step_check_cancelled"),
            ("order", "_step_drop_outdated_drafts"),
            ("customer", "_step_customers"),
            ("products", "_step_products"),
            ("order", "_step_currencies"),
            ("order", "_step_create_sale_orders"),
            ("amount_check", "_step_check_amounts"),
            ("confirm", "_step_confirm"),
            ("invoice", "_step_invoice"),
            ("post", "_step_post_invoices"),
            ("payment", "_step_add_payments"),
            ("email", "_step_send_emails"),
        ]

    def _process_channel(self, channel, orders):
        orders = orders.filtered(lambda o: o.state in ("new", "waiting_payment"))
        if not orders:
            return
        run = ProcessingRun(self.env, channel)
        live = orders
        for step, method in self._get_processing_steps():
            live = self._run_step(run, step, getattr(self, method), live)
        self._step_finish(run, live)

    def _run_step(self, run, step, func, orders):
        """Run ``func(run, orders)`` for all ``orders`` at once; on failure, order by order.

        Returns the orders that go on; an order whose own run fails is stopped at ``step``.
        A step that returns fewer orders has stopped the others itself (with ``_fail``) or
        set them aside (waiting for payment, cancelled, …).
        """
        if not orders:
            return orders
        state = run.snapshot()
        try:
            with self.env.cr.savepoint():
                return func(run, orders)
        except Exception as exc:  # noqa: BLE001 -- any failure stops only its order
            self._reraise_if_concurrency(exc)
            run.restore(state)
            if len(orders) == 1:
                orders._fail(step, self._describe_error(exc))
                return orders.browse()
        going_on = orders.browse()
        for order in orders:
            state = run.snapshot()
            try:
                with self.env.cr.savepoint():
                    going_on |= func(run, order)
            except Exception as exc:  # noqa: BLE001
                self._reraise_if_concurrency(exc)
                run.restore(state)
                order._fail(step, self._describe_error(exc))
        return going_on

    def _reraise_if_concurrency(self, exc):
        """Let concurrency failures out, so that the batch is rolled back and claimed again.

        A unique key another runner committed first (a new customer's store id) is one too,
        though PostgreSQL reports it like any duplicate: unless the context says the batch
        was tried again often enough (``sale_inbox_unique_is_final``), when it is taken as
        the order's own error, so that a duplicate that lasts stops one order, not the inbox."""
        if isinstance(exc, OperationalError) and exc.pgcode in _RETRYABLE:
            raise exc
        if (isinstance(exc, IntegrityError) and exc.pgcode == errorcodes.UNIQUE_VIOLATION
                and not self.env.context.get("sale_inbox_unique_is_final")):
            raise exc

    @staticmethod
    def _describe_error(exc):
        if isinstance(exc, (UserError, ValidationError, StepFailed, InvalidPayload)):
            return str(exc.args[0]) if exc.args else str(exc)
        log_unexpected(_logger, "Sales Inbox: unexpected error while processing", exc)
        return f"{type(exc).__name__}: {exc}"

    # ------------------------------------------------------------------
    # Updates from the store
    # ------------------------------------------------------------------

    def _apply_deliveries(self, orders):
        """Fold pending deliveries into their orders, each order on its own: a delivery that
        cannot be applied stops only its order (at "Reading the order")."""
        pending = self.env["sale.inbox.delivery"].sudo().search(
            [("order_id", "in", orders.ids), ("state", "=", "pending")], order="id"
        )
        by_order = defaultdict(lambda: self.env["sale.inbox.delivery"])
        for delivery in pending:
            by_order[delivery.order_id] |= delivery
        currencies = {}
        for order, deliveries in by_order.items():
            try:
                with self.env.cr.savepoint():
                    self._apply_order_deliveries(order, deliveries, currencies)
            except Exception as exc:  # noqa: BLE001 -- only this order stops
                self._reraise_if_concurrency(exc)
                order._fail("parse", self._describe_error(exc))

    def _apply_order_deliveries(self, order, deliveries, currencies):
        """The newest whole content wins (by the store's change time when both contents
        have one; otherwise by arrival: a retried webhook carries its original, older
        content). Patches (only what changed) are then merged in arrival order; over new
        whole content, every patch the order ever got is merged again, so that a late
        "created" never undoes the "paid" that overtook it."""
        fulls = deliveries.filtered(lambda d: d.kind == "full")
        base, patches = order.normalized, deliveries - fulls
        if fulls:
            latest = max(fulls, key=lambda d: (_changed(d.normalized) or _EPOCH, d.id))
            (fulls - latest).write({"state": "superseded"})
            if _older(latest.normalized, base):
                latest.write({"state": "superseded"})
                order._message_log(body=self.env._("An older version of this order arrived late and was ignored."))
            else:
                latest.write({"state": "applied"})
                base = latest.normalized
                order.write({"payload": latest.payload, "payload_content_type": latest.content_type})
                patches = order.delivery_ids.filtered(
                    lambda d: d.kind == "patch" and d.state in ("pending", "applied")).sorted("id")
        if not base:
            return  # a patch that came first: it waits for the order it patches
        data = json.loads(base)
        for patch in patches:
            data = apply_patch(data, json.loads(patch.normalized))
        patches.write({"state": "applied"})
        normalized = NormalizedOrder.from_dict(data)
        if normalized.currency not in currencies:
            # Orders of one batch share a handful of currencies: one search each.
            currencies[normalized.currency] = self.env["res.currency"].search(
                [("name", "=", normalized.currency)], limit=1).id
        self._set_content(order, normalized, currencies)

    def _set_content(self, order, normalized, currencies):
        was_paid = order.paid
        text, fingerprint = normalized.serialize()
        if fingerprint == order.fingerprint:
            return
        vals = {
            "name": normalized.number or order.external_id,
            "normalized": text,
            "fingerprint": fingerprint,
            "customer_name": normalized.customer.name or normalized.customer.company,
            "customer_email": normalized.customer.email,
            "amount_total": float(normalized.total),
            "currency_id": currencies[normalized.currency],
            "paid": normalized.paid,
            "payment_method_code": normalized.payment.method_code,
        }
        if order.state != "cancelled":
            vals.update(state="new", failed_step=False, error_message=False)
        first = not order.normalized
        order.write(vals)
        if first:
            message = self.env._("The order itself arrived.")
        elif normalized.paid and not was_paid:
            message = self.env._("The store reports this order paid.")
        else:
            message = self.env._("The store sent a new version of this order.")
        order._message_log(body=message)

    # ------------------------------------------------------------------
    # Steps: reading the order, and what the store reports
    # ------------------------------------------------------------------

    def _step_parse(self, run, orders):
        going_on = orders.browse()
        for order in orders:
            if not order.normalized and not order.payload:
                continue  # a placeholder: the store sent a change before the order itself
            if not order.normalized:
                order = order._read_again()
                if not order:
                    continue
            try:
                run.parsed[order.id] = order._read_normalized()
            except InvalidPayload as exc:
                order._fail("parse", str(exc))
                continue
            going_on |= order
        return going_on

    def _step_check_documents(self, run, orders):
        """Processing acts on an order's documents as superuser (cancels, deletes, confirms,
        posts, pays): only on those it made for this very order. A sales order proves it by
        its link back to the inbox order (which only processing writes) and its company; an
        invoice by being that sales order's (see ``_foreign_documents`` of the inbox order). An
        order linked to anything else stops here, before any step touches the document."""
        going_on = orders.browse()
        for order in orders:
            error = order._foreign_documents_error()
            if error:
                order._fail("order", error)
            else:
                going_on |= order
        return going_on

    def _step_store_cancellations(self, run, orders):
        """Orders the store cancelled: a waiting order is cancelled; a sales order too while
        nothing was delivered or invoiced, otherwise a person decides (an activity says why).
        A marketplace's cancellations follow the channel's own rules (see
        ``_marketplace_cancellations``)."""
        cancelled = orders.filtered(lambda o: run.normalized(o).status == "cancelled")
        if run.channel.is_marketplace:
            self._marketplace_cancellations(run, cancelled)
            return orders - cancelled
        for order in cancelled:
            so = order.sale_order_id
            if not so or so.state == "cancel":
                note = self.env._("Cancelled in the store.")
            elif so.picking_ids.filtered(lambda p: p.state == "done") or so.invoice_ids.filtered(
                lambda m: m.state == "posted"
            ):
                so.activity_schedule(
                    "mail.mail_activity_data_todo",
                    user_id=so.user_id.id or self.env.uid,
                    summary=self.env._("Cancelled in the store"),
                    note=self.env._("The store cancelled %(number)s after it was delivered or invoiced: "
                           "decide on a return or a credit note.", number=order.name),
                )
                order._fail("cancellation", self.env._(
                    "The store cancelled this order after it was delivered or invoiced; an "
                    "activity on %s asks a person to decide.", so.name), state="needs_review")
                continue
            else:
                so.store_status = run.normalized(order).status
                so.with_context(**{FROM_STORE: True})._action_cancel()
                note = self.env._("Cancelled in the store; %s cancelled.", so.name)
            order.write({"state": "cancelled", "failed_step": False, "error_message": False})
            order._message_log(body=note)
        return orders - cancelled

    def _marketplace_cancellations(self, run, cancelled):
        """A marketplace's cancellations (Ozon), by the channel's rules, each on its own and
        once (see ``sale.inbox.cancellation``): one that fails stops its order at
        "Cancellation" with the error, shown on the Cancellations page too, and is tried again
        with the order's Retry; the others are applied."""
        Cancellation = self.env["sale.inbox.cancellation"]
        labels = dict(Cancellation._fields["action"]._description_selection(self.env))
        for order in cancelled:
            normalized = run.normalized(order)
            try:
                with self.env.cr.savepoint():
                    line = Cancellation._from_store(order, normalized, run.channel)
            except Exception as exc:  # noqa: BLE001 -- only this cancellation stops
                self._reraise_if_concurrency(exc)
                error = self._describe_error(exc)
                Cancellation._record_failure(order, normalized, run.channel, error)
                order._fail("cancellation", error)
                continue
            order.write({"state": "cancelled", "failed_step": False, "error_message": False})
            order._message_log(body=self.env._("Cancelled by the store (%(reason)s): %(action)s.",
                                               reason=line.reason or self.env._("no reason given"),
                                               action=labels.get(line.action, line.action)))

    def _step_store_statuses(self, run, orders):
        """Status changes the store reports move the sales order to the mapped stage, as far
        as Odoo allows; what cannot be done is left to a person, with an activity. With status
        sync to the store only, the store's status is just recorded: what is sent next is
        compared with it."""
        channel = run.channel
        if channel.status_sync == "none":
            return orders
        moves_orders = channel.status_sync in ("from_store", "both")
        platform = channel._platform()
        labels = {status.code: status.label for status in platform.order_statuses}
        read_back = platform.read_status_map({line.odoo_stage: line.store_status for line in channel.status_map_ids})
        todo = orders.filtered(lambda o: o.sale_order_id and run.normalized(o).status
                               and run.normalized(o).status != o.sale_order_id.store_status)
        for order in todo:
            so = order.sale_order_id.with_context(**{FROM_STORE: True})
            status = run.normalized(order).status
            handled = _stages(so.store_stages)
            so.store_status = status
            # An order the marketplace fulfils (FBO) is delivered by the marketplace's own step.
            fulfilled_by_store = run.normalized(order).fulfilled_by == "marketplace"
            stage = read_back.get(status)
            if not moves_orders or not stage or fulfilled_by_store or not so._sale_inbox_in_scope(channel, handled):
                continue
            note = self._move_to_stage(so, stage, labels.get(status, status))
            if note:
                so._message_log(body=self.env._("The store reports “%(status)s”: %(note)s",
                                                status=labels.get(status, status), note=note))
                run.notes[order.id].append(note)
        return orders

    def _move_to_stage(self, so, stage, status_label=""):
        """Bring a sales order to a stage the store reports (as ``status_label``, the store's
        name of its status); returns what was done, in words."""
        reached = so._sale_inbox_stages()
        if stage in reached or stage == "quotation" or "cancelled" in reached:
            return None
        if stage == "confirmed":
            if so.state in ("draft", "sent"):
                so.action_confirm()
                return self.env._("order confirmed")
            return None
        if stage == "delivered":
            if so.state in ("draft", "sent"):
                so.action_confirm()
            return self._deliver(so, status_label)
        if stage == "invoiced":
            if so.invoice_status != "to invoice":
                return None
            invoices = so._create_invoices()
            invoices.action_post()
            return self.env._("invoice %s posted", ", ".join(invoices.mapped("name")))
        if stage == "cancelled":
            return None  # the cancellation step decided already
        # Partially delivered (which lines?) and paid (the payment step adds it when the
        # store reports the order paid) are not guessed.
        return self.env._("noted; Odoo does not change the order for it")

    def _deliver(self, so, status_label=""):
        pickings = so.picking_ids.filtered(lambda p: p.state not in ("done", "cancel"))
        not_ready = pickings.filtered(lambda p: p.state != "assigned")
        if not_ready:
            # The store's status by its own name: "on its way" is not "delivered".
            status_label = status_label or self.env._("delivered")
            so.activity_schedule(
                "mail.mail_activity_data_todo", user_id=so.user_id.id or self.env.uid,
                summary=self.env._("Delivered in the store"),
                note=self.env._("The store reports %(order)s “%(status)s”, but %(pickings)s cannot be validated "
                                "(not all in stock): validate it, or correct the stock.", order=so.name,
                                status=status_label, pickings=", ".join(not_ready.mapped("name"))))
            return self.env._("delivery %s not ready: an activity asks a person to check",
                     ", ".join(not_ready.mapped("name")))
        for move in pickings.move_ids:
            move.quantity = move.product_uom_qty
            move.picked = True
        pickings.with_context(skip_backorder=True, skip_sms=True)._action_done()
        return self.env._("delivery %s validated", ", ".join(pickings.mapped("name")))

    def _step_wait_for_payment(self, run, orders):
        if not run.channel.wait_for_payment:
            return orders

        def paid_later(order):
            # Cash on delivery and the like are paid at the door: nothing to wait for.
            method = run.methods.get(run.normalized(order).payment.method_code)
            return not (method and not method.means_paid)

        waiting = orders.filtered(
            lambda o: not o.sale_order_id and not run.normalized(o).paid and paid_later(o))
        newly = waiting.filtered(lambda o: o.state != "waiting_payment")
        newly._message_log_batch(
            dict.fromkeys(newly.ids, self.env._("Waiting for the store to report this order paid."))
        )
        waiting.write({"state": "waiting_payment", "failed_step": False, "error_message": False})
        return orders - waiting

    def _step_check_cancelled(self, run, orders):
        cancelled = orders.filtered(lambda o: o.sale_order_id.state == "cancel")
        cancelled._message_log_batch(dict.fromkeys(
            cancelled.ids, self.env._("The sales order was cancelled in Odoo; nothing more is done.")))
        cancelled.write({"state": "cancelled"})
        return orders - cancelled

    def _step_finish(self, run, orders):
        orders.write({
            "state": "done",
            "failed_step": False,
            "error_message": False,
            "processed_at": fields.Datetime.now(),
        })
        nothing = self.env._("nothing left to do")
        orders._message_log_batch({
            order.id: self.env._("Processed: %s.", "; ".join(run.notes[order.id] or [nothing]))
            for order in orders
        })


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _changed(normalized_json):
    """The store's change time of a stored normalized order, as an aware datetime (None
    when it gives none or it cannot be read)."""
    try:
        value = json.loads(normalized_json or "{}").get("updated_at") or ""
    except (ValueError, AttributeError):
        return None
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    # A time without an offset is taken as UTC, as the platforms normalize it.
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _older(candidate_json, base_json):
    """Whether whole content arriving now is older than what the order has: only when both
    give the store's change time (else the later arrival wins)."""
    candidate, base = _changed(candidate_json), _changed(base_json)
    return bool(candidate and base and candidate < base)


def _stages(value):
    """The stages recorded in ``sale.order.store_stages`` as a set."""
    if not value:
        return set()
    if isinstance(value, str):
        return set(filter(None, value.split(",")))
    return set(value)
