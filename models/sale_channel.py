import logging

from markupsafe import Markup

from odoo import Command, api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tools import str2bool

from odoo.addons.base.models.res_partner import _tz_get

from .. import platforms
from ..platforms import CAPABILITIES, CREDENTIAL_FIELDS
from ..platforms.http import ALLOW_PRIVATE_ADDRESSES, ApiError
from .res_config_settings import ALLOW_PRIVATE_PARAM

_logger = logging.getLogger(__name__)

MANAGER = "sale_inbox.group_sale_inbox_manager"
USER = "sale_inbox.group_sale_inbox_user"

CONNECT_ORDERS_PATH = "/sale_inbox/connect/v1/orders"
WEBHOOK_PATH = "/sale_inbox/webhook"
#: Fields behind _intake_credentials and _webhook_channel_id (ormcached per process).
INTAKE_CACHED_FIELDS = {"api_key", "webhook_token", "active", "push_on_change", "state", "company_id"}
#: Fields people never write (create or write), whatever they send: only the addon's code.
#: The webhook token is the channel's address for its store: unique, and random.
CODE_ONLY_FIELDS = frozenset({"webhook_token"})
#: Payment methods that are not paid when the order is placed (WooCommerce's codes).
OFFLINE_PAYMENT_CODES = {"cod", "bacs", "cheque"}


def check_group_access(records, group, operation):
    """Refuse, before anything else, an action that ``records``' user may not run: the group
    it is reserved to, then the access rights and record rules of ``operation`` (read: a user's
    action; write: a manager's). Buttons hidden in the views stop nobody calling the method
    over RPC. Trusted code running as superuser (the jobs) is not checked.

    Reading a field that is in the transaction's cache checks nothing (a channel read earlier
    through ``sudo()`` reads as well for anyone); ``check_access`` evaluates the access rights,
    then the record rules on the records' own values (a ``filtered_domain`` of the rules' domain,
    as superuser), so such a channel is still refused to a user the rules keep out."""
    if records.env.su:
        return
    if not records.env.user.has_group(group):
        group_name = records.env.ref(group).sudo().full_name
        raise AccessError(records.env._("Only members of %(group)s may do this (%(model)s).",
                                        group=group_name, model=records._description))
    records.check_access(operation)


class SaleChannelOwned(models.AbstractModel):
    """A row that belongs to one channel (its outbox, store products, status mapping, store
    customers, payments mapping, sync runs, the Import Orders wizard): made on a channel the
    user may change, and never moved to another channel by people.

    The record rules of a write are checked on the records as they are before it: a manager's
    row of their own channel, written with ``channel_id`` set to another company's channel,
    would pass them, and the jobs would then act on that channel with its credentials."""

    _name = "channel.owned.mixin"
    _description = "Belongs to a Sales Channel"

    @api.model_create_multi
    def create(self, vals_list):
        records = super().create(vals_list)
        if not self.env.su:
            # After the create, so that a channel given by the context's default is checked too.
            records.channel_id.check_access("write")
        return records

    def write(self, vals):
        if "channel_id" in vals and not self.env.su \
                and any(record.channel_id.id != vals["channel_id"] for record in self):
            # The same channel again is no move (an import of exported rows writes it).
            raise AccessError(self.env._("A %(model)s stays on the channel it was made for.",
                                         model=self._description))
        return super().write(vals)


