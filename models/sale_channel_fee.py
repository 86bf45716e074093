"""The marketplace's money operations on the seller's account (``money.FeeOperation``), kept
per channel exactly once: sales credited, commissions, logistics and services charged, on an
order or of no order. Read by a job, page by page, each page stored in one statement."""
import logging
from datetime import datetime, time, timedelta
from functools import partial

from odoo import api, fields, models
from odoo.exceptions import UserError

from .. import platforms
from ..platforms.http import ApiAuthError
from ..platforms.money import FEE_KINDS

_logger = logging.getLogger(__name__)

#: How far before its watermark a read starts: marketplaces book operations with past dates,
#: and reading them again costs nothing (an operation is kept once per channel).
FEES_OVERLAP = timedelta(days=2)

#: The first key of the fee read's advisory lock on a channel (the second is the channel's
#: id): it keeps two runners of this job off one channel without locking the channel's row
#: (its form, the order poll and the payout read write it meanwhile).
FEES_LOCK_KEY = 1350101

FEE_KIND_LABELS = {
    "sale": "Sale", "return": "Return", "order_charge": "Order Charge", "service": "Service",
    "compensation": "Compensation", "other": "Other",
}
BOOKING_STATES = [
    ("waiting", "Waiting for Payment"),
    ("in_payment", "Deducted from Payment"),
    ("booked", "Booked as Charge"),
    ("nothing", "Nothing to Book"),
    ("unmatched", "No Sales Order Yet"),
]


