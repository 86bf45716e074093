import hmac
import json
import logging
import secrets
from datetime import timedelta
from decimal import Decimal

from odoo import Command, _, api, fields, models, tools
from odoo.addons.base.models.res_partner import _tz_get
from odoo.exceptions import UserError, ValidationError

from .. import platforms
from ..platforms import InvalidPayload
from ..platforms.base import StockUpdate
from ..platforms.connect import key_digest
from ..platforms.http import ApiError
from .sale_channel_status_map import STAGE_LABELS

_logger = logging.getLogger(__name__)

MANAGER = "sale_inbox.group_sale_inbox_manager"

CONNECT_ORDERS_PATH = "/sale_inbox/connect/v1/orders"
WEBHOOK_PATH = "/sale_inbox/webhook"
#: Fields behind _intake_credentials and _webhook_channel_id (ormcached per process).
INTAKE_CACHED_FIELDS = {"api_key", "webhook_token", "active", "push_on_change", "state", "company_id"}
#: Payment methods that are not paid when the order is placed (WooCommerce's codes).
OFFLINE_PAYMENT_CODES = {"cod", "bacs", "cheque"}
#: Platforms whose stock the sync sends.
STOCK_PLATFORMS = ("shopify", "woocommerce", "mozello", "idosell")
#: Hours before a run that is not Sync Now asks the store again for SKUs it did not know.
UNKNOWN_SKU_RECHECK_HOURS = 20
#: Hours after which a sync run still 'running' is taken as interrupted.
SYNC_RUN_TIMEOUT_HOURS = 1
#: Minutes the poll reads back before its watermark, for changes committed out of order.
POLL_OVERLAP_MINUTES = 10


