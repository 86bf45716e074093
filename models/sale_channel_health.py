"""One health light per channel, and the set-up steps of a new one.

The light answers "does this channel work?" from what the channel recorded, for many channels
at once (a few grouped queries, whatever their number); the on/off switch (``state``) is a
separate thing: a switched-off channel can be healthy, and a switched-on one failing.
"""
from datetime import timedelta

from odoo import api, fields, models
from odoo.tools import format_datetime

from .sale_channel_intake import REACHED_STATUSES

#: The poll runs every 15 minutes: this long without a successful one, it is not running.
POLL_LATE = timedelta(hours=2)
#: A channel gets this long for its first poll before its light turns red.
POLL_FIRST = timedelta(hours=2)
#: Orders that came only through the poll or an import this long after the last delivery the
#: store made by itself: its webhooks do not reach Odoo.
WEBHOOK_SILENT = timedelta(hours=1)
#: Orders considered for the rule above (the newest of them; the inbox's index on received_at).
RECENT_ORDERS = timedelta(days=7)
#: A status message pending this long: the store has been refusing or not answering.
OUTBOX_LATE = timedelta(hours=1)

HEALTH = [("green", "Working"), ("amber", "Needs a Look"), ("red", "Failing")]
SETUP_STATES = [("done", "Done"), ("todo", "To Do"), ("na", "Not Needed")]
#: The set-up steps in order: (field, title).
SETUP_STEPS = [
    ("setup_credentials", "Credentials"),
    ("setup_test", "Test Connection"),
    ("setup_payments", "Payment Methods"),
    ("setup_products", "Products by SKU"),
    ("setup_import", "Import Past Orders"),
    ("setup_live", "Go Live"),
]


