"""Payments after delivery and the marketplace's charges, booked the way an accountant expects.

A marketplace pays its seller some days after each delivery, less its fees. The job
(``_cron_pay_and_book``, any platform) does two things, each unit on its own:

* **Payments after delivery** (``_pay_delivered_orders``): an order of a channel that pays
  after delivery, whose deliveries are all done since ``pay_after_days``, with a posted
  customer invoice not paid and no payment registered for it yet, gets one payment through
  Odoo's own wizard in the channel's marketplace journal, for the invoice's residual less the
  order's waiting charges; the difference is written off on the channel's commission account
  (the invoice is paid in full and never edited). Those fees become ``in_payment``.
* **Charges booked on their own** (``_book_waiting_charges``): charges that can no longer be
  deducted from a payment (the order is paid already, or cancelled) and charges of no order
  get an entry of their own in the marketplace journal: commission account against the account
  the marketplace's money sits on (the journal's outstanding receipts account). Fees become
  ``booked``.

Each order is claimed with a row lock on its inbox order (``FOR UPDATE SKIP LOCKED``), the row
the payment is linked on, so that two runners never pay one order; charges are claimed by
locking their fee rows the same way.
"""
import logging
from collections import defaultdict
from datetime import timedelta

from psycopg2 import errors as pg_errors

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import float_compare

from .sale_channel import MANAGER
from .sale_inbox_order import clean_text

_logger = logging.getLogger(__name__)

#: Orders paid per run at most (each one its own transaction); the job runs again at once
#: when more wait (it reports its progress).
PAY_BATCH = 200
#: Charge units (an order, a channel's day) booked per run at most.
BOOK_BATCH = 500
ACCOUNT_MANAGER = "account.group_account_manager"
#: States of a payment that no longer counts.
DEAD_PAYMENT_STATES = ("canceled", "rejected")
#: Invoice payment states after which nothing will deduct an order's charges: paid (by us or a
#: person), reversed by a credit note (a return), or partly paid by a person.
SETTLED_INVOICE_STATES = ("paid", "in_payment", "reversed", "partial")
#: A fee whose charges still wait: never deducted or booked, or its entry is gone (the payment
#: cancelled, the entry cancelled or deleted). An entry only reset to draft is left alone: it may
#: be posted again with the charges on it (counted as not booked meanwhile, by the payouts).
FEE_WAITING_SQL = """(f.state = 'waiting' OR (f.state IN ('in_payment', 'booked') AND NOT EXISTS (
    SELECT 1 FROM account_move fm WHERE fm.id = f.move_id AND fm.state != 'cancel')))"""