class SaleChannel(models.Model):
    _name = "sale.channel"
    _description = "Sales Channel"
    _inherit = ["mail.thread"]
    _order = "sequence, name, id"
    _rec_name = "name"

    name = fields.Char(required=True, tracking=True)
    sequence = fields.Integer(default=10)
    platform = fields.Selection(
        selection=[
            ("connect", "Connect"),
            ("shopify", "Shopify"),
            ("woocommerce", "WooCommerce"),
            ("mozello", "Mozello"),
            ("paypal", "PayPal Checkout"),
            ("idosell", "IdoSell"),
        ],
        required=True,
        default="connect",
        tracking=True,
        help="The store or marketplace this channel receives orders from. Connect is our own "
        "API, for any shop that can send an HTTP request.",
    )
    company_id = fields.Many2one(
        "res.company", required=True, index=True, default=lambda self: self.env.company
    )
    currency_id = fields.Many2one(related="company_id.currency_id")
    active = fields.Boolean(default=True)
    state = fields.Selection(
        [("connected", "Connected"), ("disconnected", "Disconnected")],
        required=True,
        default="connected",
        tracking=True,
        help="A disconnected channel refuses incoming orders (503) and runs no jobs.",
    )

    # Credentials: readable by Sales Inbox managers only.
    api_key = fields.Char(
        string="API Key",
        groups=MANAGER,
        copy=False,
        default=lambda self: secrets.token_urlsafe(32),
        help="The shop sends it as 'Authorization: Bearer <key>' with every request.",
    )
    store_url = fields.Char(
        string="Store URL",
        help="The store's address, e.g. https://my-shop.myshopify.com.",
    )
    api_login = fields.Char(
        string="API Login",
        groups=MANAGER,
        copy=False,
        help="Who Odoo is to the store's API (WooCommerce: the REST API consumer key).",
    )
    api_secret = fields.Char(
        string="API Secret",
        groups=MANAGER,
        copy=False,
        help="What Odoo uses to call the store's API (Shopify: the Admin API access token; "
        "WooCommerce: the consumer secret).",
    )
    webhook_secret = fields.Char(
        string="Webhook Signing Secret",
        groups=MANAGER,
        copy=False,
        help="What the store signs its webhooks with (Shopify: the key shown under Settings → "
        "Notifications → Webhooks, or the app's client secret for webhooks an app subscribes; "
        "WooCommerce: the webhook's secret; PayPal: the webhook's ID). Deliveries with a wrong "
        "signature are refused and nothing is stored.",
    )
    webhook_token = fields.Char(
        copy=False,
        readonly=True,
        index=True,
        default=lambda self: secrets.token_urlsafe(24),
        help="Identifies the channel in its webhook URL.",
    )
    last_connection_check = fields.Datetime(readonly=True, copy=False)
    poll_orders = fields.Boolean(
        string="Poll for Missed Orders",
        help="Every 15 minutes, read the orders changed in the store since the last poll: "
        "whatever a webhook missed comes in the same way, never twice.",
    )
    poll_watermark = fields.Datetime(
        string="Polled Up To", copy=False,
        help="Newest change the poll has stored; the next poll reads from a little before it.",
    )
    connection_status = fields.Selection(
        [("unknown", "Not checked"), ("ok", "Working"), ("error", "Failing")],
        compute="_compute_connection_status",
    )
    api_key_digest = fields.Char(
        compute="_compute_api_key_digest", store=True, index=True, groups=MANAGER, copy=False
    )
    webhook_url = fields.Char(
        string="Webhook URL",
        compute="_compute_webhook_url",
        help="Paste this address in the store's settings: orders are sent there.",
    )

    # Where orders go.
    warehouse_id = fields.Many2one(
        "stock.warehouse",
        check_company=True,
        help="Warehouse the orders are delivered from. Empty: the company's default.",
    )
    pricelist_id = fields.Many2one("product.pricelist", check_company=True)
    team_id = fields.Many2one("crm.team", string="Sales Team", check_company=True)
    user_id = fields.Many2one("res.users", string="Salesperson", domain=[("share", "=", False)])
    shipping_product_id = fields.Many2one(
        "product.product",
        string="Shipping Product",
        check_company=True,
        default=lambda self: self.env.ref("sale_inbox.product_shipping", raise_if_not_found=False),
        help="Shipping charged by the store is added to the order as a line of this product.",
    )

    fee_product_id = fields.Many2one(
        "product.product",
        string="Fee Product",
        check_company=True,
        default=lambda self: self.env.ref("sale_inbox.product_fee", raise_if_not_found=False),
        help="Other charges of the store (a payment surcharge, gift wrapping) are added as "
        "lines of this product.",
    )

    # Automatic processing (seed 000).
    auto_process = fields.Boolean(
        string="Auto Processing",
        default=True,
        help="Turn each incoming order into a sales document as soon as it arrives. "
        "Otherwise orders wait in the inbox for a salesperson.",
    )
    document_type = fields.Selection(
        [
            ("quotation", "Quotation"),
            ("order", "Sales Order"),
            ("invoice", "Sales Order and Invoice"),
        ],
        string="Document to Create",
        required=True,
        default="order",
    )
    auto_confirm = fields.Boolean(
        string="Approve/Post",
        default=True,
        help="Confirm the sales order and post the invoice.",
    )
    add_payment = fields.Boolean(
        string="Add a Payment",
        help="Register the payment the store reports in the journal mapped to its payment "
        "method: reconciled with the posted invoice, or else kept as the customer's advance.",
    )
    wait_for_payment = fields.Boolean(
        string="Wait for Payment",
        help="Process an order only once the store reports it paid.",
    )
    send_email = fields.Boolean(
        string="Send by Email",
        help="E-mail the invoice (or the order when no invoice is made) to the customer.",
    )
    amount_tolerance = fields.Monetary(
        currency_field="currency_id",
        help="Largest difference accepted between the store's total and the Odoo total.",
    )
    amount_mismatch_action = fields.Selection(
        [
            ("review", "Keep as draft for review"),
            ("continue", "Continue and note the difference"),
        ],
        string="When Totals Differ",
        required=True,
        default="review",
        help="What happens when the Odoo total differs from the store's total by more than "
        "the tolerance. Keeping the draft adds no payment, as the store and Odoo disagree.",
    )

    # Inventory sync (seed 000 and 003): what the store is told is available.
    stock_warehouse_ids = fields.Many2many(
        "stock.warehouse",
        string="Stock From",
        check_company=True,
        help="Warehouses whose stock is summed for the store. Empty: the channel's warehouse.",
    )
    stock_reserve = fields.Float(
        string="Reserve", digits="Product Unit of Measure",
        help="Kept back from the store: subtracted from what is available.",
    )
    stock_threshold = fields.Float(
        string="Threshold", digits="Product Unit of Measure",
        help="Under this quantity the store is told 0, so that the last units are not oversold.",
    )
    stock_cap = fields.Float(
        string="Cap", digits="Product Unit of Measure",
        help="The store is never told more than this (0: no cap).",
    )
    stock_preview_product_id = fields.Many2one(
        "product.product", string="Check a Product",
        help="Shows what would be sent to the store for this product, and why.",
    )
    stock_preview = fields.Text(compute="_compute_stock_preview", string="Would Be Sent")

    store_location = fields.Char(
        string="Store Location",
        help="Shopify keeps stock per location: the location's ID (gid://shopify/Location/…) the "
        "quantities are sent to. Left empty, it is filled in at the first sync when the shop has "
        "a single location.",
    )
    push_on_change = fields.Boolean(
        string="Push on Change",
        help="Within a minute or two of a stock move or an incoming order that changes a product's "
        "availability, send that product's quantity to the store (only if it changed).",
    )
    sync_prices = fields.Boolean(
        string="Price List Sync",
        help="Also send each product's price from the pricelist below.",
    )
    sync_pricelist_id = fields.Many2one(
        "product.pricelist", string="Price List", check_company=True,
        help="Its currency should be the store's. Empty: the channel's pricelist.",
    )
    store_currency_id = fields.Many2one(
        "res.currency", string="Store Currency",
        help="The currency the store's prices are in. Prices are converted to it from the price "
        "list's currency at today's rate. Empty: the price list's currency.",
    )
    store_prices_include_tax = fields.Boolean(
        string="Store Prices Include Tax",
        help="Send prices with the product's sales taxes included, as the store shows them.",
    )
    sync_daily = fields.Boolean(
        string="Daily Auto Sync",
        help="Every morning, send the store the available quantity of each of its products.",
    )
    sync_hour = fields.Integer(string="At (hour, UTC)", default=6)
    sync_requested = fields.Boolean(readonly=True, copy=False)
    last_sync_date = fields.Date(readonly=True, copy=False)
    store_product_ids = fields.One2many("sale.channel.product", "channel_id", string="Store Products")
    sync_ids = fields.One2many("sale.channel.sync", "channel_id", string="Sync Runs")
    sync_progress = fields.Integer(
        compute="_compute_sync_progress", string="Sync Progress",
        help="How far the running stock sync is, in percent of its API requests.")
    sync_running = fields.Boolean(compute="_compute_sync_progress")
    store_product_count = fields.Integer(compute="_compute_store_product_count", string="Store Product Count")

    payment_method_ids = fields.One2many(
        "sale.channel.payment.method", "channel_id", string="Payments Mapping"
    )

    # Order status sync (seeds 002 and 004).
    status_sync = fields.Selection(
        [("none", "Off"), ("to_store", "To the Store"), ("from_store", "From the Store"), ("both", "Both Ways")],
        string="Status Sync", required=True, default="none", tracking=True,
        help="To the Store: a stage reached in Odoo (confirmed, delivered, invoiced, paid, cancelled) is "
        "sent to the store as its mapped status. From the Store: a status the store reports moves the "
        "Odoo order to the mapped stage, as far as Odoo allows. A change that came from one side is "
        "never sent back to it.",
    )
    status_scope = fields.Selection(
        [("open", "Orders not yet delivered or invoiced"), ("recent", "Orders created in the last days")],
        string="Sync Statuses Of", required=True, default="open",
        help="Not yet delivered or invoiced: once an order is delivered or invoiced, the change that made "
        "it so is the last one synced. Last days: every order created in the last N days, whatever "
        "its state.",
    )
    status_scope_days = fields.Integer(string="Days", default=30)
    store_timezone = fields.Selection(
        _tz_get, string="Store Time Zone",
        help="The time zone the store's API gives its dates in (IdoSell: the shop's own time).",
    )
    status_map_ids = fields.One2many("sale.channel.status.map", "channel_id", string="Status Mapping")
    outbox_ids = fields.One2many("sale.channel.outbox", "channel_id", string="Status Outbox")
    outbox_attention_count = fields.Integer(
        compute="_compute_outbox_attention_count", string="Statuses Not Sent",
        help="Status changes waiting to be sent (the store did not answer yet) or refused.")
    inbox_order_ids = fields.One2many("sale.inbox.order", "channel_id", string="Inbox")
    inbox_count = fields.Integer(compute="_compute_inbox_counts", string="Inbox Orders")
    attention_count = fields.Integer(
        compute="_compute_inbox_counts",
        string="Need Attention",
        help="Orders in error or waiting for review.",
    )
    last_error = fields.Text(readonly=True, copy=False)
    last_error_date = fields.Datetime(readonly=True, copy=False)

    _sql_constraints = [
        ("api_key_digest_unique", "unique(api_key_digest)", "Two channels cannot share an API key."),
    ]

    @api.depends("api_key")
    def _compute_api_key_digest(self):
        for channel in self:
            channel.api_key_digest = key_digest(channel.api_key) if channel.api_key else False

    @api.depends("platform")
    def _compute_webhook_url(self):
        base_url = self.env["ir.config_parameter"].sudo().get_param("web.base.url", "")
        for channel in self:
            channel.webhook_url = base_url.rstrip("/") + channel._webhook_path()

    def _webhook_path(self):
        self.ensure_one()
        if self.platform == "connect":
            return CONNECT_ORDERS_PATH
        return f"{WEBHOOK_PATH}/{self.webhook_token}"

    @api.depends("stock_preview_product_id", "stock_warehouse_ids", "warehouse_id", "stock_reserve",
                 "stock_threshold", "stock_cap")
    def _compute_stock_preview(self):
        Stock = self.env["sale.channel.stock"]
        for channel in self:
            product = channel.stock_preview_product_id
            channel.stock_preview = Stock._explain(channel, product) if product else False

    def _compute_outbox_attention_count(self):
        counts = dict(self.env["sale.channel.outbox"]._read_group(
            [("channel_id", "in", self.ids), ("state", "in", ("pending", "failed"))], ["channel_id"], ["__count"]))
        for channel in self:
            channel.outbox_attention_count = counts.get(channel, 0)

    @api.constrains("status_sync", "status_map_ids", "platform")
    def _check_status_mapping(self):
        for channel in self.filtered(lambda c: c.status_sync != "none"):
            platform = channel._platform()
            if not platform.order_statuses:
                raise ValidationError(_("%s has no order statuses to sync.", platform.label))
            mapped = set(channel.status_map_ids.mapped("odoo_stage"))
            missing = [label for stage, label in STAGE_LABELS.items() if stage not in mapped]
            if missing:
                raise ValidationError(_(
                    "Map every Odoo stage to a store status before turning status sync on. "
                    "Not mapped: %s.", ", ".join(missing)))

    def action_propose_status_map(self):
        """Replace the mapping with the one proposed for the platform."""
        for channel in self:
            channel.status_map_ids.unlink()
            channel._propose_status_map()

    def _propose_status_map(self):
        mapping = self._platform().default_status_map
        self.env["sale.channel.status.map"].create([
            {"channel_id": self.id, "odoo_stage": stage, "store_status": status}
            for stage, status in mapping.items()])

    def action_view_outbox(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("sale_inbox.sale_channel_outbox_action")
        action["domain"] = [("channel_id", "=", self.id)]
        return action

    def _compute_sync_progress(self):
        since = fields.Datetime.now() - timedelta(hours=SYNC_RUN_TIMEOUT_HOURS)
        running = {
            run.channel_id.id: run.progress
            for run in self.env["sale.channel.sync"].search(
                [("channel_id", "in", self.ids), ("state", "=", "running"), ("started_at", ">=", since)],
                order="started_at")
        }
        for channel in self:
            channel.sync_running = channel.id in running
            channel.sync_progress = running.get(channel.id, 0)

    def _compute_store_product_count(self):
        counts = dict(self.env["sale.channel.product"]._read_group(
            [("channel_id", "in", self.ids)], ["channel_id"], ["__count"]))
        for channel in self:
            channel.store_product_count = counts.get(channel, 0)

    def action_view_store_products(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("sale_inbox.sale_channel_product_action")
        action["domain"] = [("channel_id", "=", self.id)]
        action["context"] = {"default_channel_id": self.id}
        return action

    @api.depends("last_error", "last_connection_check")
    def _compute_connection_status(self):
        for channel in self:
            if channel.last_error:
                channel.connection_status = "error"
            elif channel.last_connection_check:
                channel.connection_status = "ok"
            else:
                channel.connection_status = "unknown"

    def _compute_inbox_counts(self):
        counts = {
            (channel.id, state): count
            for channel, state, count in self.env["sale.inbox.order"]._read_group(
                [("channel_id", "in", self.ids)], ["channel_id", "state"], ["__count"]
            )
        }
        for channel in self:
            channel.inbox_count = sum(c for (cid, _state), c in counts.items() if cid == channel.id)
            channel.attention_count = counts.get((channel.id, "error"), 0) + counts.get(
                (channel.id, "needs_review"), 0
            )

    def _platform(self):
        self.ensure_one()
        return platforms.get(self.platform)

    @api.model
    def _find_by_api_key(self, token):
        """The channel whose API key is ``token``, or an empty recordset."""
        if not token:
            return self.browse()
        found = self._intake_credentials(key_digest(token))
        if not found:
            return self.browse()
        channel_id, api_key = found
        if not hmac.compare_digest(api_key.encode(), token.encode()):
            return self.browse()
        return self.browse(channel_id).sudo()

    @api.model
    @tools.ormcache("digest")
    def _intake_credentials(self, digest):
        """(channel id, API key) for a key digest; cached per process, because every
        request of every store starts here. Any change to a channel clears it, in all
        workers (Odoo signals registry cache invalidations through the database)."""
        self.env.cr.execute(
            "SELECT id, api_key FROM sale_channel WHERE api_key_digest = %s", (digest,)
        )
        row = self.env.cr.fetchone()
        return tuple(row) if row else None

    @api.model
    @tools.ormcache()
    def _push_on_change_company_ids(self):
        """Companies with a channel that pushes stock on change: intake queues the SKUs of a
        new order only for them, so that it costs nothing to everyone else."""
        self.flush_model(["push_on_change", "active", "state", "company_id"])
        self.env.cr.execute(
            "SELECT DISTINCT company_id FROM sale_channel WHERE push_on_change AND active AND state = 'connected'")
        return frozenset(row[0] for row in self.env.cr.fetchall())

    @api.model
    def _find_by_webhook_token(self, token):
        """The channel of a webhook URL, or an empty recordset."""
        channel_id = self._webhook_channel_id(token) if token else None
        return self.browse(channel_id).sudo() if channel_id else self.browse()

    @api.model
    @tools.ormcache("token")
    def _webhook_channel_id(self, token):
        self.env.cr.execute(
            "SELECT id FROM sale_channel WHERE webhook_token = %s AND active", (token,)
        )
        row = self.env.cr.fetchone()
        return row[0] if row else None

    def _credentials(self):
        """What the platform module needs to verify deliveries and call the API."""
        self.ensure_one()
        channel = self.sudo()
        return {
            "api_key": channel.api_key or "",
            "webhook_secret": channel.webhook_secret or "",
            "api_login": channel.api_login or "",
            "api_secret": channel.api_secret or "",
            "store_url": channel.store_url or "",
            "stock_location": channel.store_location or "",
            "timezone": channel.store_timezone or "",
        }

    def _api_client(self, **http_options):
        self.ensure_one()
        credentials = self._credentials()
        platform = self._platform()
        if not credentials["api_secret"] or (platform.needs_store_url and not credentials["store_url"]):
            raise UserError(_("Set the store URL and the API credentials first."))
        return platform.client(credentials, **http_options)

    def action_register_webhook(self):
        """Point the store's order notifications at this channel (where its API allows)."""
        self.ensure_one()
        client = self._api_client()
        if not hasattr(client, "set_notifications"):
            raise UserError(_("Create the webhook in the store's admin, as the steps above say."))
        try:
            client.set_notifications(self.webhook_url)
        except ApiError as exc:
            raise UserError(_("The store did not accept the address: %s", exc)) from exc
        return self._notify(_("The store now sends its orders to %s.", self.webhook_url), "success")

    def action_test_connection(self):
        """Call the store's API once and show whether it works (and why not)."""
        self.ensure_one()
        try:
            shop = self._api_client().test_connection()
        except ApiError as exc:
            _logger.info("Sales channel %s: connection test failed: %s", self.id, exc)
            self.write({"last_error": str(exc), "last_error_date": fields.Datetime.now(),
                        "last_connection_check": fields.Datetime.now()})
            return self._notify(_("The store did not accept the connection: %s", exc), "danger")
        self.write({"last_error": False, "last_error_date": False,
                    "last_connection_check": fields.Datetime.now()})
        return self._notify(_("Connected to %s.", shop), "success")

    def _import_orders(self, since, commit_pages=False):
        """Put every order changed in the store since ``since`` through intake, page by page.

        The same intake as webhooks, so an order a webhook brought is recognised (same
        content: nothing happens; changed content: a pending delivery). Returns counts and
        the newest change seen, which the poll keeps as its watermark.
        """
        self.ensure_one()
        client = self._api_client()
        if not hasattr(client, "orders_since"):
            raise UserError(_("%s has no list of orders to read: its orders come by webhook only.",
                              self._platform().label))
        platform = self._platform()
        Inbox = self.env["sale.inbox.order"].sudo()
        counts = {"created": 0, "known": 0, "unreadable": 0}
        newest = None
        for page in client.orders_since(since.strftime("%Y-%m-%dT%H:%M:%SZ")):
            for data in page:
                body = json.dumps(data).encode()
                try:
                    delivery = platform.parse(body, "application/json")
                except InvalidPayload as exc:
                    Inbox._keep_unreadable(self, body, "application/json", exc)
                    counts["unreadable"] += 1
                    continue
                _order_id, created = Inbox._intake(self, delivery, body, "application/json")
                counts["created" if created else "known"] += 1
                changed = platform.changed_at(data)
                if changed and (newest is None or changed > newest):
                    newest = changed
            # The watermark moves only once the page is stored, and page by page only when
            # the store lists orders by change time (else at the end of a complete read).
            if commit_pages and newest and getattr(client, "sorted_by_change", True):
                self.sudo().poll_watermark = newest
            if commit_pages and self.env["sale.inbox.order"]._commit_allowed():
                self.env.cr.commit()
        complete_up_to = getattr(client, "complete_up_to", None)
        if complete_up_to and (newest is None or complete_up_to > newest):
            newest = complete_up_to
            if commit_pages:
                self.sudo().poll_watermark = newest
        return counts, newest

    @api.model
    def _cron_poll_orders(self):
        """Catch what webhooks missed: orders changed since the watermark, with overlap."""
        channels = self.search([("poll_orders", "=", True), ("state", "=", "connected"),
                                ("platform", "not in", ("connect", "paypal"))])
        for channel in channels:
            since = (channel.poll_watermark or fields.Datetime.now() - timedelta(days=1)) \
                - timedelta(minutes=POLL_OVERLAP_MINUTES)
            commit = self.env["sale.inbox.order"]._commit_allowed()
            try:
                counts, _newest = channel._import_orders(since, commit_pages=True)
            except (ApiError, UserError) as exc:
                # What earlier pages stored is committed; the error is shown on the channel.
                channel.write({"last_error": str(exc), "last_error_date": fields.Datetime.now()})
                _logger.warning("Sales channel %s: order poll failed: %s", channel.id, exc)
            else:
                if counts["created"]:
                    _logger.info("Sales channel %s: the poll found %s orders webhooks had not brought",
                                 channel.id, counts["created"])
                    self.env.ref("sale_inbox.ir_cron_process_inbox")._trigger()
            if commit:
                self.env.cr.commit()

    def action_read_payment_methods(self):
        """Add the store's payment methods to the payments mapping (where its API lists them)."""
        self.ensure_one()
        client = self._api_client()
        if not hasattr(client, "payment_methods"):
            raise UserError(_("This store's API does not list its payment methods: they appear "
                              "here with the first order that uses each."))
        try:
            methods = client.payment_methods()
        except ApiError as exc:
            raise UserError(_("The store did not answer: %s", exc)) from exc
        known = set(self.payment_method_ids.mapped("code"))
        new = [(code, title) for code, title in methods if code not in known]
        self.env["sale.channel.payment.method"].create([
            {"channel_id": self.id, "code": code, "name": title,
             "means_paid": code not in OFFLINE_PAYMENT_CODES}
            for code, title in new
        ])
        return self._notify(_("%(new)s payment methods added, %(known)s already mapped.",
                              new=len(new), known=len(methods) - len(new)), "success")

    @api.onchange("platform")
    def _onchange_platform(self):
        # WooCommerce never retries a failed webhook: polling is its safety net. IdoSell has
        # no webhooks at all: polling is how its orders come.
        self.poll_orders = self.platform in ("woocommerce", "idosell")
        if self.platform == "idosell" and not self.store_timezone:
            self.store_timezone = "Europe/Warsaw"

    # ------------------------------------------------------------------
    # Stock sync
    # ------------------------------------------------------------------

    def action_sync_now(self):
        """Queue a stock sync for the sync job, which reports its progress while it runs."""
        for channel in self:
            channel._check_takes_stock()
        self.write({"sync_requested": True})
        self.env.ref("sale_inbox.ir_cron_sync_stock").sudo()._trigger()
        return self._notify(_("The stock sync has started; its run appears under Sync Runs."), "info")

    def _check_takes_stock(self):
        if self.platform not in STOCK_PLATFORMS:
            raise UserError(_("%s takes no stock from Odoo.", self._platform().label))

    @api.model
    def _cron_sync_stock(self):
        """Sync Now requests and the daily runs, one channel after the other."""
        now = fields.Datetime.now()
        channels = self.search([("state", "=", "connected"), ("platform", "in", STOCK_PLATFORMS), "|",
                                ("sync_requested", "=", True), ("sync_daily", "=", True)])
        due = channels.filtered(lambda c: c.sync_requested or (
            now.hour >= c.sync_hour and c.last_sync_date != now.date()))
        commit = self.env["sale.inbox.order"]._commit_allowed()
        for done, channel in enumerate(due):
            channel._sync_stock("manual" if channel.sync_requested else "daily", commit=commit)
            channel.write({"sync_requested": False, "last_sync_date": now.date()})
            self.env["ir.cron"]._notify_progress(done=done + 1, remaining=len(due) - done - 1)
            if commit:
                self.env.cr.commit()

    @api.model
    def _cron_push_stock(self):
        """Push on Change: send the SKUs that stock moves and incoming orders queued."""
        channels = self.search([("push_on_change", "=", True), ("state", "=", "connected"),
                                ("platform", "in", STOCK_PLATFORMS)])
        commit = self.env["sale.inbox.order"]._commit_allowed()
        for channel in channels:
            rows = self.env["sale.inbox.order"]._claim_fresh(self.env["sale.channel.product"]._claim_queued, channel)
            if rows:
                channel._sync_stock("push", rows=rows, commit=commit)
            if commit:
                self.env.cr.commit()

    def _sync_stock(self, trigger="manual", rows=None, force=False, commit=False):
        """Send the store what changed since it last accepted a quantity; returns the run.

        ``rows`` limits the run to these store products (all mapped ones otherwise, after
        learning the ids of new SKUs); ``force`` sends them even when unchanged. Each API
        request's answer is recorded as it comes, so a failure loses only what was not sent;
        with ``commit`` (the cron), each is committed, which also shows the progress."""
        self.ensure_one()
        self._check_takes_stock()
        self._close_interrupted_runs()
        run = self.env["sale.channel.sync"].create({"channel_id": self.id, "trigger": trigger})
        if commit:
            self.env.cr.commit()
        client = None
        unknown = set()
        try:
            client = self._stock_client()
            if rows is None:
                unknown = self._learn_store_products(client, recheck=trigger == "manual")
                rows = self.store_product_ids.filtered(lambda r: r.state == "mapped")
            else:
                rows = rows.filtered(lambda r: r.state == "mapped")
            changed, prices = self._stock_changes(rows, force)
            requests = client.stock_requests([update for _row, update in changed])
        except (ApiError, UserError) as exc:
            return self._sync_failed(run, client, exc, rows or self.env["sale.channel.product"])
        run.write({"checked": len(rows), "changed": len(changed)})
        row_of = {update.sku: row for row, update in changed}
        sent = failed = 0
        refused_all = []
        for done, request in enumerate(requests):
            try:
                results = client.push_stock(request)
            except ApiError as exc:
                unsent = self.env["sale.channel.product"].browse(
                    [row_of[u.sku].id for later in requests[done:] for u in later])
                return self._sync_failed(run, client, exc, unsent, sent=sent, failed=failed)
            accepted = [(row_of[u.sku], u) for u in request if results.get(u.sku, "not sent") is None]
            refused = [(row_of[u.sku], results.get(u.sku) or "not sent") for u in request
                       if results.get(u.sku, "not sent") is not None]
            self.env["sale.channel.product"]._record_accepted(accepted)
            self.env["sale.channel.product"]._record_refused(refused)
            sent, failed = sent + len(accepted), failed + len(refused)
            refused_all += refused
            run.write({"sent": sent, "failed": failed, "api_calls": client.http.calls,
                       "progress": round(100 * (done + 1) / len(requests))})
            if commit:
                self.env.cr.commit()
        message = []
        if unknown:
            message.append(_("Not in the store (%(count)s): %(skus)s", count=len(unknown),
                             skus=", ".join(sorted(unknown)[:50])))
        if refused_all:
            message.append(_("Refused: %s", "; ".join(f"{row.sku}: {why}" for row, why in refused_all[:50])))
        run.write({"state": "done", "finished_at": fields.Datetime.now(), "progress": 100,
                   "api_calls": client.http.calls, "message": "\n".join(message) or False})
        if not refused_all:
            self.write({"last_error": False, "last_error_date": False})
        return run

    def _close_interrupted_runs(self):
        """A run still 'running' after an hour was cut short (the worker stopped): say so, so
        that neither the run list nor the progress bar shows it running for ever."""
        stale = self.env["sale.channel.sync"].search([
            ("channel_id", "in", self.ids), ("state", "=", "running"),
            ("started_at", "<", fields.Datetime.now() - timedelta(hours=SYNC_RUN_TIMEOUT_HOURS))])
        stale.write({"state": "failed", "finished_at": fields.Datetime.now(),
                     "message": _("Interrupted: the run stopped before it finished.")})

    def _sync_failed(self, run, client, exc, unsent, sent=0, failed=0):
        """Nothing unsent is marked as sent; with Push on Change it is queued again."""
        _logger.warning("Sales channel %s: stock sync failed: %s", self.id, exc)
        run.write({"state": "failed", "finished_at": fields.Datetime.now(), "message": str(exc),
                   "sent": sent, "failed": failed, "api_calls": client.http.calls if client else 0})
        self.write({"last_error": str(exc), "last_error_date": fields.Datetime.now()})
        if self.push_on_change and unsent:
            unsent.write({"push_queued": True})
        return run

    def _stock_client(self):
        """The API client, knowing where the store keeps stock (Shopify: a location, chosen
        by itself when the shop has only one)."""
        client = self._api_client()
        if self.platform == "shopify" and not self.store_location:
            locations = client.locations()
            if len(locations) != 1:
                raise UserError(_("Choose the Shopify location the stock is sent to: %s",
                                  ", ".join(f"{name} ({ref})" for ref, name in locations) or _("none found")))
            self.store_location = locations[0][0]
            client = self._api_client()
        return client

    def _stock_changes(self, rows, force=False):
        """[(row, StockUpdate)] for the rows whose quantity or price is not what the store last
        accepted (all of them with ``force``), and the prices."""
        available = self.env["sale.channel.stock"]._available(self, rows.product_id.ids)
        prices = self._store_prices(rows.product_id) if self.sync_prices else {}
        changed = []
        for row in rows:
            quantity = available.get(row.product_id.id, 0.0)
            price = prices.get(row.product_id.id)
            if force or not row.last_sync_at or row.last_quantity != quantity or (
                    price is not None and round(row.last_price, 2) != price):
                changed.append((row, StockUpdate(
                    row.sku, Decimal(str(quantity)), row.remote_id or "", row.remote_parent_id or "",
                    Decimal(str(price)) if price is not None else None, row.remote_inventory_id or "")))
        return changed, prices

    def _odoo_skus(self):
        """{SKU: product} of the products this channel may sell (with a SKU)."""
        products = self.env["product.product"].search_fetch(
            [("default_code", "!=", False), ("company_id", "in", [False, self.company_id.id]),
             ("sale_ok", "=", True)], ["default_code"])
        return {p.default_code: p for p in products}

    def _learn_store_products(self, client, recheck=True):
        """Map the SKUs of Odoo's products to the store's ids, asking the store (in pages) for
        new SKUs, and for those it did not know: always with ``recheck`` (Sync Now), otherwise
        once a day, so that products not sold online do not cost look-ups at every run.
        Returns the SKUs the store does not know."""
        known = {row.product_id.id: row for row in self.store_product_ids if row.product_id}
        stale = fields.Datetime.now() - timedelta(hours=UNKNOWN_SKU_RECHECK_HOURS)
        to_ask = [p for p in self._odoo_skus().values()
                  if p.id not in known or (known[p.id].state == "not_in_store" and (
                      recheck or not known[p.id].checked_at or known[p.id].checked_at < stale))]
        if to_ask:
            found = client.find_skus([p.default_code for p in to_ask])
            self._map_store_items(to_ask, found, known)
            Row = self.env["sale.channel.product"]
            Row.flush_model()
            self.env.cr.execute(
                "UPDATE sale_channel_product SET checked_at = %s WHERE channel_id = %s AND product_id = ANY(%s)",
                (fields.Datetime.now(), self.id, [p.id for p in to_ask]))
            Row.invalidate_model(["checked_at"])
        return set(self.store_product_ids.filtered(lambda r: r.state == "not_in_store").mapped("sku"))

    def _map_store_items(self, products, found, known):
        """Create or update the store product rows of ``products`` from the store's items."""
        new_rows = []
        for product in products:
            item = found.get(product.default_code)
            values = {"sku": product.default_code, "state": "mapped" if item else "not_in_store",
                      "remote_id": item.remote_id if item else False,
                      "remote_parent_id": item.remote_parent_id or False if item else False,
                      "remote_inventory_id": item.inventory_id or False if item else False}
            row = known.get(product.id)
            if row is None:
                new_rows.append(dict(values, channel_id=self.id, product_id=product.id))
            elif item and (row.state != "mapped" or (row.remote_id, row.remote_parent_id or "",
                                                     row.remote_inventory_id or "") != item.ids()):
                row.write(values)
            elif not item and row.state == "mapped":
                row.write(values)
        return self.env["sale.channel.product"].create(new_rows)

    def action_reconcile(self):
        """Read every product of the store with its quantity, compare with what Odoo would
        send, and list where they disagree (and the SKUs only one side knows)."""
        self.ensure_one()
        self._check_takes_stock()
        client = self._stock_client()
        try:
            items = {item.sku: item for page in client.catalog() for item in page}
        except ApiError as exc:
            self.write({"last_error": str(exc), "last_error_date": fields.Datetime.now()})
            raise UserError(_("The store did not answer: %s", exc)) from exc
        self.env["sale.channel.product"]._reconcile(self, items)
        action = self.env["ir.actions.act_window"]._for_xml_id("sale_inbox.sale_channel_product_action")
        action["domain"] = [("channel_id", "=", self.id)]
        action["context"] = {"search_default_differences": 1, "default_channel_id": self.id}
        return action

    def _store_prices(self, products):
        """{product id: price the store should show}, in the store's currency, to the cent."""
        pricelist = self.sync_pricelist_id or self.pricelist_id
        if pricelist:
            prices = pricelist._get_products_price(products, 1.0)
            currency = pricelist.currency_id
        else:
            prices = {p.id: p.lst_price for p in products}
            currency = self.company_id.currency_id
        store_currency = self.store_currency_id or currency
        # One rate for the catalog: converting price by price would read the rates each time.
        rate = currency._get_conversion_rate(currency, store_currency, self.company_id, fields.Date.today())
        prices = {pid: price * rate for pid, price in prices.items()}
        if self.store_prices_include_tax:
            # Tax computed in the store's currency, so its rounding is the store's own.
            for product in products:
                taxes = product.taxes_id._filter_taxes_by_company(self.company_id)
                prices[product.id] = taxes.compute_all(
                    prices[product.id], store_currency, 1.0, product=product)["total_included"]
        return {pid: store_currency.round(price) for pid, price in prices.items()}

    def _notify(self, message, kind):
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {"message": message, "type": kind, "sticky": kind == "danger",
                       "next": {"type": "ir.actions.client", "tag": "soft_reload"}},
        }

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if "status_map_ids" not in vals:
                # The platform's default mapping, so that status sync can be turned on at once.
                mapping = platforms.get(vals.get("platform") or "connect").default_status_map
                vals["status_map_ids"] = [Command.create({"odoo_stage": stage, "store_status": status})
                                          for stage, status in mapping.items()]
        channels = super().create(vals_list)
        self.env.registry.clear_cache()
        return channels

    def write(self, vals):
        if vals.get("platform") and "status_map_ids" not in vals:
            # Another store, other statuses: its own default mapping replaces the old one.
            changing = self.filtered(lambda c: c.platform != vals["platform"])
            if changing:
                changing.status_map_ids.unlink()
                mapping = platforms.get(vals["platform"]).default_status_map
                vals = dict(vals, status_map_ids=[Command.create({"odoo_stage": stage, "store_status": status})
                                                  for stage, status in mapping.items()])
        result = super().write(vals)
        # Only what the cached intake look-ups read; a poll's watermark or a sync run's
        # bookkeeping must not flush every worker's caches.
        if INTAKE_CACHED_FIELDS & vals.keys():
            self.env.registry.clear_cache()
        return result

    def unlink(self):
        result = super().unlink()
        self.env.registry.clear_cache()
        return result

    def action_connect(self):
        self.write({"state": "connected", "last_error": False, "last_error_date": False})

    def action_disconnect(self):
        self.write({"state": "disconnected"})

    def action_regenerate_api_key(self):
        for channel in self:
            channel.api_key = secrets.token_urlsafe(32)
            channel.message_post(body=_("A new API key was generated; the old one no longer works."))

    def action_view_inbox(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("sale_inbox.sale_inbox_order_action")
        action["domain"] = [("channel_id", "=", self.id)]
        action["context"] = {"default_channel_id": self.id}
        return action

    def action_process_now(self):
        """Process this channel's waiting orders now rather than at the cron's next run."""
        orders = self.env["sale.inbox.order"].search(
            [("channel_id", "in", self.ids), ("state", "=", "new")]
        )
        if not orders:
            raise UserError(_("No new orders wait in this channel's inbox."))
        orders.action_process()

    @api.model
    def _demo_map_card_payments(self, method_ids):
        """Demo data: map card payments to the company's bank journal (made by its chart)."""
        for method in self.env["sale.channel.payment.method"].browse(method_ids):
            method.journal_id = self.env["account.journal"].search(
                [("type", "=", "bank"), ("company_id", "=", method.company_id.id)], limit=1
            )