class SaleChannelFee(models.Model):
    _name = "sale.channel.fee"
    _inherit = ["sale.inbox.job"]
    _description = "Marketplace Fee"
    _order = "date desc, id desc"
    _rec_name = "name"

    channel_id = fields.Many2one("sale.channel", required=True, readonly=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="channel_id.company_id", store=True, index=True)
    currency_id = fields.Many2one("res.currency", required=True, readonly=True)
    ref = fields.Char(string="Operation ID", required=True, readonly=True)
    date = fields.Datetime(required=True, readonly=True, index=True)
    operation_type = fields.Char(readonly=True, index=True, help="The marketplace's code of the operation.")
    name = fields.Char(string="Operation", readonly=True)
    kind = fields.Selection([(k, FEE_KIND_LABELS[k]) for k in FEE_KINDS], readonly=True, index=True)
    order_ref = fields.Char(string="Store Order", readonly=True, index=True,
                            help="The marketplace's number of the order (Ozon: the posting).")
    sale_order_id = fields.Many2one("sale.order", readonly=True, index=True, ondelete="set null")
    amount = fields.Monetary(readonly=True, help="The operation's total: credited positive, charged negative.")
    sale_amount = fields.Monetary(readonly=True, help="The goods' price credited (negative for a return).")
    commission_amount = fields.Monetary(string="Commission", readonly=True)
    delivery_amount = fields.Monetary(string="Logistics", readonly=True)
    services_amount = fields.Monetary(string="Services", readonly=True)
    charge_amount = fields.Monetary(
        string="Charges", readonly=True,
        help="What the operation charged beyond the sale (negative), or gave back (positive).")
    state = fields.Selection(BOOKING_STATES, string="Booking", default="waiting", required=True, readonly=True,
                             index=True)
    move_id = fields.Many2one("account.move", string="Booked In", readonly=True, index=True, ondelete="set null")
    # For those who may not open journal entries (the views show them the entry's name only).
    move_name = fields.Char(related="move_id.name", string="Booked In Entry")
    payout_id = fields.Many2one("sale.channel.payout", string="Payout Period", readonly=True, index=True,
                                ondelete="set null")

    _sql_constraints = [
        ("ref_unique", "unique(channel_id, ref)", "The marketplace's operation is kept once per channel."),
    ]

    # ------------------------------------------------------------------
    # The job
    # ------------------------------------------------------------------

    @api.model
    def _cron_read_fees(self):
        """Read the marketplace's money operations of every channel that reads them.

        Each channel is a unit of its own, in its own transaction (its pages are committed as
        they are stored): a channel whose store fails keeps its error on its form
        (``fees_last_error``) and its watermark, and is read again at the next run; the next
        channel is read meanwhile."""
        channels = self.env["sale.channel"].search([
            ("read_fees", "=", True), ("state", "=", "connected"),
            ("platform", "in", platforms.supporting("can_read_fees"))])
        commit = self._commit_allowed()
        for done, channel in enumerate(channels):
            if commit:
                # What the previous channel stored is kept; the channel's lock is taken at the
                # start of a transaction, whose snapshot sees the other runners' work.
                self.env.cr.commit()  # pylint: disable=invalid-commit
            self._run_isolated(channel, "fee read", self._read_channel_fees, channel, own_transaction=True,
                               on_error=partial(self._fees_read_failed, channel))
            self._notify_job_progress(done + 1, len(channels) - done - 1)
            if commit:
                # The channel is done with (its last page and watermark, or its error): kept
                # whatever the next channel does.
                self.env.cr.commit()  # pylint: disable=invalid-commit
        # The settlement periods whose operations the read changed are reconciled again; its
        # failure undoes no fee read (each period is reconciled on its own there).
        payouts = self.env["sale.channel.payout"]
        self._run_isolated(payouts, "reconciling the periods of new fees", payouts._reconcile_touched, channels)

    @api.model
    def _fees_read_failed(self, channel, error):
        channel.sudo().fees_last_error = error

    @api.model
    def _lock_channel(self, channel):
        """Whether this transaction holds the fee read's lock on the channel: two runners (a
        cron run and Read Fees Now on another server) never read one channel at once, the
        second skips it. An advisory lock of this job's own: the channel's row stays free for
        its writers, and the payout read (a lock of its own) is not taken for this job."""
        self.env.cr.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", (FEES_LOCK_KEY, channel.id))
        return self.env.cr.fetchone()[0]

    @api.model
    def _read_channel_fees(self, channel):
        """One channel's read, from a little before its watermark to now, page by page.

        Returns the number of new operations stored, or None when another runner holds the
        channel. The watermark moves to the end of each month window read completely: an
        interrupted read starts again from there (an operation that cannot be read holds up
        its own month only), and what it had stored is found again (nothing twice)."""
        if not self._claim_fresh(self._lock_channel, channel):
            _logger.info("Sales channel %s: its fees are being read by another runner", channel.id)
            return None
        # Read under the lock: what another runner committed before it (its watermark).
        channel.invalidate_recordset(["fees_read_until", "fees_read_since", "fees_from", "read_fees"])
        now = fields.Datetime.now()
        start = self._fees_start(channel, now)
        client = channel._api_client()
        currency = (channel.pricelist_id.currency_id or channel.company_id.currency_id).id
        commit = self._commit_allowed()
        stored = 0
        try:
            for page in client.fees(start, now):
                stored += self._store_page(channel, currency, page)
                self._fees_progress(channel, start, getattr(client, "fees_complete_up_to", None))
                if commit:
                    # The page is stored and linked (and the watermark moved past the months read
                    # completely): a failure on a later page keeps it, and the next run reads it
                    # again without storing anything twice (unique key).
                    self.env.cr.commit()  # pylint: disable=invalid-commit
                    if not self._lock_channel(channel):
                        # Another runner took the channel between the commit and here: it reads on.
                        return stored
        except ApiAuthError as exc:
            raise UserError(self.env._(
                "%(store)s refused the credentials while reading the fees (%(error)s). Check the Client ID and "
                "the API key on the channel's General tab, and that the key may read the finance data "
                "(Ozon: a key with the Finance role or Admin).",
                store=channel._platform().label, error=exc)) from exc
        self._fees_progress(channel, start, now)
        self._relink_unmatched(channel)
        channel.sudo().write({"fees_read_until": now, "fees_last_read_at": now, "fees_last_error": False})
        if stored:
            _logger.info("Sales channel %s: %s new marketplace operations", channel.id, stored)
        return stored

    @api.model
    def _fees_progress(self, channel, start, done):
        """The read from ``start`` is complete up to ``done``: the watermark moves there (never
        back), and the channel's operations are known from ``start`` on when this read reached
        where the operations known already begin (nothing left between)."""
        if not done:
            return
        values = {}
        if not channel.fees_read_until or done > channel.fees_read_until:
            values["fees_read_until"] = done
        since = channel.fees_read_since
        if not since or (start < since and done >= since - timedelta(seconds=1)):
            values["fees_read_since"] = start
        if values:
            channel.sudo().write(values)

    @api.model
    def _fees_start(self, channel, now):
        """Where a read starts: the watermark less an overlap (marketplaces book operations
        with past dates), else the channel's first day, else the previous month's first day.
        A first day set before what was ever read completely is read back to."""
        first = fields.Datetime.to_datetime(channel.fees_from) if channel.fees_from else None
        if channel.fees_read_until and first and (not channel.fees_read_since or first < channel.fees_read_since):
            return first
        previous = (now.replace(day=1) - timedelta(days=1)).replace(day=1)
        previous_month = datetime.combine(previous.date(), time.min)
        if channel.fees_read_until and channel.fees_read_until.date() == now.date():
            start = channel.fees_read_until - FEES_OVERLAP
        elif channel.fees_read_until:
            # The first read of a day goes back to the previous month's first day: an operation
            # the marketplace books with a date older than the overlap is found within a day
            # (Ozon warns that its transactions may change after the fact).
            start = min(channel.fees_read_until - FEES_OVERLAP, previous_month)
        else:
            return first or previous_month
        return max(start, first) if first else start

    # ------------------------------------------------------------------
    # Storing a page, set-based
    # ------------------------------------------------------------------

    @api.model
    def _store_page(self, channel, currency_id, page):
        """Store a page of operations in one statement (an operation stored already is left as
        it is), link the new ones to their sales orders and set their booking state. A
        constant number of statements a page, none per operation. Returns how many were new."""
        if not page:
            return 0
        # One row per operation id: a statement may not touch a row twice.
        unique = list({op.ref: op for op in page}.values())
        now = fields.Datetime.now()
        columns = {
            "ref": ("varchar", [op.ref for op in unique]),
            "date": ("timestamp", [op.date for op in unique]),
            "operation_type": ("varchar", [op.operation_type or None for op in unique]),
            "name": ("varchar", [op.name or None for op in unique]),
            "kind": ("varchar", [op.kind if op.kind in FEE_KINDS else "other" for op in unique]),
            "order_ref": ("varchar", [op.order_ref or None for op in unique]),
            "amount": ("numeric", [op.amount for op in unique]),
            "sale_amount": ("numeric", [op.sale_amount for op in unique]),
            "commission_amount": ("numeric", [op.commission_amount for op in unique]),
            "delivery_amount": ("numeric", [op.delivery_amount for op in unique]),
            "services_amount": ("numeric", [op.services_amount for op in unique]),
            "charge_amount": ("numeric", [op.charges for op in unique]),
        }
        names = ", ".join(columns)
        arrays = ", ".join(f"%s::{sql_type}[]" for sql_type, _values in columns.values())
        self.flush_model()
        # The state is set with the link, below (it depends on the sales order found).
        self.env.cr.execute(
            f"""
            INSERT INTO sale_channel_fee (channel_id, company_id, currency_id, state, create_uid, create_date,
                                          write_uid, write_date, {names})
            SELECT %s, %s, %s, 'waiting', %s, %s, %s, %s, {names}
              FROM unnest({arrays}) AS page ({names})
            ON CONFLICT (channel_id, ref) DO NOTHING
            RETURNING id, order_ref IS NOT NULL
            """,  # noqa: S608 -- column names are ours, values are placeholders
            [channel.id, channel.company_id.id, currency_id, self.env.uid, now, self.env.uid, now,
             *(values for _sql_type, values in columns.values())],
        )
        new = self.env.cr.fetchall()
        of_orders = [fee_id for fee_id, has_order in new if has_order]
        if of_orders:
            self._link_orders(of_orders)
        if new:
            self._set_states([fee_id for fee_id, _has_order in new])
            self.invalidate_model()
        return len(new)

    @api.model
    def _link_orders(self, fee_ids):
        """Link the fees (of an order: ``order_ref`` set) to their sales orders, set-based: the
        sales order of the inbox order of the same channel whose store id is the fee's order (a
        split posting's inbox order belongs to its parent's sales order); when the marketplace
        names the order without its posting suffix (Ozon: 12345678-0001 for posting
        12345678-0001-1), the one sales order its postings belong to, if there is exactly one."""
        self.env["sale.inbox.order"].flush_model(["channel_id", "external_id", "sale_order_id"])
        self.env.cr.execute(
            """
            UPDATE sale_channel_fee f
               SET sale_order_id = o.sale_order_id
              FROM sale_inbox_order o
             WHERE f.id = ANY(%s) AND f.sale_order_id IS NULL
               AND o.channel_id = f.channel_id AND o.external_id = f.order_ref AND o.sale_order_id IS NOT NULL
            RETURNING f.id
            """,
            [fee_ids],
        )
        linked = {row[0] for row in self.env.cr.fetchall()}
        left = [fee_id for fee_id in fee_ids if fee_id not in linked]
        if not left:
            return
        # Only when some are left: an equality on each inbox order's number less its last
        # part (a hash join), not a prefix search per fee.
        self.env.cr.execute(
            """
            UPDATE sale_channel_fee f
               SET sale_order_id = m.sale_order_id
              FROM (SELECT f2.id, min(o.sale_order_id) AS sale_order_id
                      FROM sale_channel_fee f2
                      JOIN sale_inbox_order o
                        ON o.channel_id = f2.channel_id AND o.sale_order_id IS NOT NULL
                       AND substring(o.external_id from '^(.+)-[^-]+$') = f2.order_ref
                     WHERE f2.id = ANY(%s) AND f2.order_ref IS NOT NULL
                     GROUP BY f2.id
                    HAVING count(DISTINCT o.sale_order_id) = 1) m
             WHERE f.id = m.id
            """,
            [left],
        )

    @api.model
    def _set_states(self, fee_ids):
        """The booking state of fees just stored or linked (see BOOKING_STATES): nothing to
        book when nothing was charged beyond the sale; unmatched while their order has no
        sales order, except an order the store cancelled before a sales order was made (its
        inbox order is cancelled): its charges wait to be booked as those of a cancelled
        order; waiting otherwise. Fees already in payment or booked are not these."""
        self.env["sale.inbox.order"].flush_model(["channel_id", "external_id", "sale_order_id", "state"])
        self.env.cr.execute(
            """
            UPDATE sale_channel_fee f
               SET state = CASE WHEN f.charge_amount = 0 THEN 'nothing'
                                WHEN f.order_ref IS NOT NULL AND f.sale_order_id IS NULL AND NOT EXISTS (
                                     SELECT 1 FROM sale_inbox_order o
                                      WHERE o.channel_id = f.channel_id AND o.external_id = f.order_ref
                                        AND o.sale_order_id IS NULL AND o.state = 'cancelled')
                                THEN 'unmatched'
                                ELSE 'waiting' END
             WHERE f.id = ANY(%s) AND f.state IN ('waiting', 'unmatched', 'nothing') AND f.move_id IS NULL
            """,
            [fee_ids],
        )

    @api.model
    def _relink_unmatched(self, channel):
        """The channel's fees whose order had no sales order: linked to it if it has one since
        (or waiting as charges of a cancelled order when the store cancelled it meanwhile)."""
        self.flush_model()
        self.env.cr.execute(
            """
            SELECT id FROM sale_channel_fee
             WHERE channel_id = %s AND sale_order_id IS NULL AND order_ref IS NOT NULL
               AND state IN ('unmatched', 'nothing', 'waiting') AND move_id IS NULL
            """,
            (channel.id,),
        )
        fee_ids = [row[0] for row in self.env.cr.fetchall()]
        if fee_ids:
            self._link_orders(fee_ids)
            self._set_states(fee_ids)
            self.invalidate_model()


