"""Turning inbox orders into sales documents, a batch at a time.

Each step runs once for the whole batch (one ``create`` for all the orders, one
``action_confirm``, one invoice creation, …) inside a savepoint. When the step fails for the
batch, it is run again order by order, each in its own savepoint, so that the one bad order
is stopped with its error and the others go on. Every step is resumable: a retried order
starts again from the step it stopped at.
"""
import json
import logging
from collections import defaultdict

from psycopg2 import OperationalError
from psycopg2 import errorcodes

from odoo import Command, _, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools import float_compare, float_round

from .sale_order import FROM_STORE
from ..platforms import InvalidPayload, NormalizedOrder
from ..platforms.base import apply_patch, utc_naive

_logger = logging.getLogger(__name__)

# A concurrency failure is not the order's fault: let the whole transaction roll back and
# the batch be claimed again, rather than stopping orders with a misleading error.
_RETRYABLE = {
    errorcodes.SERIALIZATION_FAILURE,
    errorcodes.DEADLOCK_DETECTED,
    errorcodes.LOCK_NOT_AVAILABLE,
}

_ADDRESS_KEYS = ("name", "street", "street2", "city", "zip", "country_id", "state_id")


class StepFailed(Exception):
    """A rule of ours stopped the order (as opposed to an error raised by Odoo)."""


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
        # per run listing each step (see _Run.finish), and each sales order one line saying
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

    def _process_channel(self, channel, orders):
        orders = orders.filtered(lambda o: o.state in ("new", "waiting_payment"))
        if not orders:
            return
        self.env.cr.execute(
            "UPDATE sale_inbox_order SET attempt_count = attempt_count + 1 WHERE id IN %s",
            (tuple(orders.ids),),
        )
        orders.invalidate_recordset(["attempt_count"])
        run = _Run(self, channel)

        live = run.parse(orders)
        live = run.store_cancellations(live)
        live = run.store_statuses(live)
        live = run.check_payment_methods(live)
        live = run.wait_for_payment(live)
        live = run.check_cancelled(live)
        to_build = run.drop_outdated_drafts(live)
        built = run.build(to_build)
        live = (live - to_build) | built
        live = run.check_amounts(live)
        live = run.confirm(live)
        live = run.invoice(live)
        live = run.post_invoices(live)
        live = run.add_payments(live)
        live = run.send_emails(live)
        run.finish(live)

    # ------------------------------------------------------------------
    # Updates from the store
    # ------------------------------------------------------------------

    def _apply_deliveries(self, orders):
        """Fold pending deliveries into their orders.

        The newest whole content wins (by the store's change time; arrival order breaks ties
        and stands in without one: a retried webhook carries its original, older content).
        Patches (only what changed) are then merged in arrival order; over new whole content,
        every patch the order ever got is merged again, so that a late "created" never undoes
        the "paid" that overtook it.
        """
        pending = self.env["sale.inbox.delivery"].sudo().search(
            [("order_id", "in", orders.ids), ("state", "=", "pending")], order="id"
        )
        by_order = defaultdict(lambda: self.env["sale.inbox.delivery"])
        for delivery in pending:
            by_order[delivery.order_id] |= delivery
        currencies = {}
        for order, deliveries in by_order.items():
            fulls = deliveries.filtered(lambda d: d.kind == "full")
            base, patches = order.normalized, deliveries - fulls
            if fulls:
                latest = max(fulls, key=lambda d: (_changed(d.normalized), d.id))
                (fulls - latest).write({"state": "superseded"})
                if base and _changed(latest.normalized) < _changed(base):
                    latest.write({"state": "superseded"})
                    order._message_log(body=_("An older version of this order arrived late and was ignored."))
                else:
                    latest.write({"state": "applied"})
                    base = latest.normalized
                    order.write({"payload": latest.payload, "payload_content_type": latest.content_type})
                    patches = order.delivery_ids.filtered(
                        lambda d: d.kind == "patch" and d.state in ("pending", "applied")).sorted("id")
            if not base:
                continue  # a patch that came first: it waits for the order it patches
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
            message = _("The order itself arrived.")
        elif normalized.paid and not was_paid:
            message = _("The store reports this order paid.")
        else:
            message = _("The store sent a new version of this order.")
        order._message_log(body=message)