class SaleChannelFee(models.Model):
    _inherit = "sale.channel.fee"

    # ------------------------------------------------------------------
    # The job
    # ------------------------------------------------------------------

    @api.model
    def _cron_pay_and_book(self, pay_limit=PAY_BATCH, book_limit=BOOK_BATCH):
        """Pay the orders due, then book the charges that wait for no payment."""
        paid, pay_left = self._pay_delivered_orders(pay_limit, notify=False)
        booked, book_left = self._book_waiting_charges(book_limit, notify=False)
        self._clear_settled_payment_errors()
        Payout = self.env["sale.channel.payout"]
        # Payments and bookings change what the payout periods explain: reconcile those they
        # touched, in a transaction of its own (it may commit period by period); its failure
        # undoes nothing of the above (each unit committed itself).
        self._run_isolated(Payout, "reconciling touched payout periods", Payout._reconcile_touched,
                           on_error=lambda error: None, own_transaction=True)
        # The true remainder (not this batch's): the runner starts the job again at once while
        # units wait beyond the batches.
        self._notify_job_progress(len(paid) + len(booked), pay_left + book_left)
        return paid, booked

    @api.model
    def _clear_settled_payment_errors(self):
        """An order's payment error goes once nothing is left to do for it (its invoices
        settled by a person or a credit note, or the order cancelled, and no charge of it
        waiting): it is never visited again, its error would stay, stale. One query."""
        for model in ("sale.channel.fee", "sale.order", "account.move"):
            self.env[model].flush_model()
        self.env.cr.execute(
            f"""
            SELECT so.id FROM sale_order so
             WHERE so.marketplace_payment_error IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM sale_channel_fee f
                                WHERE f.sale_order_id = so.id AND f.charge_amount != 0 AND {FEE_WAITING_SQL})
               AND (so.state = 'cancel' OR (
                    EXISTS (SELECT 1 FROM sale_order_line sol
                              JOIN sale_order_line_invoice_rel rel ON rel.order_line_id = sol.id
                              JOIN account_move_line aml ON aml.id = rel.invoice_line_id
                              JOIN account_move m ON m.id = aml.move_id
                             WHERE sol.order_id = so.id AND m.state = 'posted' AND m.move_type = 'out_invoice')
                AND NOT EXISTS (SELECT 1 FROM sale_order_line sol
                              JOIN sale_order_line_invoice_rel rel ON rel.order_line_id = sol.id
                              JOIN account_move_line aml ON aml.id = rel.invoice_line_id
                              JOIN account_move m ON m.id = aml.move_id
                             WHERE sol.order_id = so.id AND m.state = 'posted' AND m.move_type = 'out_invoice'
                               AND m.payment_state NOT IN %s)))
            """, (SETTLED_INVOICE_STATES,))
        orders = self.env["sale.order"].browse([row[0] for row in self.env.cr.fetchall()])
        orders._clear_marketplace_payment_error()
        return orders

    # ------------------------------------------------------------------
    # (a) Payments after delivery
    # ------------------------------------------------------------------

    @api.model
    def _due_payments(self, limit):
        """(inbox order id, sales order id) of the orders due for their payment after
        delivery, in one query: every outgoing delivery done (the last at least the channel's
        days ago), a posted customer invoice not paid and none paid, no live payment naming the
        inbox order."""
        for model in ("sale.order", "sale.inbox.order", "stock.picking", "account.move", "account.payment"):
            self.env[model].flush_model()
        self.env.cr.execute(
            """
            WITH invoices AS NOT MATERIALIZED (
                SELECT DISTINCT sol.order_id, m.id, m.payment_state
                  FROM sale_order_line sol
                  JOIN sale_order_line_invoice_rel rel ON rel.order_line_id = sol.id
                  JOIN account_move_line aml ON aml.id = rel.invoice_line_id
                  JOIN account_move m ON m.id = aml.move_id
                 WHERE m.state = 'posted' AND m.move_type = 'out_invoice'
            )
            SELECT io.id, so.id, count(*) OVER ()
              FROM sale_order so
              JOIN sale_channel c ON c.id = so.channel_id
              JOIN sale_inbox_order io ON io.id = so.inbox_order_id AND io.sale_order_id = so.id
              LEFT JOIN account_payment linked ON linked.id = io.payment_id
             WHERE c.active AND c.pay_after_delivery
               AND c.marketplace_journal_id IS NOT NULL AND c.commission_account_id IS NOT NULL
               AND so.state = 'sale'
               AND (linked.id IS NULL OR linked.state IN %(dead)s)
               AND NOT EXISTS (SELECT 1 FROM account_payment p
                                WHERE p.sale_inbox_order_id = io.id AND p.state NOT IN %(dead)s)
               AND EXISTS (SELECT 1 FROM invoices i WHERE i.order_id = so.id AND i.payment_state = 'not_paid')
               AND NOT EXISTS (SELECT 1 FROM invoices i WHERE i.order_id = so.id AND i.payment_state != 'not_paid')
               AND NOT EXISTS (SELECT 1 FROM stock_picking p JOIN stock_picking_type t ON t.id = p.picking_type_id
                                WHERE p.sale_id = so.id AND t.code = 'outgoing' AND p.state NOT IN ('done', 'cancel'))
               AND (SELECT max(p.date_done) FROM stock_picking p JOIN stock_picking_type t ON t.id = p.picking_type_id
                     WHERE p.sale_id = so.id AND t.code = 'outgoing' AND p.state = 'done')
                   <= %(now)s - make_interval(days => c.pay_after_days)
             -- Orders that failed last: they must not hold up the others at every run.
             ORDER BY so.marketplace_payment_error IS NOT NULL, so.id
             LIMIT %(limit)s
            """,
            {"dead": DEAD_PAYMENT_STATES, "now": fields.Datetime.now(), "limit": limit},
        )
        return self.env.cr.fetchall()

    @api.model
    def _pay_delivered_orders(self, limit=PAY_BATCH, notify=True):
        """Pay each due order on its own transaction; returns the payments made and how many
        due orders were left for the next run."""
        due = self._due_payments(limit)
        left = due[0][2] - len(due) if due else 0
        commit = self._commit_allowed()
        payments = self.env["account.payment"]
        for done, (inbox_id, _so_id, _total) in enumerate(due):
            inbox = self._claim_fresh(self._lock_inbox_order, inbox_id)
            if inbox:
                so = inbox.sale_order_id
                ok, payment = self._run_isolated(
                    so, "payment after delivery", self._pay_order, inbox,
                    on_error=so._record_marketplace_payment_error)
                if ok and payment:
                    payments |= payment
            if notify:
                self._notify_job_progress(done + 1, len(due) - done - 1 + left)
            if commit and inbox:
                # This order is paid (or its error kept) and its lock released: the next
                # order's claim starts a transaction that sees what other runners committed.
                self.env.cr.commit()  # pylint: disable=invalid-commit
        return payments, left

    @api.model
    def _lock_inbox_order(self, inbox_id):
        """The inbox order, locked for this transaction; empty when another runner (or
        processing) holds it. Its row carries the payment's link: a runner that paid it
        changed it, so a second runner's lock fails on it and starts again (``_claim_fresh``)."""
        self.env.cr.execute("SELECT id FROM sale_inbox_order WHERE id = %s FOR UPDATE SKIP LOCKED", (inbox_id,))
        found = self.env.cr.fetchone()
        return self.env["sale.inbox.order"].browse(found[0]) if found else self.env["sale.inbox.order"]

    @api.model
    def _pay_order(self, inbox):
        """Register this order's payment after delivery; returns it (empty when there is
        nothing to pay any more). Raises a ``UserError`` a person can act on."""
        so = inbox.sale_order_id
        if self._payment_made(inbox):
            so._clear_marketplace_payment_error()
            return self.env["account.payment"]
        invoices = so._sale_inbox_posted_invoices()
        if not invoices or any(invoice.payment_state != "not_paid" for invoice in invoices):
            so._clear_marketplace_payment_error()
            return self.env["account.payment"]
        channel = so.channel_id
        fees = self._lock_order_fees(so)
        self._check_payable(so, invoices, fees)
        currency = invoices.currency_id
        charges = currency.round(sum(fees.mapped("charge_amount")))
        amount = currency.round(sum(invoices.mapped("amount_residual")) + charges)
        wizard = self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=invoices.ids,
        ).create(self._payment_register_vals(channel, so, amount, charges))
        if len(wizard.batches) != 1 or (not currency.is_zero(charges) and not wizard.can_edit_wizard):
            raise UserError(self.env._(
                "The invoices of %(order)s cannot be paid by one payment (several customers or accounts): "
                "register the payment by hand.", order=so.name))
        payment = wizard._create_payments()
        if not payment.move_id:
            # Odoo makes a payment without entry when its method names no outstanding account
            # (with full accounting): the write-off would be booked nowhere.
            raise UserError(self._no_outstanding_account_message(channel))
        fees.write({"state": "in_payment", "move_id": payment.move_id.id})
        inbox.payment_id = payment
        # What proves the payment is this order's, should the order lose its link.
        payment.sale_inbox_order_id = inbox
        so._clear_marketplace_payment_error()
        so.message_post(body=self.env._(
            "Marketplace payment %(payment)s of %(amount)s registered in %(journal)s, less charges of %(charges)s.",
            payment=payment.name, amount=payment.amount, journal=channel.marketplace_journal_id.name,
            charges=-charges))
        return payment

    @api.model
    def _payment_made(self, inbox):
        """Whether a live payment was registered for this inbox order already (linked back
        if the order lost its link): never a second one."""
        made = self.env["account.payment"].search([
            ("sale_inbox_order_id", "=", inbox.id), ("state", "not in", DEAD_PAYMENT_STATES)], order="id", limit=1)
        if made and inbox.payment_id != made:
            inbox.payment_id = made
        return bool(made) or bool(inbox.payment_id and inbox.payment_id.state not in DEAD_PAYMENT_STATES)

    @api.model
    def _no_outstanding_account_message(self, channel):
        return self.env._(
            "The incoming payment method of the marketplace journal %s names no outstanding account: the payment "
            "would have no journal entry. Press Set Up Marketplace Accounting on the channel (it sets one), or "
            "set it on the journal.", channel.marketplace_journal_id.display_name)

    @api.model
    def _lock_order_fees(self, so):
        """The order's fees waiting to be deducted, locked (waiting for a booking of them
        that runs right now, which is short): what the payment deducts is what it marks.
        Fees whose entry is no longer posted wait again."""
        self.env.cr.execute(
            f"SELECT f.id FROM sale_channel_fee f WHERE f.sale_order_id = %s AND {FEE_WAITING_SQL} "
            "ORDER BY f.id FOR UPDATE OF f", (so.id,))
        return self.browse([row[0] for row in self.env.cr.fetchall()])._wait_again()

    def _wait_again(self):
        """These fees (locked) wait again, those whose entry is gone included."""
        stale = self.filtered(lambda fee: fee.state != "waiting")
        if stale:
            stale.write({"state": "waiting", "move_id": False})
        return self

    @api.model
    def _check_payable(self, so, invoices, fees):
        currency = invoices.currency_id
        if len(currency) != 1:
            raise UserError(self.env._("The invoices of %s are in several currencies: register the payment by hand.",
                                       so.name))
        journal = so.channel_id.marketplace_journal_id
        if journal.currency_id and journal.currency_id != currency:
            raise UserError(self.env._(
                "The marketplace journal %(journal)s is in %(journal_currency)s, the invoice of %(order)s in "
                "%(currency)s: choose a journal without a currency of its own (or in the invoice's).",
                journal=journal.display_name, journal_currency=journal.currency_id.name, order=so.name,
                currency=currency.name))
        method = journal.inbound_payment_method_line_ids[:1]
        if not method.payment_account_id and \
                self.env["account.move"]._get_invoice_in_payment_state() == "in_payment":
            raise UserError(self._no_outstanding_account_message(so.channel_id))
        returned = so.order_line.filtered(
            lambda line: line.qty_delivered_method == "stock_move"
            and float_compare(line.qty_delivered, line.qty_invoiced, precision_rounding=line.product_uom.rounding) < 0)
        if returned:
            raise UserError(self.env._(
                "Goods of %s came back to the warehouse (a return): the marketplace will not pay for them. Make the "
                "credit note for what came back, then register the payment by hand (or cancel the order).", so.name))
        if fees and fees.currency_id != currency:
            raise UserError(self.env._(
                "The marketplace's fees of %(order)s are in %(fees)s, its invoice in %(invoice)s: register the "
                "payment by hand.", order=so.name, fees=", ".join(fees.currency_id.mapped("name")),
                invoice=currency.name))
        refunded = self.search([("sale_order_id", "=", so.id), ("sale_amount", "<", 0)])
        if refunded or so.invoice_ids.filtered(lambda m: m.move_type == "out_refund" and m.state == "posted"):
            raise UserError(self.env._(
                "The marketplace refunded the buyer of %s (a return): make the credit note and register the "
                "payment by hand, or cancel the order.", so.name))
        charges = sum(fees.mapped("charge_amount"))
        residual = sum(invoices.mapped("amount_residual"))
        if currency.compare_amounts(residual + charges, 0) <= 0:
            raise UserError(self.env._(
                "The marketplace's charges on %(order)s (%(charges)s) are not less than its invoice (%(residual)s): "
                "nothing is left to pay. Check the charges; the order is paid once they are less.",
                order=so.name, charges=-currency.round(charges), residual=residual))

    @api.model
    def _payment_register_vals(self, channel, so, amount, charges):
        label = self._marketplace_label(channel, so)
        vals = {
            "journal_id": channel.marketplace_journal_id.id,
            "payment_method_line_id": channel.marketplace_journal_id.inbound_payment_method_line_ids[:1].id,
            "amount": amount,
            "group_payment": True,
            "communication": label,
        }
        if charges:
            vals.update({
                "payment_difference_handling": "reconcile",
                "writeoff_account_id": channel.commission_account_id.id,
                "writeoff_label": self.env._("%s: commissions and charges", label),
            })
        return vals

    @api.model
    def _marketplace_label(self, channel, so=None):
        """Names the marketplace (and the order): a payment's memo, an entry's reference."""
        marketplace = channel._platform().label if channel.platform else channel.name
        if marketplace != channel.name:
            marketplace = f"{marketplace} ({channel.name})"
        if not so:
            return marketplace
        number = so.external_order_number
        return f"{marketplace} {so.name}" + (f" / {number}" if number else "")

    # ------------------------------------------------------------------
    # (b) Charges booked as expenses of their own
    # ------------------------------------------------------------------

    @api.model
    def _due_charge_units(self, limit):
        """The units of charges to book on their own, in one query: (channel id, sales order
        id, order ref, day, units due in all) — an order paid already (a live payment names it,
        or its invoices are settled: paid, reversed by a credit note, partly paid by a person)
        or cancelled; an order cancelled in the store before a sales order was made (its
        order ref); or a channel's day of charges of no order. Units that failed come last."""
        for model in ("sale.channel.fee", "sale.order", "sale.inbox.order", "account.move", "account.payment"):
            self.env[model].flush_model()
        self.env.cr.execute(
            f"""
            WITH units AS (
            SELECT DISTINCT f.channel_id, f.sale_order_id,
                   CASE WHEN f.sale_order_id IS NULL THEN COALESCE(f.order_ref, '') END AS order_ref,
                   CASE WHEN f.sale_order_id IS NULL AND COALESCE(f.order_ref, '') = '' THEN f.date::date END AS day,
                   CASE WHEN f.sale_order_id IS NULL THEN c.charges_last_error IS NOT NULL
                        ELSE so.marketplace_payment_error IS NOT NULL END AS failed
              FROM sale_channel_fee f
              JOIN sale_channel c ON c.id = f.channel_id
              LEFT JOIN sale_order so ON so.id = f.sale_order_id
             WHERE {FEE_WAITING_SQL} AND f.charge_amount != 0 AND c.active
               AND c.marketplace_journal_id IS NOT NULL AND c.commission_account_id IS NOT NULL
               -- With no sales order: charges of no order, or (a waiting fee naming an order;
               -- one not in Odoo is 'unmatched') of an order cancelled before a sales order.
               AND (
                    f.sale_order_id IS NULL
                 OR so.state = 'cancel'
                 OR EXISTS (SELECT 1 FROM account_payment p JOIN sale_inbox_order io ON io.id = p.sale_inbox_order_id
                             WHERE io.sale_order_id = so.id AND p.state NOT IN %(dead)s)
                 OR (EXISTS (SELECT 1 FROM sale_order_line sol
                               JOIN sale_order_line_invoice_rel rel ON rel.order_line_id = sol.id
                               JOIN account_move_line aml ON aml.id = rel.invoice_line_id
                               JOIN account_move m ON m.id = aml.move_id
                              WHERE sol.order_id = so.id AND m.state = 'posted' AND m.move_type = 'out_invoice'
                                AND m.payment_state IN %(settled)s)
                     AND NOT EXISTS (SELECT 1 FROM sale_order_line sol
                               JOIN sale_order_line_invoice_rel rel ON rel.order_line_id = sol.id
                               JOIN account_move_line aml ON aml.id = rel.invoice_line_id
                               JOIN account_move m ON m.id = aml.move_id
                              WHERE sol.order_id = so.id AND m.state = 'posted' AND m.move_type = 'out_invoice'
                                AND m.payment_state NOT IN %(settled)s))
               )
            )
            SELECT channel_id, sale_order_id, order_ref, day, count(*) OVER ()
              FROM units
             ORDER BY failed, channel_id, sale_order_id NULLS LAST, order_ref, day
             LIMIT %(limit)s
            """,
            {"dead": DEAD_PAYMENT_STATES, "settled": SETTLED_INVOICE_STATES, "limit": limit},
        )
        return self.env.cr.fetchall()

    @api.model
    def _book_waiting_charges(self, limit=BOOK_BATCH, notify=True):
        """Book each unit of charges (an order's, an order's cancelled before a sales order, a
        channel's day of no order) on its own transaction; returns the entries made and how
        many units were left for the next run."""
        units = self._due_charge_units(limit)
        left = units[0][4] - len(units) if units else 0
        commit = self._commit_allowed()
        moves = self.env["account.move"]
        # A channel's error about charges of no order is cleared only once none of them failed.
        channels_ok, channels_failed = set(), set()
        for done, (channel_id, so_id, order_ref, day, _total) in enumerate(units):
            fees = self._claim_fresh(self._lock_charge_unit, channel_id, so_id, order_ref, day)
            if fees:
                record, on_error = self._unit_error_target(fees, order_ref, day)
                ok, move = self._run_isolated(record, "booking marketplace charges", fees._book_as_charges,
                                              on_error=on_error)
                if ok:
                    moves |= move
                if not so_id:
                    (channels_ok if ok else channels_failed).add(channel_id)
            if notify:
                self._notify_job_progress(done + 1, len(units) - done - 1 + left)
            if commit and fees:
                # These charges are booked (or their error kept) and their locks released.
                self.env.cr.commit()  # pylint: disable=invalid-commit
        cleared = self.env["sale.channel"].browse(sorted(channels_ok - channels_failed))
        cleared.filtered("charges_last_error").sudo().charges_last_error = False
        return moves, left

    @api.model
    def _lock_charge_unit(self, channel_id, so_id, order_ref, day):
        """The unit's waiting charges, locked (those whose entry is gone wait again); those
        another runner holds are left to it."""
        if so_id:
            self.env.cr.execute(
                f"""SELECT f.id FROM sale_channel_fee f WHERE f.sale_order_id = %s AND {FEE_WAITING_SQL}
                      AND f.charge_amount != 0
                    ORDER BY f.id FOR UPDATE OF f SKIP LOCKED""", (so_id,))
        elif order_ref:
            self.env.cr.execute(
                f"""SELECT f.id FROM sale_channel_fee f
                    WHERE f.channel_id = %s AND f.sale_order_id IS NULL AND f.order_ref = %s
                      AND {FEE_WAITING_SQL} AND f.charge_amount != 0
                    ORDER BY f.id FOR UPDATE OF f SKIP LOCKED""", (channel_id, order_ref))
        else:
            start = fields.Datetime.to_datetime(day)
            self.env.cr.execute(
                f"""SELECT f.id FROM sale_channel_fee f
                    WHERE f.channel_id = %s AND f.sale_order_id IS NULL AND COALESCE(f.order_ref, '') = ''
                      AND {FEE_WAITING_SQL} AND f.charge_amount != 0 AND f.date >= %s AND f.date < %s
                    ORDER BY f.id FOR UPDATE OF f SKIP LOCKED""", (channel_id, start, start + timedelta(days=1)))
        return self.browse([row[0] for row in self.env.cr.fetchall()])._wait_again()

    def _unit_error_target(self, fees, order_ref="", day=None):
        """Where a unit's error shows: on its sales order, else on its channel (naming the
        order or the day, so that one unit's success does not hide another's failure)."""
        so = fees.sale_order_id[:1]
        if so:
            return so, so._record_marketplace_payment_error
        channel = fees.channel_id[:1]
        what = order_ref or (fields.Date.to_string(day) if day else "")

        def on_error(error):
            channel._record_charges_error(f"{what}: {error}" if what else error)
        return channel, on_error

    def _book_as_charges(self):
        """Book these fees (one channel) as charges: one entry per order, one per day for fees
        of no order. Returns the entries."""
        moves = self.env["account.move"]
        groups = defaultdict(lambda: self.browse())
        for fee in self.filtered(lambda f: not f.currency_id.is_zero(f.charge_amount)):
            # An order's fees (in Odoo or not yet) together; those of no order by day.
            order_ref = "" if fee.sale_order_id else (fee.order_ref or "")
            day = False if fee.sale_order_id or order_ref else fee.date.date()
            groups[fee.channel_id, fee.sale_order_id, order_ref, day, fee.currency_id] |= fee
        for (channel, so, order_ref, day, _currency), fees in groups.items():
            moves |= fees._book_group(channel, so, day, order_ref)
        return moves

    def _book_group(self, channel, so, day, order_ref=""):
        """One entry for these fees of one order (or one channel's day): each fee's charge on
        the commission account, against the account the marketplace's money sits on."""
        if not (channel.marketplace_journal_id and channel.commission_account_id):
            raise UserError(self.env._(
                "Channel %s has no marketplace journal or commission account: set them (Set Up Marketplace "
                "Accounting) to book its charges.", channel.name))
        journal = channel.marketplace_journal_id
        company = journal.company_id
        holding = channel._marketplace_holding_account()
        date = day or fields.Date.context_today(self)
        ref = self._charges_ref(channel, so, day, order_ref)
        lines = []
        for fee in self:
            lines.append(self._charge_line_vals(fee, channel.commission_account_id, -fee.charge_amount,
                                                fee.name or fee.operation_type or fee.ref, company, date))
        currency = self[:1].currency_id
        total = currency.round(sum(self.mapped("charge_amount")))
        counterpart = self._charge_line_vals(self[:1], holding, total, ref, company, date)
        # The sum of the lines, each converted and rounded on its own, not the total converted
        # once: the entry balances in the company's currency to the cent.
        counterpart["balance"] = -company.currency_id.round(sum(line["balance"] for line in lines))
        lines.append(counterpart)
        move = self.env["account.move"].create({
            "move_type": "entry",
            "journal_id": journal.id,
            "company_id": company.id,
            "date": date,
            "ref": ref,
            "line_ids": [(0, 0, vals) for vals in lines],
        })
        move.action_post()
        self.write({"state": "booked", "move_id": move.id})
        so.invalidate_recordset(["marketplace_charge_move_ids", "marketplace_charge_move_count"])
        if so:
            so._clear_marketplace_payment_error()
            so.message_post(body=self.env._("Marketplace charges of %(amount)s booked in %(move)s.",
                                            amount=-total, move=move.name))
        return move

    @api.model
    def _charge_line_vals(self, fee, account, amount, name, company, date):
        currency = fee.currency_id
        balance = currency._convert(amount, company.currency_id, company, date)
        return {
            "name": name,
            "account_id": account.id,
            "currency_id": currency.id,
            "amount_currency": amount,
            "balance": balance,
        }

    @api.model
    def _charges_ref(self, channel, so, day, order_ref=""):
        if so:
            return self.env._("%s: charges", self._marketplace_label(channel, so))
        if order_ref:
            return self.env._("%(marketplace)s %(order)s (no sales order): charges",
                              marketplace=self._marketplace_label(channel), order=order_ref)
        return self.env._("%(marketplace)s: charges of %(day)s", marketplace=self._marketplace_label(channel),
                          day=fields.Date.to_string(day))

    # ------------------------------------------------------------------
    # (c) Book as Charges, a manager's action
    # ------------------------------------------------------------------

    def _check_booking_access(self):
        """Managers of the Sales Inbox or accounting managers only, on fees they may read."""
        if self.env.su:
            return
        user = self.env.user
        if not (user.has_group(MANAGER) or user.has_group(ACCOUNT_MANAGER)):
            raise AccessError(self.env._("Only a Sales Inbox manager or an accounting manager books marketplace "
                                         "charges."))
        self.check_access("read")

    def action_book_as_charges(self):
        """Book the selected fees (waiting, or of an order not in Odoo) as charges now."""
        self._check_booking_access()
        fees = self.sudo().filtered(lambda f: f.state in ("waiting", "unmatched"))
        if not fees:
            raise UserError(self.env._("Only fees waiting for a payment, or of an order not in Odoo, are booked "
                                       "as charges."))
        try:
            with self.env.cr.savepoint(flush=False):
                self.env.cr.execute("SELECT id FROM sale_channel_fee WHERE id IN %s FOR UPDATE NOWAIT",
                                    (tuple(fees.ids),))
        except pg_errors.LockNotAvailable:
            raise UserError(self.env._("Some of these fees are being booked right now: try again in a moment.")) \
                from None
        fees.invalidate_recordset(["state"])
        fees = fees.filtered(lambda f: f.state in ("waiting", "unmatched"))
        moves = self.env["account.move"]
        for channel_fees in fees.grouped("channel_id").values():
            moves |= channel_fees._book_as_charges()
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "success",
                "message": self.env._("%(count)s charges booked in %(moves)s entries.", count=len(fees),
                                      moves=len(moves)),
                "next": {"type": "ir.actions.act_window_close"},
            },
        }