class SaleChannel(models.Model):
    _inherit = "sale.channel"

    fees_read_since = fields.Datetime(
        readonly=True, copy=False,
        help="The marketplace's operations are read from this moment on. Read Fees From set earlier makes "
        "the next read go back to it.")

    def action_read_fees_now(self):
        """Have the fee job read this channel's fees soon (the store is not called in the
        request: a month of operations is many pages)."""
        self._check_manager()
        for channel in self:
            if not channel.support_read_fees:
                raise UserError(self.env._("%s has no fees for Odoo to read.", channel._platform().label))
            if not channel.read_fees:
                raise UserError(self.env._("Turn on Read Marketplace Fees first."))
            if channel.state != "connected":
                raise UserError(self.env._("The channel is off: switch it on to read its fees."))
        self.env.ref("sale_inbox.ir_cron_read_fees").sudo()._trigger()
        return self._notify(self.env._("The fees are being read; they show under Sales Inbox > Marketplace Fees."),
                            "info")

    def action_view_fees(self):
        """The channel's operations, in the fee report's list."""
        self._check_inbox_user()
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("sale_inbox.sale_channel_fee_action")
        action.update({"domain": [("channel_id", "=", self.id)], "view_mode": "list,pivot,graph,form",
                       "views": [(False, "list"), (False, "pivot"), (False, "graph"), (False, "form")],
                       "context": {}})
        return action
