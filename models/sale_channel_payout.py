"""The marketplace's settlement periods (``money.PayoutPeriod``), compared with what Odoo
booked for them, the difference explained line by line.

Reading: a daily job (and a manager's button) reads each channel's periods from the start of
the last one read (an open period keeps changing until it ends, so it is read again), stores
them by (channel, period id) in one statement, and reconciles them.

Reconciling a period (``_reconcile``) links the channel's fees dated within it, then rebuilds
its lines from them, each kind of line in one query whatever the number of orders:

* one line per order with operations in the period: what the marketplace counted for it (sale
  credited, returns, charges) against what Odoo booked (the posted invoice for a sale counted
  in the period, the posted refunds for a return, the charges deducted from its payment or
  booked), the difference and its causes in words;
* one line per operation type of no order (storage, promotion…): counted against booked;
* one line per category of the statement (orders, returns, commissions, logistics, services)
  whose amount differs from the sum of the period's operations of that category: what the
  statement counts that no operation shows ("unexplained").

So the sums add up: statement total − booked in Odoo = explained difference (the order and
charge lines' differences) + unexplained difference (the unexplained lines).
"""
from datetime import datetime, time, timedelta

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import float_is_zero

from .. import platforms
from ..platforms.http import ApiAuthError
from .sale_channel import MANAGER, check_group_access

ACCOUNT_MANAGER = "account.group_account_manager"
#: Fee states whose charges are in the books (see ``sale.channel.fee``), while their entry
#: (``move_id``) is posted: a cancelled payment or a deleted entry books nothing.
BOOKED_STATES = ("in_payment", "booked")
#: The first key of the payout read's advisory lock on a channel (the second: the channel's
#: id); the fee read has its own, so neither job is mistaken for the other.
READ_LOCK_KEY = 1350102
#: The last periods read again at each read: a closed period still changes after it ends
#: (late operations, the amount paid out).
PERIODS_READ_AGAIN = 3
#: The statement's categories: (period field, line category).
CATEGORIES = (
    ("orders_amount", "orders"),
    ("returns_amount", "returns"),
    ("commission_amount", "commission"),
    ("delivery_amount", "delivery"),
    ("services_amount", "services"),
)


def _placeholders(rows):
    """``(%s, …), (%s, …)``: one tuple of placeholders per row (a multi-row VALUES)."""
    row = "(" + ", ".join(["%s"] * len(rows[0])) + ")"
    return ", ".join([row] * len(rows))