class SaleChannel(models.Model):
    _name = "sale.channel"
    _description = "Sales Channel"
    _inherit = ["mail.thread", "sale.inbox.job"]
    _order = "sequence, name, id"
    _rec_name = "name"
    _check_company_auto = True

    name = fields.Char(required=True, tracking=True)
    sequence = fields.Integer(default=10)
    platform = fields.Selection(
        selection="_platform_selection",
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
    # A new channel is switched on, so that nothing the store sends while it is being set up
    # (WooCommerce's ping, a first order) is refused; its health light says "Not tested yet"
    # until a Test Connection, a poll or a delivery shows it works.
    state = fields.Selection(
        [("connected", "On"), ("disconnected", "Off")],
        string="Switch",
        required=True,
        default="connected",
        tracking=True,
        help="On: the channel accepts its store's orders and runs its jobs. Off: incoming orders are "
        "refused (503) and no job runs. The switch says nothing about whether the channel works: "
        "that is its health light.",
    )
    last_connection_check = fields.Datetime(readonly=True, copy=False)
    connection_status = fields.Selection(
        [("unknown", "Not tested yet"), ("ok", "Working"), ("error", "Failing")],
        compute="_compute_connection_status",
    )

    # Where orders go.
    warehouse_id = fields.Many2one(
        "stock.warehouse",
        check_company=True,
        help="Warehouse the orders are delivered from. Empty: the company's default.",
    )
    pricelist_id = fields.Many2one("product.pricelist", check_company=True)
    team_id = fields.Many2one("crm.team", string="Sales Team", check_company=True)
    user_id = fields.Many2one("res.users", string="Salesperson", check_company=True,
                              domain=[("share", "=", False)],
                              help="Salesperson of the sales orders made from the channel's orders. "
                              "Empty: the Responsible person.")
    responsible_id = fields.Many2one(
        "res.users", check_company=True, tracking=True,
        domain=[("share", "=", False)],
        default=lambda self: self.env.user.filtered(lambda user: not user._is_superuser()),
        help="The person told when an order of this channel needs review or fails: they get "
        "an activity for it.")
    shipping_product_id = fields.Many2one(
        "product.product",
        check_company=True,
        default=lambda self: self.env.ref("sale_inbox.product_shipping", raise_if_not_found=False),
        help="Shipping charged by the store is added to the order as a line of this product.",
    )

    fee_product_id = fields.Many2one(
        "product.product",
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
    payment_method_ids = fields.One2many(
        "sale.channel.payment.method", "channel_id", string="Payments Mapping"
    )
    store_timezone = fields.Selection(
        _tz_get, string="Store Time Zone",
        help="The time zone the store's API gives its dates in (IdoSell: the shop's own time).",
    )
    inbox_order_ids = fields.One2many("sale.inbox.order", "channel_id", string="Inbox")
    inbox_count = fields.Integer(compute="_compute_inbox_counts", string="Inbox Orders")
    attention_count = fields.Integer(
        compute="_compute_inbox_counts",
        string="Need Attention",
        help="Orders in error or waiting for review.",
    )
    new_count = fields.Integer(compute="_compute_inbox_counts", string="New")
    needs_review_count = fields.Integer(compute="_compute_inbox_counts", string="Needs Review")
    error_count = fields.Integer(compute="_compute_inbox_counts", string="Errors")
    last_error = fields.Text(readonly=True, copy=False)
    last_error_date = fields.Datetime(readonly=True, copy=False)

    # What the platform can do (its can_* flags), for views and checks.
    support_test_connection = fields.Boolean(compute="_compute_support_fields")
    support_poll_orders = fields.Boolean(compute="_compute_support_fields")
    support_sync_stock = fields.Boolean(compute="_compute_support_fields")
    support_sync_prices = fields.Boolean(compute="_compute_support_fields")
    support_reconcile_stock = fields.Boolean(compute="_compute_support_fields")
    support_send_status = fields.Boolean(compute="_compute_support_fields")
    support_read_status = fields.Boolean(compute="_compute_support_fields")
    support_list_payment_methods = fields.Boolean(compute="_compute_support_fields")
    support_register_webhook = fields.Boolean(compute="_compute_support_fields")
    support_list_warehouses = fields.Boolean(compute="_compute_support_fields")
    support_print_labels = fields.Boolean(compute="_compute_support_fields")
    support_cancel_with_reason = fields.Boolean(compute="_compute_support_fields")
    support_read_fees = fields.Boolean(compute="_compute_support_fields")
    support_read_payouts = fields.Boolean(compute="_compute_support_fields")
    is_marketplace = fields.Boolean(compute="_compute_support_fields")
    support_webhooks = fields.Boolean(compute="_compute_support_fields")
    # The label each credential field has for the platform; empty when it does not use it.
    api_key_label = fields.Char(compute="_compute_credential_labels")
    store_url_label = fields.Char(compute="_compute_credential_labels")
    api_login_label = fields.Char(compute="_compute_credential_labels")
    api_secret_label = fields.Char(compute="_compute_credential_labels")
    webhook_secret_label = fields.Char(compute="_compute_credential_labels")
    store_timezone_label = fields.Char(compute="_compute_credential_labels")
    store_location_label = fields.Char(compute="_compute_credential_labels")
    credentials_help = fields.Html(
        compute="_compute_credential_labels", sanitize=False,
        help="What each credential of the channel is, in the store's words.")

    _sql_constraints = [
        ("api_key_digest_unique", "unique(api_key_digest)", "Two channels cannot share an API key."),
    ]

    @api.model
    def _platform_selection(self):
        return [(platform.code, platform.label) for platform in platforms.all_platforms()]

    @api.depends("platform")
    def _compute_support_fields(self):
        for channel in self:
            flags = platforms.get(channel.platform).capabilities() if channel.platform else {}
            for flag in CAPABILITIES:
                channel["support_" + flag.removeprefix("can_")] = flags.get(flag, False)
            platform = platforms.get(channel.platform) if channel.platform else None
            channel.support_webhooks = bool(platform) and platform.sends_webhooks
            channel.is_marketplace = bool(platform) and platform.is_marketplace

    @api.depends("platform")
    def _compute_credential_labels(self):
        for channel in self:
            declared = platforms.get(channel.platform).credentials if channel.platform else ()
            labels = {credential.field: credential.label for credential in declared}
            for name in CREDENTIAL_FIELDS:
                channel[f"{name}_label"] = labels.get(name, False)
            channel.credentials_help = Markup("<dl class='mb-0'>%s</dl>") % Markup().join(
                Markup("<dt>%s</dt><dd>%s</dd>") % (credential.label, credential.help)
                for credential in declared) if declared else False

    @api.constrains("platform", "status_sync", "sync_prices")
    def _check_platform_supports(self):
        """Settings the platform cannot honour are refused rather than silently ignored."""
        for channel in self:
            label = channel._platform().label
            if channel.status_sync in ("to_store", "both") and not channel.support_send_status:
                raise ValidationError(self.env._("%s takes no order statuses from Odoo.", label))
            if channel.status_sync in ("from_store", "both") and not channel.support_read_status:
                raise ValidationError(self.env._("%s tells no order statuses Odoo could follow.", label))
            if channel.sync_prices and not channel.support_sync_prices:
                raise ValidationError(self.env._("%s takes no prices from Odoo: turn Price List Sync off.", label))

    def _check_supports(self, flag, message):
        """Raise UserError(message) unless the channel's platform has the ``can_*`` flag."""
        self.ensure_one()
        if not getattr(self._platform(), flag):
            raise UserError(message)

    @api.depends("last_error", "last_error_date", "last_connection_check", "last_polled_at", "orders_imported_at")
    def _compute_connection_status(self):
        """Whether Odoo reaches the store's API: a successful poll or import shows it as well
        as Test Connection does (a polled channel that polls fine is working, not "not tested")."""
        for channel in self:
            if channel._connection_error():
                channel.connection_status = "error"
            elif channel.last_connection_check or channel._last_api_success():
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
            channel.new_count = counts.get((channel.id, "new"), 0)
            channel.needs_review_count = counts.get((channel.id, "needs_review"), 0)
            channel.error_count = counts.get((channel.id, "error"), 0)
            channel.attention_count = channel.needs_review_count + channel.error_count

    def _platform(self):
        self.ensure_one()
        return platforms.get(self.platform)

    @api.model
    def fields_get(self, allfields=None, attributes=None):
        """``active`` is read-only for whoever may not write channels: the web client then
        offers them no Archive/Unarchive (the server refuses it anyway, by access rights)."""
        res = super().fields_get(allfields, attributes)
        if "active" in res and (not attributes or "readonly" in attributes) \
                and not self.env.su and not self.env.user.has_group(MANAGER):
            res["active"]["readonly"] = True
        return res

    def _check_manager(self):
        """The top of every action that configures a channel or calls its store: managers
        only, and only on channels they may change (their companies)."""
        check_group_access(self, MANAGER, "write")

    def _check_inbox_user(self):
        """The top of the actions a salesperson uses: inbox users, on channels they see."""
        check_group_access(self, USER, "read")

    def _credentials(self):
        """What the platform module needs to verify deliveries and call the API: read as
        superuser, so given only to the jobs and routes (superuser) and to managers of the
        channel (every action that calls the store checks it first; this is the last line)."""
        self.ensure_one()
        self._check_manager()
        channel = self.sudo()
        return {
            "api_key": channel.api_key or "",
            "webhook_secret": channel.webhook_secret or "",
            "api_login": channel.api_login or "",
            "api_secret": channel.api_secret or "",
            "store_url": channel.store_url or "",
            "stock_location": channel.store_location or "",
            "timezone": channel.store_timezone or "",
            # Every client the platform builds, the API's and verification's, obeys the setting.
            ALLOW_PRIVATE_ADDRESSES: channel._allow_private_store_addresses(),
        }

    @api.model
    def _allow_private_store_addresses(self):
        """Whether an administrator lets store URLs lead to this server or the private network
        (Settings); off, the store clients refuse them."""
        value = self.env["ir.config_parameter"].sudo().get_param(ALLOW_PRIVATE_PARAM) or "0"
        return str2bool(value, False)

    def _api_client(self, **http_options):
        self.ensure_one()
        platform = self._platform()
        self._check_supports("can_test_connection", self.env._("%s has no API for Odoo to call: the shop sends its "
                                                      "orders to the channel's address.", platform.label))
        channel = self.sudo()
        missing = [credential.label for credential in platform.credentials
                   if credential.required and not channel[credential.field]]
        if missing:
            raise UserError(self.env._("Set %s first.", ", ".join(missing)))
        return platform.client(self._credentials(), **http_options)

    def action_test_connection(self):
        """Call the store's API once and show whether it works (and why not)."""
        self._check_manager()
        self.ensure_one()
        try:
            shop = self._api_client().test_connection()
        except ApiError as exc:
            _logger.info("Sales channel %s: connection test failed: %r", self.id, str(exc))
            self.write({"last_error": str(exc), "last_error_date": fields.Datetime.now(),
                        "last_connection_check": fields.Datetime.now()})
            return self._notify(self.env._("The store did not accept the connection: %s", exc), "danger")
        self.write({"last_error": False, "last_error_date": False,
                    "last_connection_check": fields.Datetime.now()})
        step = self._next_setup_step()
        if not step:
            return self._notify(self.env._("Connection works: Odoo reached %s.", shop), "success")
        return self._notify(self.env._("Connection works: Odoo reached %(shop)s. Next set-up step: %(step)s.",
                                       shop=shop, step=step), "success")

    def _next_setup_step(self):
        """The title of the first set-up step still to do, in the user's language ('' when none)."""
        from .sale_channel_health import SETUP_STEPS  # noqa: PLC0415 (it extends this model)

        self.invalidate_recordset()
        for name, _title in SETUP_STEPS:
            if self[name] == "todo":
                return self._fields[name].get_description(self.env)["string"]
        return ""

    def action_read_payment_methods(self):
        """Add the store's payment methods to the payments mapping (where its API lists them)."""
        self._check_manager()
        self.ensure_one()
        self._check_supports("can_list_payment_methods", self.env._(
            "%s's API does not list its payment methods: they appear here with the first order "
            "that uses each.", self._platform().label))
        client = self._api_client()
        try:
            methods = client.payment_methods()
        except ApiError as exc:
            raise UserError(self.env._("The store did not answer: %s", exc)) from exc
        known = set(self.payment_method_ids.mapped("code"))
        new = [(code, title) for code, title in methods if code not in known]
        self.env["sale.channel.payment.method"].create([
            {"channel_id": self.id, "code": code, "name": title,
             "means_paid": code not in OFFLINE_PAYMENT_CODES}
            for code, title in new
        ])
        return self._notify(self.env._("%(new)s payment methods added, %(known)s already mapped.",
                              new=len(new), known=len(methods) - len(new)), "success")

    def _notify(self, message, kind):
        """The result of a button as a notification, the user staying where they are.

        ``next`` closes (a wizard's dialog, if any) and hands back to the button's caller,
        which reloads its record: the form shows the result on the same channel. Not
        ``soft_reload``: it restores the form from the props it was opened with, and a form
        opened with *New* then saved has no record id there, so the user landed on a blank
        new channel."""
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {"message": message, "type": kind, "sticky": kind == "danger",
                       "next": {"type": "ir.actions.act_window_close"}},
        }

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            self._check_people_write(vals)
            if not vals.get("status_map_ids"):
                # The platform's default mapping, so that status sync can be turned on at once
                # (the form sends an empty list for the empty table).
                mapping = platforms.get(vals.get("platform") or "connect").default_status_map
                vals["status_map_ids"] = [Command.create({"odoo_stage": stage, "store_status": status})
                                          for stage, status in mapping.items()]
        channels = super().create(vals_list)
        self.env.registry.clear_cache()
        return channels

    def write(self, vals):
        self._check_people_write(vals)
        if "company_id" in vals:
            self._check_company_allowed(vals["company_id"])
            self._check_company_move(vals["company_id"])
        if vals.get("platform") and not vals.get("status_map_ids"):
            # Another store, other statuses: its own default mapping replaces the old one.
            changing = self.filtered(lambda c: c.platform != vals["platform"])
            if changing:
                changing.status_map_ids.unlink()
                mapping = platforms.get(vals["platform"]).default_status_map
                vals = dict(vals, status_map_ids=[Command.create({"odoo_stage": stage, "store_status": status})
                                                  for stage, status in mapping.items()])
        result = super().write(vals)
        if "company_id" in vals:
            # The mapping's journals are the channel's company's (its own check runs only
            # when the mapping itself is written).
            self.payment_method_ids._check_company()
        # Only what the cached intake look-ups read; a poll's watermark or a sync run's
        # bookkeeping must not flush every worker's caches.
        if INTAKE_CACHED_FIELDS & vals.keys():
            self.env.registry.clear_cache()
        return result

    def _check_company_allowed(self, company_id):
        """A channel moves only into a company the user works in: the record rules check the
        channel before the write, not after, so a manager could otherwise hand their channel
        (its orders, its store's credentials) to a company they cannot see."""
        if self.env.su or not company_id:
            return
        if self.env["res.company"].browse(company_id) not in self.env.companies:
            raise AccessError(self.env._("A channel can only be moved into one of your companies."))

    def _check_people_write(self, vals):
        """Fields only the addon's code sets (``CODE_ONLY_FIELDS``), whatever a person sends."""
        written = CODE_ONLY_FIELDS & vals.keys()
        if written and not self.env.su:
            raise AccessError(self.env._("%(fields)s of a channel is set by Odoo only (see its own button).",
                                         fields=", ".join(sorted(written))))

    def _check_company_move(self, company_id):
        """A channel whose orders or store customers already belong to its company stays there:
        they would stay behind (the inbox orders, their sales orders, the contacts), and the
        orders would fail when processed. A new channel is made in the other company instead."""
        moving = self.filtered(lambda c: c.company_id.id != company_id)
        if not moving:
            return
        for model, what in (("sale.inbox.order", self.env._("inbox orders")),
                            ("sale.channel.partner", self.env._("store customers"))):
            # As superuser: they count whether the user sees them or not.
            found = self.env[model].sudo().with_context(active_test=False)._read_group(
                [("channel_id", "in", moving.ids)], ["channel_id"])
            if found:
                channel = found[0][0]
                raise UserError(self.env._(
                    "%(channel)s cannot move to another company: it has %(what)s in %(company)s, "
                    "which would stay there. Create a channel in the other company instead.",
                    channel=channel.display_name, what=what, company=channel.company_id.display_name))

    def unlink(self):
        result = super().unlink()
        self.env.registry.clear_cache()
        return result

    def action_connect(self):
        self._check_manager()
        self.write({"state": "connected", "last_error": False, "last_error_date": False})

    def action_disconnect(self):
        self._check_manager()
        self.write({"state": "disconnected"})

    def action_view_inbox(self):
        self._check_inbox_user()
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("sale_inbox.sale_inbox_order_action")
        action["domain"] = [("channel_id", "=", self.id)]
        action["context"] = {"default_channel_id": self.id}
        return action

    def action_process_now(self):
        """Process this channel's waiting orders now rather than at the cron's next run: a
        salesperson's action (the orders are processed as by the inbox's own Process)."""
        self._check_inbox_user()
        orders = self.env["sale.inbox.order"].search(
            [("channel_id", "in", self.ids), ("state", "=", "new")]
        )
        if not orders:
            # Nothing to do is not an error: a message, not a dialog to dismiss.
            return self._notify(self.env._("Nothing to process: no new orders wait in this channel's inbox."),
                                "info")
        orders.action_process()
        done = orders.filtered(lambda order: order.state == "done")
        if len(done) == len(orders):
            return self._notify(self.env._("%(count)s order(s) processed.", count=len(orders)), "success")
        return self._notify(self.env._(
            "%(done)s of %(count)s order(s) processed; the others wait in the inbox with what stops them.",
            done=len(done), count=len(orders)), "warning")

    @api.model
    def _demo_map_card_payments(self, method_ids):
        """Demo data: map card payments to the company's bank journal (made by its chart)."""
        for method in self.env["sale.channel.payment.method"].browse(method_ids):
            method.journal_id = self.env["account.journal"].search(
                [("type", "=", "bank"), ("company_id", "=", method.company_id.id)], limit=1
            )