class SaleChannel(models.Model):
    _inherit = "sale.channel"

    last_polled_at = fields.Datetime(
        string="Last Poll", readonly=True, copy=False,
        help="When the poll for missed orders last read the store without an error.")
    orders_imported_at = fields.Datetime(
        string="Past Orders Imported", readonly=True, copy=False,
        help="When Import Orders last read the store's orders.")
    health = fields.Selection(
        HEALTH, compute="_compute_health",
        help="Green: working. Amber: something needs a look (not tested yet, a status or a stock "
        "quantity the store refused, orders arriving only through the poll, the marketplace's fees "
        "not read). Red: the store cannot "
        "be reached or the poll stopped. The On/Off switch is separate: it says whether "
        "the channel accepts orders, not whether it works.")
    health_reason = fields.Char(compute="_compute_health", string="Why")

    setup_credentials = fields.Selection(SETUP_STATES, compute="_compute_setup_steps", string="Credentials")
    setup_test = fields.Selection(SETUP_STATES, compute="_compute_setup_steps", string="Test Connection Step")
    setup_payments = fields.Selection(SETUP_STATES, compute="_compute_setup_steps", string="Payment Methods")
    setup_products = fields.Selection(SETUP_STATES, compute="_compute_setup_steps", string="Products by SKU")
    setup_import = fields.Selection(SETUP_STATES, compute="_compute_setup_steps", string="Import Past Orders")
    setup_live = fields.Selection(SETUP_STATES, compute="_compute_setup_steps", string="Go Live")
    setup_complete = fields.Boolean(compute="_compute_setup_steps", string="Set Up")

    # ------------------------------------------------------------------
    # What the jobs record
    # ------------------------------------------------------------------

    def _import_orders(self, since, commit_pages=False, progress=None):
        result = super()._import_orders(since, commit_pages=commit_pages, progress=progress)
        if not commit_pages:
            # Import Orders (the poll commits its pages): the set-up step is done once the
            # store's orders were read to the end.
            self.sudo().orders_imported_at = fields.Datetime.now()
        return result

    def _poll_orders(self):
        counts = super()._poll_orders()
        # Reached only when the poll read the store to the end (any error goes up).
        self.sudo().last_polled_at = fields.Datetime.now()
        return counts

    # ------------------------------------------------------------------
    # The health light
    # ------------------------------------------------------------------

    @api.depends("state", "platform", "poll_orders", "last_error", "last_error_date", "last_connection_check",
                 "last_polled_at", "orders_imported_at", "last_received_at", "fees_last_error",
                 "payouts_last_error")
    def _compute_health(self):
        """The light and its reason; the first rule that applies wins.

        Red:
          1. The connection fails: ``last_error`` (a failed Test Connection, poll or job) and
             no successful poll or Import Orders since it.
          2. The poll stopped: a switched-on channel polling for missed orders whose last
             successful poll is over 2 hours old (it runs every 15 minutes), or that never
             polled in the 2 hours since it was created.
        Amber:
          3. The marketplace's money could not be read: the last read of its fees or of its
             settlement periods (payouts) failed (the error is on the Marketplace Money page):
             first among the amber rules, since nothing of it shows elsewhere.
          4. Not tested yet: nothing shows the channel works (no successful Test Connection,
             poll, Import Orders or delivery from the store).
          5. Webhooks silent: the platform sends webhooks, and the newest order (of the last
             7 days) came through the poll or Import Orders more than an hour after the
             store's last delivery by itself (or there was none).
          6. Order statuses the store refused (failed in the Status Outbox), or pending for
             over an hour.
          7. Stock sync: the last finished sync run failed, or the store refused quantities
             of products (their error on the Store Products).
          8. A polling channel not polled yet (less than 2 hours old).
        Green: none of these; the reason says when it last worked.

        The time-based rules (2, 5, 8) apply to switched-on channels only: a switched-off
        channel is not polled and refuses deliveries by design.
        """
        facts = self._health_facts()
        for channel in self:
            channel.health, channel.health_reason = channel._health_rule(facts)

    def _health_facts(self):
        """What the rules need beyond the channels' own fields, for all of ``self`` in a few
        grouped queries: {fact: {channel id: value}}."""
        ids = [channel_id for channel_id in self.ids if isinstance(channel_id, int)]
        now = fields.Datetime.now()
        if not ids:
            return {"now": now, "newest_order": {}, "outbox_failed": {}, "outbox_late": {},
                    "product_errors": {}, "sync_failed": {}}
        # As superuser: counts, not content, of rows some users may not read.
        env = self.sudo().env
        Outbox = env["sale.channel.outbox"]
        newest_order = {channel.id: received for channel, received in env["sale.inbox.order"]._read_group(
            [("channel_id", "in", ids), ("received_at", ">=", now - RECENT_ORDERS)],
            ["channel_id"], ["received_at:max"])}
        outbox_failed = {channel.id: count for channel, count in Outbox._read_group(
            [("channel_id", "in", ids), ("state", "=", "failed")], ["channel_id"], ["__count"])}
        outbox_late = {channel.id: count for channel, count in Outbox._read_group(
            [("channel_id", "in", ids), ("state", "=", "pending"), ("create_date", "<", now - OUTBOX_LATE)],
            ["channel_id"], ["__count"])}
        product_errors = {channel.id: count for channel, count in env["sale.channel.product"]._read_group(
            [("channel_id", "in", ids), ("state", "=", "mapped"), ("last_error", "!=", False)],
            ["channel_id"], ["__count"])}
        Sync = env["sale.channel.sync"]
        last_runs = Sync.browse([run_id for _channel, run_id in Sync._read_group(
            [("channel_id", "in", ids), ("state", "in", ("done", "failed"))], ["channel_id"], ["id:max"])])
        sync_failed = {run.channel_id.id: run.message or "" for run in last_runs if run.state == "failed"}
        return {"now": now, "newest_order": newest_order, "outbox_failed": outbox_failed,
                "outbox_late": outbox_late, "product_errors": product_errors, "sync_failed": sync_failed}

    def _last_api_success(self):
        """When Odoo last read the store's API to the end by itself (a poll, Import Orders)."""
        self.ensure_one()
        return max(filter(None, (self.last_polled_at, self.orders_imported_at)), default=False)

    def _connection_error(self):
        """The channel's error, unless the store's API answered a poll or an import since
        ('' then)."""
        self.ensure_one()
        if not self.last_error:
            return ""
        success = self._last_api_success()
        if success and self.last_error_date and success > self.last_error_date:
            return ""
        return self.last_error

    def _health_rule(self, facts):
        """(light, reason) for one channel, from its fields and ``facts`` (see _compute_health)."""
        self.ensure_one()
        _ = self.env._
        now = facts["now"]
        cid = self.id
        switched_on = self.state == "connected"
        polls = switched_on and self.poll_orders and self.support_poll_orders
        error = self._connection_error()
        if error:
            return "red", _("Failing: %s", error.strip().splitlines()[0][:200])
        if polls and self.last_polled_at and self.last_polled_at < now - POLL_LATE:
            return "red", _("No successful poll since %s: it runs every 15 minutes (is the scheduler running?).",
                            self._when(self.last_polled_at))
        if polls and not self.last_polled_at and self.create_date and self.create_date < now - POLL_FIRST:
            return "red", _("The poll for missed orders has not run since the channel was made (is the "
                            "scheduler running?).")
        money_error = self.fees_last_error or self.payouts_last_error
        if money_error:
            return "amber", _("Reading the marketplace's money failed: %s (Marketplace Money page).",
                              money_error.strip().splitlines()[0][:400])
        if not (self.last_connection_check or self._last_api_success() or self.last_received_at):
            if self.support_test_connection:
                return "amber", _("Not tested yet: press Test Connection.")
            return "amber", _("Nothing received yet: give the store the Webhook URL (and its key).")
        newest = facts["newest_order"].get(cid)
        if switched_on and self.support_webhooks and newest \
                and (not self.last_received_at or newest > self.last_received_at + WEBHOOK_SILENT):
            if self.last_received_at:
                return "amber", _("Orders come only through the poll or Import Orders; the store's last webhook "
                                  "came %s: check its webhooks (address and secret).",
                                  self._when(self.last_received_at))
            return "amber", _("Orders come only through the poll or Import Orders; no webhook from the store "
                              "yet: create its webhooks with the Webhook URL.")
        if facts["outbox_failed"].get(cid):
            return "amber", _("%s order statuses refused by the store (Status Outbox).", facts["outbox_failed"][cid])
        if facts["outbox_late"].get(cid):
            return "amber", _("%s order statuses waiting for over an hour (Status Outbox).", facts["outbox_late"][cid])
        if cid in facts["sync_failed"]:
            message = (facts["sync_failed"][cid] or "?").splitlines()[0][:200]
            return "amber", _("The last stock sync failed: %s", message)
        if facts["product_errors"].get(cid):
            return "amber", _("The store refused the quantities of %s products (Store Products).",
                              facts["product_errors"][cid])
        if polls and not self.last_polled_at:
            return "amber", _("Not polled yet: the first poll runs within 15 minutes.")
        return "green", self._working_reason()

    def _working_reason(self):
        _ = self.env._
        if self.last_received_at:
            reason = _("Working: last delivery from the store %s.", self._when(self.last_received_at))
        elif self.last_polled_at:
            reason = _("Working: last polled %s.", self._when(self.last_polled_at))
        elif self.orders_imported_at and not self.last_connection_check:
            reason = _("Working: orders imported %s.", self._when(self.orders_imported_at))
        else:
            reason = _("Working: connection tested %s.", self._when(self.last_connection_check))
        if self.state != "connected":
            reason += " " + _("Switched off: it refuses orders until connected.")
        return reason

    def _when(self, value):
        return format_datetime(self.env, value, dt_format="short") if value else "?"

    # ------------------------------------------------------------------
    # Set-up steps
    # ------------------------------------------------------------------

    @api.depends("platform", "store_url", "last_connection_check", "last_error", "last_polled_at",
                 "last_received_at", "orders_imported_at", "payment_method_ids.journal_id",
                 "payment_method_ids.means_paid", "state")
    def _compute_setup_steps(self):
        """Each step's state, in order: credentials → Test Connection → payment methods →
        products by SKU → import past orders → go live. A step the platform has no use for is
        'Not Needed' (no API to test, no orders to import)."""
        ids = [channel_id for channel_id in self.ids if isinstance(channel_id, int)]
        env = self.sudo().env
        mapped_products = dict(env["sale.channel.product"]._read_group(
            [("channel_id", "in", ids), ("state", "=", "mapped")], ["channel_id"], ["__count"])) if ids else {}
        done_orders = dict(env["sale.inbox.order"]._read_group(
            [("channel_id", "in", ids), ("state", "=", "done")], ["channel_id"], ["__count"])) if ids else {}
        for channel in self:
            origin = channel._origin
            platform = channel._platform() if channel.platform else None
            sudo = channel.sudo()
            missing = platform and [c for c in platform.credentials if c.required and not sudo[c.field]]
            channel.setup_credentials = "todo" if missing or not platform else "done"
            if not channel.support_test_connection:
                channel.setup_test = "na"
            else:
                tested = channel.last_connection_check and not channel.last_error
                read = channel._last_api_success() and not channel._connection_error()
                channel.setup_test = "done" if tested or read else "todo"
            methods = channel.payment_method_ids
            if channel.is_marketplace:
                # The marketplace collects the buyers' money and pays it out itself: there is
                # no payment method to map for its orders.
                channel.setup_payments = "na"
            else:
                channel.setup_payments = "done" if methods and all(methods.mapped("is_mapped")) else "todo"
            if channel.support_sync_stock:
                channel.setup_products = "done" if mapped_products.get(origin) else "todo"
            else:
                # No stock sync: the SKUs are proved right by an order made into a sales order.
                channel.setup_products = "done" if done_orders.get(origin) else "todo"
            if not channel.support_poll_orders:
                channel.setup_import = "na"
            else:
                channel.setup_import = "done" if channel.orders_imported_at else "todo"
            if channel.support_webhooks:
                live = channel.last_received_at
            else:
                live = channel.poll_orders and channel.last_polled_at
            channel.setup_live = "done" if live and channel.state == "connected" else "todo"
            channel.setup_complete = all(channel[name] != "todo" for name, _title in SETUP_STEPS)


class SaleInboxOrder(models.Model):
    _inherit = "sale.inbox.order"

    def _intake_delivery(self, channel, body, content_type, headers=None, verified=False,
                         refuse_invalid=False):
        """Intake, noting on the channel when its store reached it by itself.

        A delivery that came through the channel's secret address (a webhook: not
        ``verified`` by the caller) or its API key (Connect, a platform Odoo cannot poll)
        counts; orders read from the store's API by the poll or Import Orders (verified, on
        a platform that can be polled) do not: they would hide webhooks that stopped."""
        result = super()._intake_delivery(channel, body, content_type, headers=headers, verified=verified,
                                          refuse_invalid=refuse_invalid)
        pushed = not verified or not channel._platform().can_poll_orders
        if pushed and result.status in REACHED_STATUSES:
            channel._note_delivery_received()
        return result