class SaleChannelPayout(models.Model):
    _name = "sale.channel.payout"
    _inherit = ["sale.inbox.job", "mail.thread"]
    _description = "Marketplace Payout Period"
    _order = "date_from desc, id desc"

    name = fields.Char(required=True, readonly=True)
    channel_id = fields.Many2one("sale.channel", required=True, readonly=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="channel_id.company_id", store=True, index=True)
    currency_id = fields.Many2one("res.currency", required=True, readonly=True)
    ref = fields.Char(string="Period ID", required=True, readonly=True)
    date_from = fields.Date(required=True, readonly=True)
    date_to = fields.Date(required=True, readonly=True)
    orders_amount = fields.Monetary(string="Orders", readonly=True)
    returns_amount = fields.Monetary(string="Returns", readonly=True)
    commission_amount = fields.Monetary(string="Commissions", readonly=True)
    delivery_amount = fields.Monetary(string="Logistics", readonly=True)
    services_amount = fields.Monetary(string="Services", readonly=True)
    total_amount = fields.Monetary(string="Statement Total", readonly=True)
    payout_amount = fields.Monetary(string="Paid Out", readonly=True)
    line_ids = fields.One2many("sale.channel.payout.line", "payout_id", string="Reconciliation", readonly=True)
    fee_ids = fields.One2many("sale.channel.fee", "payout_id", string="Operations", readonly=True)
    booked_amount = fields.Monetary(
        string="Booked in Odoo", readonly=True,
        help="What Odoo booked for the period's operations: the posted invoices of the orders sold in it, "
        "the posted refunds of those returned in it, and the charges deducted from payments or booked.")
    explained_difference = fields.Monetary(
        readonly=True, help="The sum of the lines' differences: orders and charges whose cause is named.")
    unexplained_difference = fields.Monetary(
        readonly=True, help="What the marketplace's statement counts that none of its operations in the "
        "period shows.")
    state = fields.Selection([
        ("matched", "Matched"),
        ("explained", "Explained"),
        ("unexplained", "Unexplained"),
    ], string="Status", readonly=True, index=True,
        help="Matched: Odoo booked what the statement counts. Explained: every difference is an order "
        "or a charge whose cause is named. Unexplained: the statement counts money no operation shows.")
    reconciled_at = fields.Datetime(string="Reconciled", readonly=True)

    _sql_constraints = [
        ("ref_unique", "unique(channel_id, ref)", "A settlement period is kept once per channel."),
    ]

    # ------------------------------------------------------------------
    # Reading the periods
    # ------------------------------------------------------------------

    @api.model
    def _cron_read_payouts(self):
        """Read every channel's settlement periods, one channel after the other, each on its
        own: whatever goes wrong in one is shown on it, and the next channel is read."""
        # A period is compared with the channel's fees: without them it would be all difference.
        channels = self.env["sale.channel"].search([
            ("state", "=", "connected"), ("read_fees", "=", True),
            ("platform", "in", platforms.supporting("can_read_payouts"))])
        commit = self._commit_allowed()
        for done, channel in enumerate(channels):
            self._read_channel_isolated(channel)
            self._notify_job_progress(done + 1, len(channels) - done - 1)
            if commit:
                # The channel's periods, their reconciliation and its error (if any) are kept
                # whatever the next channel does, and its lock is released.
                self.env.cr.commit()  # pylint: disable=invalid-commit

    @api.model
    def _read_channel_isolated(self, channel):
        """(ok, periods or error text): one channel's read, on its own; (True, None) when
        another worker is reading the channel right now (it does the same work).

        The channel is claimed first, outside the unit's savepoint (an advisory lock held to
        the end of the transaction: a savepoint's rollback would release it)."""
        if not self._claim_fresh(self._lock_channel, channel):
            return True, None
        return self._run_isolated(channel, "payout read", self._read_channel, channel,
                                  on_error=channel._payouts_failed)

    @api.model
    def _read_channel(self, channel):
        """Read and reconcile one channel's periods (locked by the caller); returns them."""
        today = fields.Date.context_today(channel)
        client = channel._api_client()
        try:
            read = client.payouts(self._read_start(channel), today)
        except ApiAuthError as exc:
            raise UserError(self.env._(
                "%(store)s refused the credentials while reading the settlement periods (%(error)s). Check the "
                "Client ID and the API key on the channel's General tab, and that the key may read the finance "
                "data (Ozon: a key with the Finance role or Admin).",
                store=channel._platform().label, error=exc)) from exc
        self._check_currency(channel, read)
        periods = self._store_periods(channel, read)
        periods._reconcile()
        # Periods not read again whose fees changed since (charges booked, late operations).
        self._reconcile_touched(channel)
        channel.sudo().write({"payouts_read_until": today, "payouts_last_error": False})
        return periods

    @api.model
    def _check_currency(self, channel, periods):
        """Refuse statements in another currency than the channel's fees: their figures
        compared with the fees' would be wrong by the exchange rate, in silence."""
        currency = channel._fee_currency()
        others = sorted({period.currency for period in periods if period.currency} - {currency.name})
        if others:
            raise UserError(self.env._(
                "The marketplace's statements are in %(statement)s, the channel's fees and invoices in "
                "%(channel)s: Odoo cannot compare them. Give the channel a pricelist in %(statement)s.",
                statement=", ".join(others), channel=currency.name))

    @api.model
    def _lock_channel(self, channel):
        """The channel, claimed for its payout read; empty when another worker reads its
        payouts now. An advisory lock of this job, not the channel's row: it blocks no writer
        of the channel, and the fee read (its own key) is not taken for this one."""
        self.env.cr.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", (READ_LOCK_KEY, channel.id))
        return channel if self.env.cr.fetchone()[0] else channel.browse()

    @api.model
    def _read_start(self, channel):
        """The start of the third last period read (the last one may have been open then, and
        closed ones still change: late operations, the amount paid out), else the first day
        fees are read from, else the first day of the previous month."""
        self.flush_model(["channel_id", "date_from"])
        self.env.cr.execute(
            """
            SELECT min(date_from) FROM (
                SELECT date_from FROM sale_channel_payout WHERE channel_id = %s ORDER BY date_from DESC LIMIT %s
            ) AS last
            """,
            (channel.id, PERIODS_READ_AGAIN),
        )
        last = self.env.cr.fetchone()[0]
        if last:
            return last
        if channel.fees_from:
            return channel.fees_from
        first_of_month = fields.Date.context_today(channel).replace(day=1)
        return (first_of_month - timedelta(days=1)).replace(day=1)

    @api.model
    def _store_periods(self, channel, periods):
        """Insert or update the periods by (channel, period id), in one statement."""
        unique = {period.ref: period for period in periods}
        if not unique:
            return self.browse()
        currency = channel._fee_currency()
        now = fields.Datetime.now()
        rows = []
        for period in unique.values():
            name = f"{channel.name}: {period.date_from:%Y-%m-%d} – {period.date_to:%Y-%m-%d}"
            rows.append((
                channel.id, channel.company_id.id, currency.id, name, period.ref, period.date_from, period.date_to,
                period.orders_amount, period.returns_amount, period.commission_amount, period.delivery_amount,
                period.services_amount, period.total, period.payout_amount,
                self.env.uid, now, self.env.uid, now))
        values = _placeholders(rows)
        self.env.cr.execute(
            f"""
            INSERT INTO sale_channel_payout AS p (
                channel_id, company_id, currency_id, name, ref, date_from, date_to, orders_amount,
                returns_amount, commission_amount, delivery_amount, services_amount, total_amount,
                payout_amount, create_uid, create_date, write_uid, write_date)
            VALUES {values}
            ON CONFLICT (channel_id, ref) DO UPDATE
               SET name = EXCLUDED.name, date_from = EXCLUDED.date_from, date_to = EXCLUDED.date_to,
                   orders_amount = EXCLUDED.orders_amount, returns_amount = EXCLUDED.returns_amount,
                   commission_amount = EXCLUDED.commission_amount, delivery_amount = EXCLUDED.delivery_amount,
                   services_amount = EXCLUDED.services_amount, total_amount = EXCLUDED.total_amount,
                   payout_amount = COALESCE(EXCLUDED.payout_amount, p.payout_amount),
                   write_uid = EXCLUDED.write_uid, write_date = EXCLUDED.write_date
            RETURNING id
            """,  # noqa: S608 -- placeholders only
            [value for row in rows for value in row],
        )
        ids = [row[0] for row in self.env.cr.fetchall()]
        self.invalidate_model()
        return self.browse(ids)

    # ------------------------------------------------------------------
    # Reconciling a period
    # ------------------------------------------------------------------

    @api.model
    def _reconcile_touched(self, channels=None):
        """Reconcile again, each on its own, the periods (of ``channels``, or all) whose
        operations changed since they were reconciled: a fee written since (booked, deducted,
        matched to its order), an entry of a fee changed since (a payment cancelled), or a fee
        dated in the period not linked to it yet (read late). Found in one query; returns them."""
        self.env.flush_all()
        where_channel = "AND p.channel_id IN %(channels)s" if channels is not None else ""
        if channels is not None and not channels:
            return self.browse()
        self.env.cr.execute(
            f"""
            SELECT DISTINCT p.id
              FROM sale_channel_payout p
              JOIN sale_channel_fee f ON f.channel_id = p.channel_id
                   AND f.date >= p.date_from AND f.date < p.date_to + 1
              LEFT JOIN account_move m ON m.id = f.move_id
             WHERE (p.reconciled_at IS NULL OR f.payout_id IS DISTINCT FROM p.id
                    OR f.write_date > p.reconciled_at OR m.write_date > p.reconciled_at)
                   {where_channel}
             ORDER BY p.id
            """,  # noqa: S608 -- a constant condition, values placeholders
            {"channels": tuple(channels.ids) if channels is not None else ()},
        )
        periods = self.browse([row[0] for row in self.env.cr.fetchall()])
        for period in periods:
            self._run_isolated(period, "payout reconciliation", period._reconcile,
                               on_error=period.channel_id._payouts_failed)
        return periods

    def action_reconcile(self):
        """Reconcile Again: after the fees were read or booked since (managers of the Sales
        Inbox, or accounting managers, on the periods they see)."""
        self._check_reconciler()
        self.sudo()._reconcile()
        return True

    def _check_reconciler(self):
        if self.env.su:
            return
        if not (self.env.user.has_group(MANAGER) or self.env.user.has_group(ACCOUNT_MANAGER)):
            raise AccessError(self.env._("Only Sales Inbox managers and accounting managers may reconcile "
                                         "marketplace payouts."))
        self.check_access("read")

    def _reconcile(self):
        if not self:
            return
        # The period's lines are deleted and written again: a button pressed while the job
        # reconciles the same period waits for it (and never doubles its lines).
        self.env.cr.execute("SELECT id FROM sale_channel_payout WHERE id IN %s ORDER BY id FOR NO KEY UPDATE",
                            (tuple(self.ids),))
        for period in self:
            period._link_fees()
            period._rebuild_lines()

    def _bounds(self):
        """The period's first and last moment as fees are dated (naive UTC)."""
        return datetime.combine(self.date_from, time.min), datetime.combine(self.date_to + timedelta(days=1), time.min)

    def _link_fees(self):
        self.ensure_one()
        start, end = self._bounds()
        self.env["sale.channel.fee"].flush_model()
        self.env.cr.execute(
            """
            UPDATE sale_channel_fee SET payout_id = %s
             WHERE channel_id = %s AND date >= %s AND date < %s AND payout_id IS DISTINCT FROM %s
            """,
            (self.id, self.channel_id.id, start, end, self.id),
        )
        self.env["sale.channel.fee"].invalidate_model(["payout_id"])

    def _rebuild_lines(self):
        self.ensure_one()
        self.env.flush_all()
        self.env.cr.execute("DELETE FROM sale_channel_payout_line WHERE payout_id = %s", (self.id,))
        lines = self._order_lines() + self._charge_lines() + self._unexplained_lines()
        self._insert_lines(lines)
        rounding = self.currency_id.rounding
        explained = sum(line["difference"] for line in lines if line["kind"] != "unexplained")
        unexplained = sum(line["difference"] for line in lines if line["kind"] == "unexplained")
        if not float_is_zero(unexplained, precision_rounding=rounding):
            state = "unexplained"
        elif any(not float_is_zero(line["difference"], precision_rounding=rounding) for line in lines):
            state = "explained"
        else:
            state = "matched"
        self.invalidate_recordset(["line_ids"])
        self.write({
            "booked_amount": sum(line["odoo_amount"] for line in lines),
            "explained_difference": explained,
            "unexplained_difference": unexplained,
            "state": state,
            # The transaction's time, as the fees' write_date: a fee written after this
            # reconciliation (by a later transaction) makes the period touched again.
            "reconciled_at": self.env.cr.now(),
        })

    def _insert_lines(self, lines):
        if not lines:
            return
        now = fields.Datetime.now()
        keys = ("kind", "sale_order_id", "order_ref", "operation_type", "name", "category", "store_amount",
                "odoo_amount", "difference", "explanation")
        rows = [(self.id, self.company_id.id, sequence, *(line.get(key) for key in keys),
                 self.env.uid, now, self.env.uid, now) for sequence, line in enumerate(lines)]
        values = _placeholders(rows)
        self.env.cr.execute(
            f"""
            INSERT INTO sale_channel_payout_line (
                payout_id, company_id, sequence, {", ".join(keys)}, create_uid, create_date, write_uid, write_date)
            VALUES {values}
            """,  # noqa: S608 -- column names are constants, values placeholders
            [value for row in rows for value in row],
        )
        self.env["sale.channel.payout.line"].invalidate_model()

    def _round(self, amount):
        return self.currency_id.round(float(amount or 0))

    def _money(self, amount):
        return f"{self._round(amount):.2f} {self.currency_id.name}"

    def _order_lines(self):
        """One line per order with operations in the period (an order split into several
        postings is one order), in one query.

        A fee's charges count as booked while its entry is posted (a cancelled payment or a
        deleted entry books nothing: they wait again). An order sold in several periods counts
        in each the share of its invoices that the period's sales are of all its sales. An
        operation of no sales order is described by its inbox order, if any."""
        self.env.cr.execute(
            """
            WITH fees AS (
                SELECT f.*, (f.state IN %(booked)s AND m.state = 'posted') AS is_booked,
                       (f.state = 'waiting' OR (f.state IN %(booked)s AND m.state IS DISTINCT FROM 'posted'))
                           AS is_waiting
                  FROM sale_channel_fee f
                  LEFT JOIN account_move m ON m.id = f.move_id
                 WHERE f.payout_id = %(payout)s AND COALESCE(f.order_ref, '') != ''
            ), ops AS (
                SELECT COALESCE(f.sale_order_id::text, f.order_ref) AS key,
                       max(f.sale_order_id) AS sale_order_id,
                       string_agg(DISTINCT f.order_ref, ', ') AS order_ref,
                       min(f.order_ref) AS first_ref,
                       sum(f.amount) AS store_amount,
                       sum(GREATEST(f.sale_amount, 0)) AS store_sales,
                       sum(LEAST(f.sale_amount, 0)) AS store_returns,
                       bool_or(f.kind = 'sale' OR f.sale_amount > 0) AS has_sale,
                       bool_or(f.kind = 'return' OR f.sale_amount < 0) AS has_return,
                       sum(f.charge_amount) FILTER (WHERE f.is_booked) AS booked_charges,
                       sum(f.charge_amount) FILTER (WHERE f.is_waiting) AS waiting_charges,
                       sum(f.charge_amount) FILTER (WHERE NOT f.is_booked AND NOT f.is_waiting) AS other_charges
                  FROM fees f
                 GROUP BY 1
            ), all_sales AS (
                SELECT f.sale_order_id, sum(GREATEST(f.sale_amount, 0)) AS sales
                  FROM sale_channel_fee f
                 WHERE f.sale_order_id IN (SELECT sale_order_id FROM ops WHERE sale_order_id IS NOT NULL)
                 GROUP BY f.sale_order_id
            ), moves AS (
                SELECT DISTINCT sol.order_id, m.id, m.move_type, m.amount_total_in_currency_signed AS amount
                  FROM ops
                  JOIN sale_order_line sol ON sol.order_id = ops.sale_order_id
                  JOIN sale_order_line_invoice_rel rel ON rel.order_line_id = sol.id
                  JOIN account_move_line aml ON aml.id = rel.invoice_line_id
                  JOIN account_move m ON m.id = aml.move_id
                 WHERE m.state = 'posted' AND m.move_type IN ('out_invoice', 'out_refund')
            ), invoiced AS (
                SELECT order_id,
                       sum(amount) FILTER (WHERE move_type = 'out_invoice') AS invoiced,
                       count(*) FILTER (WHERE move_type = 'out_invoice') AS invoice_count,
                       sum(amount) FILTER (WHERE move_type = 'out_refund') AS refunded,
                       count(*) FILTER (WHERE move_type = 'out_refund') AS refund_count
                  FROM moves GROUP BY order_id
            )
            SELECT ops.sale_order_id, ops.order_ref, ops.store_amount, ops.store_sales, ops.store_returns,
                   ops.has_sale, ops.has_return, COALESCE(ops.booked_charges, 0), COALESCE(ops.waiting_charges, 0),
                   COALESCE(ops.other_charges, 0), COALESCE(i.invoiced, 0), COALESCE(i.invoice_count, 0),
                   COALESCE(i.refunded, 0), COALESCE(i.refund_count, 0), COALESCE(s.sales, 0),
                   inbox.state
              FROM ops
              LEFT JOIN invoiced i ON i.order_id = ops.sale_order_id
              LEFT JOIN all_sales s ON s.sale_order_id = ops.sale_order_id
              LEFT JOIN LATERAL (
                    SELECT io.state FROM sale_inbox_order io
                     WHERE ops.sale_order_id IS NULL AND io.channel_id = %(channel)s
                       AND io.external_id = ops.first_ref
                     ORDER BY io.id DESC LIMIT 1
              ) inbox ON TRUE
             ORDER BY ops.order_ref
            """,
            {"payout": self.id, "booked": BOOKED_STATES, "channel": self.channel_id.id},
        )
        rows = self.env.cr.fetchall()
        # The orders' names, read at once (one query for all of them).
        orders = self.env["sale.order"].sudo().browse([row[0] for row in rows if row[0]])
        names = dict(zip(orders.ids, orders.mapped("name"), strict=True))
        return [self._order_line(row, names) for row in rows]

    def _order_line(self, row, names):
        (order_id, order_ref, store, sales, returns, has_sale, has_return, booked_charges, waiting, other,
         invoiced, invoice_count, refunded, refund_count, all_sales, inbox_state) = row
        store, sales, returns, booked_charges, waiting, other, invoiced, refunded, all_sales = (
            float(amount or 0) for amount in (store, sales, returns, booked_charges, waiting, other, invoiced,
                                              refunded, all_sales))
        _ = self.env._
        share = 1.0
        if order_id and has_sale and self._round(all_sales - sales) and all_sales:
            # Sold in several periods: this period's share of the order's invoices.
            share = sales / all_sales
        booked_sales = invoiced * share if order_id and has_sale else 0
        booked_returns = refunded if order_id and has_return else 0
        odoo = self._round(booked_sales + booked_returns + booked_charges)
        store = self._round(store)
        causes = []
        if not order_id:
            causes += self._no_order_causes(inbox_state, store, booked_charges, waiting)
        else:
            if share != 1.0:
                # Formatted beforehand: an f-string among _()'s arguments stops the translation
                # export from reading this file.
                share_text = f"{share:.0%}"
                causes.append(_("Sold in several periods: %(share)s of its invoices (%(invoiced)s) counted here, "
                                "the share of its sales in this period.",
                                share=share_text, invoiced=self._money(invoiced)))
            causes += self._sale_causes(has_sale, sales, booked_sales, invoice_count)
            causes += self._return_causes(has_return, returns, refunded, refund_count)
            if self._round(waiting):
                causes.append(_("Charges waiting for the order's payment after delivery: %s.", self._money(waiting)))
            if self._round(other):
                causes.append(_("Charges not booked in Odoo: %s.", self._money(other)))
        name = f"{names[order_id]} ({order_ref})" if order_id else order_ref
        return {"kind": "order", "sale_order_id": order_id, "order_ref": order_ref, "name": name,
                "store_amount": store, "odoo_amount": odoo, "difference": self._round(store - odoo),
                "explanation": " ".join(causes)}

    def _no_order_causes(self, inbox_state, store, booked, waiting):
        """Why an operation has no sales order: the inbox order it names (cancelled in the
        store before a sales order was made, or not processed yet), or none at all."""
        _ = self.env._
        if inbox_state == "cancelled":
            causes = [_("Cancelled in the store before a sales order was made: the marketplace still counted "
                        "%s for it. Its charges are booked as charges of a cancelled order.", self._money(store))]
            if self._round(waiting):
                causes.append(_("Waiting to be booked: %s.", self._money(waiting)))
            elif self._round(booked):
                causes.append(_("Booked: %s.", self._money(booked)))
            return causes
        if inbox_state:
            return [_("In the Sales Inbox but no sales order yet: the marketplace counted %s for it. Process "
                      "the order in the Sales Inbox (or retry it); its sale and charges are compared once it "
                      "is a sales order.", self._money(store))]
        return [_("Not in Odoo: the marketplace counted %s for an order the Sales Inbox never received. Bring it "
                  "in with Import Orders on the channel (over the days since it was placed); do not make a sales "
                  "order by hand unless the sale happened. Charges of an order that never comes in can be "
                  "booked with Book as Charges in Marketplace Fees.", self._money(store))]

    def _sale_causes(self, has_sale, sales, invoiced, invoice_count):
        _ = self.env._
        if not has_sale or not self._round(sales - invoiced):
            return []
        if not invoice_count:
            return [_("No invoice in Odoo: the marketplace credited %s.", self._money(sales))]
        return [_("The invoice (%(invoice)s) differs from the marketplace's price (%(price)s).",
                  invoice=self._money(invoiced), price=self._money(sales))]

    def _return_causes(self, has_return, returns, refunded, refund_count):
        _ = self.env._
        if not has_return or not self._round(returns - refunded):
            return []
        if not refund_count:
            return [_("Return not booked in Odoo (the refund comes later): %s.", self._money(returns))]
        return [_("The refund (%(refund)s) differs from the marketplace's return (%(store)s).",
                  refund=self._money(refunded), store=self._money(returns))]

    def _charge_lines(self):
        """One line per operation type of no order (storage, promotion…), in one query."""
        self.env.cr.execute(
            """
            SELECT f.operation_type, max(f.name), sum(f.amount),
                   COALESCE(sum(f.charge_amount) FILTER (WHERE f.state IN %(booked)s AND m.state = 'posted'), 0),
                   COALESCE(sum(f.amount) FILTER (WHERE f.state = 'waiting' OR (
                       f.state IN %(booked)s AND m.state IS DISTINCT FROM 'posted')), 0)
              FROM sale_channel_fee f
              LEFT JOIN account_move m ON m.id = f.move_id
             WHERE f.payout_id = %(payout)s AND COALESCE(f.order_ref, '') = ''
             GROUP BY f.operation_type
             ORDER BY f.operation_type
            """,
            {"payout": self.id, "booked": BOOKED_STATES},
        )
        _ = self.env._
        lines = []
        for operation_type, name, store, booked, waiting in self.env.cr.fetchall():
            store, booked = self._round(store), self._round(booked)
            difference = self._round(store - booked)
            causes = []
            if self._round(waiting):
                causes.append(_("Waiting to be booked as a charge: %s.", self._money(waiting)))
            if self._round(difference - waiting):
                causes.append(_("Not booked in Odoo: %s.", self._money(difference - waiting)))
            lines.append({"kind": "charge", "operation_type": operation_type, "name": name or operation_type,
                          "store_amount": store, "odoo_amount": booked, "difference": difference,
                          "explanation": " ".join(causes)})
        return lines

    def _unexplained_lines(self):
        """One line per category whose statement amount differs from the sum of the period's
        operations of that category (one query for all categories)."""
        self.env.cr.execute(
            """
            SELECT COALESCE(sum(GREATEST(sale_amount, 0)), 0), COALESCE(sum(LEAST(sale_amount, 0)), 0),
                   COALESCE(sum(commission_amount), 0), COALESCE(sum(delivery_amount), 0),
                   COALESCE(sum(services_amount), 0)
              FROM sale_channel_fee WHERE payout_id = %s
            """,
            (self.id,),
        )
        operations = self.env.cr.fetchone()
        labels = dict(self.env["sale.channel.payout.line"]._fields["category"]._description_selection(self.env))
        lines = []
        for (field, category), counted in zip(CATEGORIES, operations, strict=True):
            difference = self._round(self[field] - float(counted))
            if not difference:
                continue
            lines.append({
                "kind": "unexplained", "category": category, "name": labels[category],
                "store_amount": difference, "odoo_amount": 0.0, "difference": difference,
                "explanation": self.env._(
                    "The statement counts %(statement)s for %(category)s, its operations in the period "
                    "%(operations)s: %(difference)s that no operation shows.",
                    statement=self._money(self[field]), category=labels[category].lower(),
                    operations=self._money(counted), difference=self._money(difference))})
        return lines

    # ------------------------------------------------------------------
    # Screens
    # ------------------------------------------------------------------

    def action_view_fees(self):
        self._check_reader()
        self.ensure_one()
        return {
            "type": "ir.actions.act_window", "name": self.env._("Operations of %s", self.name),
            "res_model": "sale.channel.fee", "view_mode": "list,form", "domain": [("payout_id", "=", self.id)],
        }

    def _check_reader(self):
        if not self.env.su and not (self.env.user.has_group(MANAGER)
                                    or self.env.user.has_group("account.group_account_readonly")):
            raise AccessError(self.env._("Only Sales Inbox managers and accountants may see marketplace payouts."))
        self.check_access("read")