class SaleOrder(models.Model):
    _inherit = "sale.order"

    marketplace_payment_error = fields.Text(
        readonly=True, copy=False,
        help="Why the payment after delivery (or the booking of the marketplace's charges) of this order "
        "failed. It is tried again at every run of the job.")
    marketplace_charge_move_ids = fields.Many2many(
        "account.move", compute="_compute_marketplace_charge_moves", string="Marketplace Charges Entries",
        compute_sudo=True)
    marketplace_charge_move_count = fields.Integer(compute="_compute_marketplace_charge_moves",
                                                   compute_sudo=True)

    def _compute_marketplace_charge_moves(self):
        fees = self.env["sale.channel.fee"].search([("sale_order_id", "in", self.ids), ("state", "=", "booked")])
        by_order = defaultdict(lambda: self.env["account.move"])
        for fee in fees:
            by_order[fee.sale_order_id.id] |= fee.move_id
        for order in self:
            order.marketplace_charge_move_ids = by_order[order.id]
            order.marketplace_charge_move_count = len(by_order[order.id])

    def action_view_marketplace_charges(self):
        self.ensure_one()
        self.check_access("read")
        moves = self.marketplace_charge_move_ids
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Marketplace Charges"),
            "res_model": "account.move",
            "view_mode": "list,form",
            "domain": [("id", "in", moves.ids)],
        }

    def _record_marketplace_payment_error(self, error):
        """Keep the error on the order (a filter finds them) and say it once in the chatter:
        the same error again at the next run is not said again."""
        error = clean_text(error)
        for order in self.sudo():
            if order.marketplace_payment_error == error:
                continue
            order.marketplace_payment_error = error
            order.message_post(body=self.env._("Marketplace payment or charges failed: %s", error))

    def _clear_marketplace_payment_error(self):
        self.sudo().filtered("marketplace_payment_error").marketplace_payment_error = False