class _Run:
    """One channel's batch going through the steps; holds what the steps share."""

    def __init__(self, processor, channel):
        self.processor = processor
        self.env = processor.env
        self.channel = channel
        self.company = channel.company_id
        self.parsed = {}
        self.notes = defaultdict(list)
        self.empty = processor.env["sale.inbox.order"]

    # -- the step runner -------------------------------------------------

    def step(self, orders, step, func):
        """Run ``func`` on all ``orders`` at once; on failure, order by order.

        Returns the orders for which it succeeded; the others are stopped at ``step``.
        """
        if not orders:
            return orders
        try:
            with self.env.cr.savepoint():
                func(orders)
            return orders
        except Exception as exc:  # noqa: BLE001 -- any failure stops only its order
            self._reraise_if_concurrency(exc)
            if len(orders) == 1:
                orders._fail(step, self._describe(exc))
                return self.empty
        succeeded = self.empty
        for order in orders:
            try:
                with self.env.cr.savepoint():
                    func(order)
                succeeded |= order
            except Exception as exc:  # noqa: BLE001
                self._reraise_if_concurrency(exc)
                order._fail(step, self._describe(exc))
        return succeeded

    @staticmethod
    def _reraise_if_concurrency(exc):
        if isinstance(exc, OperationalError) and exc.pgcode in _RETRYABLE:
            raise exc

    @staticmethod
    def _describe(exc):
        if isinstance(exc, (UserError, ValidationError, StepFailed, InvalidPayload)):
            return str(exc.args[0]) if exc.args else str(exc)
        _logger.exception("Sales Inbox: unexpected error while processing")
        return f"{type(exc).__name__}: {exc}"

    def n(self, order):
        return self.parsed[order.id]

    # -- steps -----------------------------------------------------------

    def parse(self, orders):
        live = self.empty
        for order in orders:
            try:
                if not order.normalized and not order.payload:
                    continue  # a placeholder: the store sent a change before the order itself
                if not order.normalized:
                    order = order._read_again()
                    if not order:
                        continue
                self.parsed[order.id] = order._read_normalized()
                live |= order
            except InvalidPayload as exc:
                order._fail("parse", str(exc))
        return live

    def store_cancellations(self, orders):
        """Orders the store cancelled: a waiting order is cancelled; a sales order too while
        nothing was delivered or invoiced, otherwise a person decides (an activity says why)."""
        cancelled = orders.filtered(lambda o: self.n(o).status == "cancelled")
        for order in cancelled:
            so = order.sale_order_id
            if not so or so.state == "cancel":
                note = _("Cancelled in the store.")
            elif so.picking_ids.filtered(lambda p: p.state == "done") or so.invoice_ids.filtered(
                lambda m: m.state == "posted"
            ):
                so.activity_schedule(
                    "mail.mail_activity_data_todo",
                    user_id=so.user_id.id or self.env.uid,
                    summary=_("Cancelled in the store"),
                    note=_("The store cancelled %(number)s after it was delivered or invoiced: "
                           "decide on a return or a credit note.", number=order.name),
                )
                order._fail("cancellation", _(
                    "The store cancelled this order after it was delivered or invoiced; an "
                    "activity on %s asks a person to decide.", so.name), state="needs_review")
                continue
            else:
                so.store_status = self.n(order).status
                so.with_context(**{FROM_STORE: True})._action_cancel()
                note = _("Cancelled in the store; %s cancelled.", so.name)
            order.write({"state": "cancelled", "failed_step": False, "error_message": False})
            order._message_log(body=note)
        return orders - cancelled

    def store_statuses(self, orders):
        """Status changes the store reports move the sales order to the mapped stage, as far
        as Odoo allows; what cannot be done is left to a person, with an activity. With status
        sync to the store only, the store's status is just recorded: what is sent next is
        compared with it."""
        channel = self.channel
        if channel.status_sync == "none":
            return orders
        moves_orders = channel.status_sync in ("from_store", "both")
        first_stage = {}
        for line in channel.status_map_ids.sorted("stage_sequence"):
            first_stage.setdefault(line.store_status, line.odoo_stage)
        todo = orders.filtered(lambda o: o.sale_order_id and self.n(o).status
                               and self.n(o).status != o.sale_order_id.store_status)

        def apply(recs):
            for order in recs:
                so = order.sale_order_id.with_context(**{FROM_STORE: True})
                status = self.n(order).status
                handled = set(filter(None, (so.store_stages or "").split(",")))
                so.store_status = status
                stage = first_stage.get(status)
                if not moves_orders or not stage or not so._sale_inbox_in_scope(channel, handled):
                    continue
                note = self._move_to_stage(so, stage)
                if note:
                    so._message_log(body=_("The store reports '%(status)s': %(note)s", status=status, note=note))
                    self.notes[order.id].append(note)

        done = self.step(todo, "status", apply)
        return (orders - todo) | done

    def _move_to_stage(self, so, stage):
        """Bring a sales order to a stage the store reports; returns what was done, in words."""
        reached = so._sale_inbox_stages()
        if stage in reached or stage == "quotation" or "cancelled" in reached:
            return None
        if stage == "confirmed":
            if so.state in ("draft", "sent"):
                so.action_confirm()
                return _("order confirmed")
            return None
        if stage == "delivered":
            if so.state in ("draft", "sent"):
                so.action_confirm()
            return self._deliver(so)
        if stage == "invoiced":
            if so.invoice_status != "to invoice":
                return None
            invoices = so._create_invoices()
            invoices.action_post()
            return _("invoice %s posted", ", ".join(invoices.mapped("name")))
        if stage == "cancelled":
            return None  # store_cancellations decided already
        # Partially delivered (which lines?) and paid (the payment step adds it when the
        # store reports the order paid) are not guessed.
        return _("noted; Odoo does not change the order for it")

    def _deliver(self, so):
        pickings = so.picking_ids.filtered(lambda p: p.state not in ("done", "cancel"))
        not_ready = pickings.filtered(lambda p: p.state != "assigned")
        if not_ready:
            so.activity_schedule(
                "mail.mail_activity_data_todo", user_id=so.user_id.id or self.env.uid,
                summary=_("Delivered in the store"),
                note=_("The store reports %(order)s delivered, but %(pickings)s cannot be validated (not "
                       "all in stock): validate it, or correct the stock.", order=so.name,
                       pickings=", ".join(not_ready.mapped("name"))))
            return _("delivery %s not ready: an activity asks a person to check", ", ".join(not_ready.mapped("name")))
        for move in pickings.move_ids:
            move.quantity = move.product_uom_qty
            move.picked = True
        pickings.with_context(skip_backorder=True, skip_sms=True)._action_done()
        return _("delivery %s validated", ", ".join(pickings.mapped("name")))

    def wait_for_payment(self, orders):
        if not self.channel.wait_for_payment:
            return orders
        def paid_later(order):
            # Cash on delivery and the like are paid at the door: nothing to wait for.
            method = self.methods.get(self.n(order).payment.method_code)
            return not (method and not method.means_paid)

        waiting = orders.filtered(lambda o: not o.sale_order_id and not self.n(o).paid and paid_later(o))
        newly = waiting.filtered(lambda o: o.state != "waiting_payment")
        newly._message_log_batch(
            dict.fromkeys(newly.ids, _("Waiting for the store to report this order paid."))
        )
        waiting.write({"state": "waiting_payment", "failed_step": False, "error_message": False})
        return orders - waiting

    def check_cancelled(self, orders):
        cancelled = orders.filtered(lambda o: o.sale_order_id.state == "cancel")
        cancelled._message_log_batch(
            dict.fromkeys(cancelled.ids, _("The sales order was cancelled in Odoo; nothing more is done."))
        )
        cancelled.write({"state": "cancelled"})
        return orders - cancelled

    def check_payment_methods(self, orders):
        """Learn the store's payment methods; stop orders whose method is not mapped."""
        Method = self.env["sale.channel.payment.method"]
        codes = {self.n(o).payment.method_code for o in orders} - {""}
        known = {m.code: m for m in Method.search([("channel_id", "=", self.channel.id), ("code", "in", list(codes))])}
        for order in orders:
            payment = self.n(order).payment
            code = payment.method_code
            if code and code not in known:
                try:
                    with self.env.cr.savepoint():
                        known[code] = Method.create({
                            "channel_id": self.channel.id,
                            "code": code,
                            "name": payment.method_name or code,
                        })
                except Exception:  # noqa: BLE001 -- another worker learnt it first
                    known[code] = Method.search([("channel_id", "=", self.channel.id), ("code", "=", code)])
        self.methods = known
        if not self.channel.add_payment:
            return orders
        live = self.empty
        for order in orders:
            n = self.n(order)
            if not n.paid or order.payment_id:
                live |= order
                continue
            method = known.get(n.payment.method_code)
            if not method:
                order._fail("payment_mapping", _(
                    "The store reports this order paid but names no payment method, so no "
                    "journal can receive the payment."))
            elif not method.is_mapped:
                order._fail("payment_mapping", _(
                    "Payment method “%(method)s” (%(code)s) is not mapped to a journal. Map it "
                    "in the channel's Payments Mapping, then Retry.",
                    method=method.name, code=method.code))
            else:
                live |= order
        return live

    def drop_outdated_drafts(self, orders):
        """Orders to build: no sales document yet, or a draft built from older content."""
        outdated = orders.filtered(
            lambda o: o.sale_order_id
            and o.sale_order_id.state == "draft"
            and o.built_fingerprint != o.fingerprint
        )
        for order in outdated:
            name = order.sale_order_id.name
            order.sale_order_id.unlink()
            self.notes[order.id].append(_("draft %s replaced, as the order changed", name))
        changed_confirmed = orders.filtered(
            lambda o: o.sale_order_id
            and o.sale_order_id.state != "draft"
            and o.built_fingerprint != o.fingerprint
        )
        for order in changed_confirmed:
            self.notes[order.id].append(_(
                "the order changed in the store after %s was confirmed: check it by hand",
                order.sale_order_id.name))
        return orders.filtered(lambda o: not o.sale_order_id)

    def build(self, orders):
        if not orders:
            return orders
        orders = self._resolve_customers(orders)
        orders = self._resolve_products(orders)
        orders = self._resolve_currencies(orders)
        return self.step(orders, "order", self._create_sale_orders)

    def check_amounts(self, orders):
        live = self.empty
        accept_all = self.env.context.get("sale_inbox_accept_difference")
        for order in orders:
            so = order.sale_order_id
            n = self.n(order)
            currency = so.currency_id
            difference = currency.round(float(n.total) - so.amount_total)
            order.write({"odoo_amount_total": so.amount_total, "amount_difference": difference})
            over = float_compare(
                abs(difference), self.channel.amount_tolerance, precision_rounding=currency.rounding
            ) > 0
            if not over or order.amount_accepted or so.state != "draft":
                live |= order
                continue
            message = _(
                "The store's total %(store)s differs from the Odoo total %(odoo)s by %(diff)s.",
                store=n.total, odoo=so.amount_total, diff=difference,
            )
            if accept_all:
                order.amount_accepted = True
                live |= order
            elif self.channel.amount_mismatch_action == "continue":
                self.notes[order.id].append(message)
                order.amount_accepted = True
                live |= order
            else:
                order._fail("amount_check", message + " " + _(
                    "The document stays a draft and no payment is added: correct it and "
                    "Retry, or Accept the difference."), state="needs_review")
        return live

    def confirm(self, orders):
        doc = self.channel.document_type
        if doc == "quotation" or (doc == "order" and not self.channel.auto_confirm):
            return orders
        todo = orders.filtered(lambda o: o.sale_order_id.state in ("draft", "sent"))
        done = self.step(todo, "confirm", lambda recs: recs.sale_order_id.action_confirm())
        for order in done:
            self.notes[order.id].append(_("confirmed"))
        return (orders - todo) | done

    def invoice(self, orders):
        if self.channel.document_type != "invoice":
            return orders
        todo = orders.filtered(lambda o: not o.invoice_id)

        def create_invoices(recs):
            recs.sale_order_id._create_invoices(grouped=True)
            for rec in recs:
                invoice = rec.sale_order_id.invoice_ids.filtered(lambda m: m.state != "cancel")[:1]
                if not invoice:
                    raise UserError(_("Odoo made no invoice for %s.", rec.sale_order_id.name))
                rec.invoice_id = invoice

        done = self.step(todo, "invoice", create_invoices)
        for order in done:
            self.notes[order.id].append(_("invoice created"))
        return (orders - todo) | done

    def post_invoices(self, orders):
        if not self.channel.auto_confirm:
            return orders
        todo = orders.filtered(lambda o: o.invoice_id.state == "draft")
        done = self.step(todo, "post", lambda recs: recs.invoice_id.action_post())
        for order in done:
            self.notes[order.id].append(_("invoice %s posted", order.invoice_id.name))
        return (orders - todo) | done

    def add_payments(self, orders):
        if not self.channel.add_payment:
            return orders
        todo = self.empty
        for order in orders.filtered(lambda o: not o.payment_id):
            n = self.n(order)
            method = self.methods.get(n.payment.method_code)
            if n.paid and n.payment.amount > 0 and method and method.means_paid:
                todo |= order
        if not todo:
            return orders
        against_invoice = todo.filtered(
            lambda o: o.invoice_id.state == "posted" and o.invoice_id.payment_state == "not_paid"
        )
        advances = todo - against_invoice
        paid = self.step(against_invoice, "payment", self._register_invoice_payments)
        paid |= self.step(advances, "payment", self._register_advances)
        for order in paid:
            self.notes[order.id].append(_("payment of %(amount)s registered in %(journal)s",
                                          amount=order.payment_id.amount,
                                          journal=order.payment_id.journal_id.name))
        return (orders - todo) | paid

    def send_emails(self, orders):
        if not self.channel.send_email:
            return orders
        todo = orders.filtered(lambda o: not o.email_sent)
        done = self.step(todo, "email", self._send)
        for order in done:
            self.notes[order.id].append(_("e-mailed to %s", order.partner_id.email))
        return (orders - todo) | done

    def finish(self, orders):
        orders.write({
            "state": "done",
            "failed_step": False,
            "error_message": False,
            "processed_at": fields.Datetime.now(),
        })
        orders._message_log_batch({
            order.id: _("Processed: %s.", "; ".join(self.notes[order.id] or [_("nothing left to do")]))
            for order in orders
        })

    # -- building the sales order -----------------------------------------

    def _resolve_customers(self, orders):
        """Find or create each order's customer and its invoice and delivery contacts.

        A set of searches for the whole batch: store customer ids first (they survive a
        change of e-mail), then e-mail addresses in the company, else a new contact.
        """
        Partner = self.env["res.partner"]
        Link = self.env["sale.channel.partner"]
        company_ids = [False, self.company.id]
        customers = {o.id: self.n(o).customer for o in orders}

        ext_ids = {c.external_id for c in customers.values() if c.external_id}
        by_ext = {
            link.external_id: link.partner_id
            for link in Link.search([("channel_id", "=", self.channel.id), ("external_id", "in", list(ext_ids))])
        }
        emails = {c.email for c in customers.values() if c.email and c.external_id not in by_ext}
        by_email = {}
        if emails:
            for partner in Partner.search(
                [("email_normalized", "in", list(emails)), ("company_id", "in", company_ids)],
                order="parent_id desc, id",
            ):
                # Prefer a top-level contact; else the company a contact belongs to.
                by_email.setdefault(partner.email_normalized, partner.commercial_partner_id)

        # One new contact per customer, however many of its orders the batch holds.
        to_create = {}
        for order in orders:
            c = customers[order.id]
            if (c.external_id and c.external_id in by_ext) or (c.email and c.email in by_email):
                continue
            key = ("ext", c.external_id) if c.external_id else ("email", c.email) if c.email else ("order", order.id)
            to_create.setdefault(key, self._partner_vals(self.n(order)))
        created = dict(zip(to_create, Partner.create(list(to_create.values())), strict=True)) if to_create else {}

        new_links = {}
        partner_of = {}
        for order in orders:
            c = customers[order.id]
            partner = (
                by_ext.get(c.external_id)
                or by_email.get(c.email)
                or created.get(("ext", c.external_id))
                or created.get(("email", c.email))
                or created.get(("order", order.id))
            )
            partner_of[order.id] = partner
            if c.external_id and c.external_id not in by_ext:
                new_links[c.external_id] = partner.id
        if new_links:
            Link.create([
                {"channel_id": self.channel.id, "external_id": ext, "partner_id": pid}
                for ext, pid in new_links.items()
            ])
        self.partners = partner_of
        self.addresses = self._resolve_addresses(orders, partner_of)
        return orders

    def _partner_vals(self, n):
        c = n.customer
        address = self._address_vals(n.billing_address) if not n.billing_address.is_empty() else {}
        address.pop("name", None)
        return {
            **address,
            "name": c.name or c.company or n.billing_address.name or c.email or _("Store customer"),
            "email": c.email or False,
            "phone": c.phone or n.billing_address.phone or False,
            "company_name": c.company or False,
            "vat": c.vat or False,
            "company_id": self.company.id,
        }

    def _address_vals(self, address):
        countries = self._countries()
        country = countries.get(address.country_code.upper()) if address.country_code else None
        state = False
        if country and address.state:
            wanted = address.state.strip().lower()
            state = next(
                (s.id for s in country.state_ids if wanted in (s.code.lower(), s.name.lower())),
                False,
            )
        return {
            "name": address.name or address.company,
            "street": address.street or False,
            "street2": address.street2 or False,
            "city": address.city or False,
            "zip": address.zip or False,
            "country_id": country.id if country else False,
            "state_id": state,
        }

    def _countries(self):
        if not hasattr(self, "_country_cache"):
            codes = set()
            for n in self.parsed.values():
                codes.update(a.country_code.upper() for a in (n.billing_address, n.shipping_address) if a.country_code)
            self._country_cache = {
                c.code: c for c in self.env["res.country"].search([("code", "in", list(codes))])
            }
        return self._country_cache

    def _resolve_addresses(self, orders, partner_of):
        """Invoice and delivery contacts as children of the customer, reused when equal."""
        Partner = self.env["res.partner"]
        parents = {p.id for p in partner_of.values()}
        existing = {}
        for child in Partner.search([("parent_id", "in", list(parents)), ("type", "in", ("invoice", "delivery"))]):
            existing.setdefault(self._address_key(child.parent_id.id, child.type, child), child)
        wanted = {}
        for order in orders:
            n = self.n(order)
            parent = partner_of[order.id]
            for kind, address in (("invoice", n.billing_address), ("delivery", n.shipping_address)):
                if address.is_empty():
                    continue
                vals = self._address_vals(address)
                vals["name"] = vals["name"] or parent.name
                key = self._address_key(parent.id, kind, vals)
                if key not in existing and key not in wanted:
                    # Odoo mails the invoice to its invoice contact: it reaches the
                    # customer unless the store gave the address its own e-mail.
                    wanted[key] = {
                        **vals, "parent_id": parent.id, "type": kind,
                        "phone": address.phone or parent.phone or False,
                        "email": address.email or parent.email or False,
                    }
        if wanted:
            existing.update(zip(wanted, Partner.create(list(wanted.values())), strict=True))
        result = {}
        for order in orders:
            n = self.n(order)
            parent = partner_of[order.id]
            picked = {}
            for kind, address in (("invoice", n.billing_address), ("delivery", n.shipping_address)):
                if address.is_empty():
                    picked[kind] = parent
                    continue
                vals = self._address_vals(address)
                vals["name"] = vals["name"] or parent.name
                picked[kind] = existing[self._address_key(parent.id, kind, vals)]
            result[order.id] = picked
        return result

    @staticmethod
    def _address_key(parent_id, kind, values):
        def get(name):
            value = values[name]
            if hasattr(value, "id"):
                value = value.id
            return (str(value or "")).strip().lower()
        return (parent_id, kind) + tuple(get(name) for name in _ADDRESS_KEYS)

    def _resolve_products(self, orders):
        """Products by SKU = the variant's internal reference, exactly; one search."""
        skus = {line.sku for o in orders for line in self.n(o).lines}
        found = defaultdict(lambda: self.env["product.product"])
        for product in self.env["product.product"].search(
            [("default_code", "in", list(skus)), ("company_id", "in", [False, self.company.id])]
        ):
            found[product.default_code] |= product
        self.products = found
        live = self.empty
        shipping_product = self.channel.shipping_product_id
        for order in orders:
            n = self.n(order)
            nameless = [line.name or "?" for line in n.lines if not line.sku]
            if nameless:
                order._fail("products", _(
                    "The store sent lines without a SKU: %s. Give the products a SKU in the store "
                    "(equal to the Odoo product's Internal Reference), or correct the order, then Retry.",
                    ", ".join(nameless)))
                continue
            unknown = sorted({line.sku for line in n.lines if line.sku not in found})
            ambiguous = sorted({line.sku for line in n.lines if len(found.get(line.sku, ())) > 1})
            if unknown:
                order._fail("products", _(
                    "No product has the internal reference %s. Create it, or correct the SKU, then Retry.",
                    ", ".join(unknown)))
            elif ambiguous:
                order._fail("products", _(
                    "Several products share the internal reference %s: keep one, then Retry.",
                    ", ".join(ambiguous)))
            elif any(s.price for s in n.shipping_lines) and not shipping_product:
                order._fail("products", _(
                    "The order charges shipping but the channel has no shipping product."))
            elif any(f.price for f in n.fee_lines) and not self.channel.fee_product_id:
                order._fail("products", _(
                    "The order has other charges but the channel has no fee product."))
            else:
                live |= order
        return live

    def _resolve_currencies(self, orders):
        codes = {self.n(o).currency for o in orders}
        currencies = {c.name: c for c in self.env["res.currency"].search([("name", "in", list(codes))])}
        pricelists = {}
        live = self.empty
        for order in orders:
            code = self.n(order).currency
            currency = currencies.get(code)
            if not currency:
                order._fail("order", _("Currency %s is not active in Odoo: activate it, then Retry.", code))
                continue
            if code not in pricelists:
                pricelists[code] = self._pricelist_for(currency)
            pricelist = pricelists[code]
            if not pricelist and currency != self.company.currency_id:
                order._fail("order", _(
                    "No pricelist in %s: create one (Sales → Products → Pricelists), then Retry.", code))
                continue
            live |= order
        self.pricelists = pricelists
        return live

    def _pricelist_for(self, currency):
        if self.channel.pricelist_id.currency_id == currency:
            return self.channel.pricelist_id
        return self.env["product.pricelist"].search(
            [("currency_id", "=", currency.id), ("company_id", "in", [False, self.company.id])], limit=1
        )

    def _create_sale_orders(self, orders):
        vals_list = [self._sale_order_vals(order) for order in orders]
        sale_orders = self.env["sale.order"].create(vals_list)
        sale_orders._message_log_batch({
            so.id: _("Created by the Sales Inbox from %(channel)s order %(number)s.",
                     channel=self.channel.name, number=order.name)
            for order, so in zip(orders, sale_orders, strict=True)
        })
        for order, so in zip(orders, sale_orders, strict=True):
            self.notes[order.id].insert(0, _("%s created", so.name))
            order.write({
                "sale_order_id": so.id,
                "partner_id": so.partner_id.id,
                "built_fingerprint": order.fingerprint,
            })

    def _sale_order_vals(self, order):
        n = self.n(order)
        partner = self.partners[order.id]
        addresses = self.addresses[order.id]
        fiscal_position = self.env["account.fiscal.position"]._get_fiscal_position(
            partner, addresses["delivery"]
        )
        lines = []
        for line in n.lines:
            product = self.products[line.sku]
            amount = line.unit_price * line.quantity
            discount = float(line.discount / amount * 100) if amount and line.discount else 0.0
            taxes, price = self._taxes_and_price(product, fiscal_position, n.taxes_included, line.unit_price)
            lines.append(Command.create({
                "product_id": product.id,
                "product_uom_qty": float(line.quantity),
                "price_unit": price,
                "discount": discount,
                "tax_id": [Command.set(taxes.ids)],
            }))
        charges = [(self.channel.shipping_product_id, c) for c in n.shipping_lines]
        charges += [(self.channel.fee_product_id, c) for c in n.fee_lines]
        for product, charge in charges:
            taxes, price = self._taxes_and_price(product, fiscal_position, n.taxes_included, charge.price)
            lines.append(Command.create({
                "product_id": product.id,
                "name": charge.name or product.display_name,
                "product_uom_qty": 1.0,
                "price_unit": price,
                "tax_id": [Command.set(taxes.ids)],
            }))
        vals = {
            "partner_id": partner.id,
            "partner_invoice_id": addresses["invoice"].id,
            "partner_shipping_id": addresses["delivery"].id,
            "company_id": self.company.id,
            "fiscal_position_id": fiscal_position.id,
            "pricelist_id": self.pricelists[n.currency].id,
            "client_order_ref": n.number,
            "origin": f"{self.channel.name}: {n.number}",
            "channel_id": self.channel.id,
            "inbox_order_id": order.id,
            "external_order_number": n.number,
            "store_status": n.status or False,
            "order_line": lines,
        }
        if n.note:
            vals["note"] = n.note
        if self.channel.warehouse_id:
            vals["warehouse_id"] = self.channel.warehouse_id.id
        if self.channel.team_id:
            vals["team_id"] = self.channel.team_id.id
        if self.channel.user_id:
            vals["user_id"] = self.channel.user_id.id
        date_order = utc_naive(n.created_at)
        if date_order:
            vals["date_order"] = date_order
        return vals

    def _taxes_and_price(self, product, fiscal_position, taxes_included, price):
        """The product's taxes, and the unit price to give them.

        Stores tell whether their prices include tax. When Odoo's taxes for the product say
        the opposite, use a twin tax of the same rate that agrees (so totals match to the
        cent); without one, convert the price.
        """
        taxes = fiscal_position.map_tax(product.taxes_id._filter_taxes_by_company(self.company))
        price = float(price)
        mismatched = taxes.filtered(lambda t: t.amount_type == "percent" and t.price_include != taxes_included)
        if not mismatched:
            return taxes, price
        result = taxes - mismatched
        rate = 0.0
        for tax in mismatched:
            twin = self._twin_tax(tax, taxes_included)
            if twin:
                result |= twin
            else:
                result |= tax
                rate += tax.amount
        if rate:
            factor = 1 + rate / 100.0
            price = price / factor if taxes_included else price * factor
            digits = self.env["decimal.precision"].precision_get("Product Price")
            price = float_round(price, precision_digits=max(digits, 6))
        return result, price

    def _twin_tax(self, tax, price_include):
        cache = self.__dict__.setdefault("_twins", {})
        key = (tax.id, price_include)
        if key not in cache:
            cache[key] = self.env["account.tax"].search([
                ("company_id", "=", tax.company_id.id),
                ("type_tax_use", "=", tax.type_tax_use),
                ("amount_type", "=", tax.amount_type),
                ("amount", "=", tax.amount),
                ("price_include", "=", price_include),
            ], limit=1)
        return cache[key]

    # -- payments and e-mail ---------------------------------------------

    def _journal_for(self, order):
        return self.methods[self.n(order).payment.method_code].journal_id

    def _register_invoice_payments(self, orders):
        """One payment per invoice, registered through Odoo's own wizard per journal."""
        by_journal = defaultdict(lambda: self.empty)
        for order in orders:
            by_journal[self._journal_for(order)] |= order
        for journal, group in by_journal.items():
            exact = group.filtered(lambda o: o.invoice_id.currency_id.compare_amounts(
                float(self.n(o).payment.amount), o.invoice_id.amount_residual) == 0)
            for batch, extra in ((exact, {}),) + tuple(
                (o, {"amount": float(self.n(o).payment.amount), "payment_difference_handling": "open"})
                for o in group - exact
            ):
                if not batch:
                    continue
                wizard = self.env["account.payment.register"].with_context(
                    active_model="account.move", active_ids=batch.invoice_id.ids
                ).create({"journal_id": journal.id, "group_payment": False, **extra})
                payments = wizard._create_payments()
                for payment in payments:
                    for order in batch.filtered(lambda o, p=payment: o.invoice_id in p.invoice_ids):
                        order.payment_id = payment

    def _register_advances(self, orders):
        """Without a posted invoice the money is kept as the customer's advance."""
        vals_list = []
        for order in orders:
            n = self.n(order)
            so = order.sale_order_id
            vals_list.append({
                "payment_type": "inbound",
                "partner_type": "customer",
                "partner_id": so.partner_invoice_id.commercial_partner_id.id,
                "amount": float(n.payment.amount),
                "currency_id": so.currency_id.id,
                "journal_id": self._journal_for(order).id,
                "memo": " ".join(filter(None, [so.name, n.payment.transaction_id])),
            })
        payments = self.env["account.payment"].create(vals_list)
        payments.action_post()
        for order, payment in zip(orders, payments, strict=True):
            order.payment_id = payment

    def _send(self, orders):
        missing = orders.filtered(
            lambda o: not (o.invoice_id.partner_id or o.sale_order_id.partner_id).email
        )
        if missing:
            raise UserError(_("The customer has no e-mail address."))
        invoices = orders.invoice_id.filtered(lambda m: m.state == "posted")
        if invoices:
            # The PDF only: a shop's customer has no use for an e-invoice format (UBL…),
            # which would also stop the sending for want of a VAT number. Errors raise, so
            # the order stops at this step rather than being marked e-mailed.
            self.env["account.move.send"]._generate_and_send_invoices(
                invoices, sending_methods=["email"], invoice_edi_format=None
            )
        for order in orders.filtered(lambda o: o.invoice_id.state != "posted"):
            so = order.sale_order_id
            template = (
                so._get_confirmation_template() if so.state == "sale"
                else self.env.ref("sale.email_template_edi_sale")
            )
            so.message_post_with_source(template, subtype_xmlid="mail.mt_comment")
            if so.state == "draft":
                so.state = "sent"
        orders.write({"email_sent": True})


def _changed(normalized_json):
    """The store's change time of a stored normalized order ('' when it gives none)."""
    try:
        return json.loads(normalized_json or "{}").get("updated_at") or ""
    except ValueError:
        return ""