class SaleChannel(models.Model):
    _inherit = "sale.channel"

    payout_count = fields.Integer(compute="_compute_payout_count", string="Payouts",
                                  groups="sale_inbox.group_sale_inbox_manager,account.group_account_readonly")

    def _compute_payout_count(self):
        counts = dict(self.env["sale.channel.payout"]._read_group(
            [("channel_id", "in", self.ids)], ["channel_id"], ["__count"]))
        for channel in self:
            channel.payout_count = counts.get(channel, 0)

    def _fee_currency(self):
        """The currency of the channel's fees and periods: its pricelist's, else its company's."""
        self.ensure_one()
        return self.pricelist_id.currency_id or self.company_id.currency_id

    def _payouts_failed(self, error):
        """A failed read of the periods: shown on the channel's Marketplace Money page, read
        again at the next run."""
        self.sudo().write({"payouts_last_error": error})

    def action_read_payouts(self):
        """Read Payouts Now: the channel's settlement periods, reconciled as they come."""
        self._check_manager()
        self.ensure_one()
        if not self.support_read_payouts:
            raise UserError(self.env._("%s has no settlement periods Odoo can read.", self._platform().label))
        if not self.read_fees:
            raise UserError(self.env._("Turn on Read Marketplace Fees first: a settlement period is compared with "
                                       "the fees read."))
        Payout = self.env["sale.channel.payout"].sudo()
        ok, result = Payout._read_channel_isolated(self)
        if not ok:
            return self._notify(self.env._("The payouts could not be read: %s", result), "danger")
        if result is None:
            return self._notify(self.env._("The payouts of this channel are being read right now."), "info")
        if len(result) == 1:
            message = self.env._("1 settlement period read and reconciled.")
        else:
            message = self.env._("%s settlement periods read and reconciled.", len(result))
        return self._notify(message, "success")

    def action_view_payouts(self):
        check_group_access(self, MANAGER, "read")
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("sale_inbox.sale_channel_payout_action")
        action["domain"] = [("channel_id", "=", self.id)]
        action["context"] = {"default_channel_id": self.id}
        return action
