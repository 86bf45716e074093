"""How a channel recognises its deliveries: API keys, webhook addresses, cached look-ups."""
import hmac
import ipaddress
import logging
import secrets
from datetime import timedelta
from urllib.parse import urlsplit

from psycopg2 import errors as pg_errors

from odoo import api, fields, models, tools
from odoo.exceptions import UserError
from odoo.tools import str2bool

from ..platforms.connect import key_digest
from ..platforms.http import ApiError, address_refusal
from .res_config_settings import PUBLIC_URL_PARAM
from .sale_channel import CONNECT_ORDERS_PATH, MANAGER, WEBHOOK_PATH

_logger = logging.getLogger(__name__)

#: How stale a channel's "last delivery" may get before intake writes it again: one UPDATE per
#: channel per minute at most, however many orders arrive.
RECEIVED_WRITE_INTERVAL = timedelta(minutes=1)
#: Intake results that show the store reached the channel's address with its secret (the
#: set-up ping comes to the secret URL too); refusals and a switched-off channel do not count.
REACHED_STATUSES = frozenset({"created", "known", "unreadable", "invalid", "ignored", "handshake"})
#: Stores that deliver webhooks to https addresses only (Shopify signs only HTTPS deliveries).
HTTPS_ONLY_PLATFORMS = frozenset({"shopify", "paypal", "mozello"})
#: Host names that never lead anywhere from the internet.
LOCAL_NAME_SUFFIXES = (".localhost", ".local", ".localdomain", ".internal", ".lan", ".home.arpa", ".test",
                       ".invalid", ".example")


class SaleChannel(models.Model):
    _inherit = "sale.channel"

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
    # Set by the addon only (CODE_ONLY_FIELDS): a new one with New Webhook Address.
    webhook_token = fields.Char(
        copy=False,
        readonly=True,
        default=lambda self: secrets.token_urlsafe(24),
        help="Identifies the channel in its webhook URL.",
    )
    api_key_digest = fields.Char(
        compute="_compute_api_key_digest", store=True, index=True, groups=MANAGER, copy=False
    )
    webhook_url = fields.Char(
        string="Webhook URL",
        compute="_compute_webhook_url",
        help="Paste this address in the store's settings: orders are sent there.",
    )
    webhook_url_warning = fields.Text(
        compute="_compute_webhook_url",
        help="Why the store could not use the Webhook URL as it is, and how to mend it.")
    last_received_at = fields.Datetime(
        string="Last Delivery", readonly=True, copy=False,
        help="When the store last reached the channel's address (a webhook, the Connect API, "
        "the store's set-up ping), to the minute. Orders read by the poll or Import Orders "
        "do not count.")

    _sql_constraints = [
        # One URL, one channel (the unique index also serves the webhook look-up).
        ("webhook_token_unique", "unique(webhook_token)", "Two channels cannot share a webhook address."),
    ]

    @api.depends("api_key")
    def _compute_api_key_digest(self):
        for channel in self:
            channel.api_key_digest = key_digest(channel.api_key) if channel.api_key else False

    @api.depends("platform", "webhook_token")
    def _compute_webhook_url(self):
        base_url = self._public_base_url()
        for channel in self:
            channel.webhook_url = base_url + channel._webhook_path() if base_url else False
            channel.webhook_url_warning = channel._webhook_url_problem(base_url) or False

    def _webhook_url_problem(self, base_url):
        """Why the store could not deliver to a webhook URL starting with ``base_url`` ('' when
        it can, as far as the address tells): no address set, one that leads nowhere from the
        internet (this server, the private network, link-local), or plain http where the store
        wants https. Judged from the address alone: no name is looked up (it would slow the
        form down, and this server's view of its own name is not the internet's)."""
        self.ensure_one()
        fix = self.env._("Set the address the internet reaches this Odoo at (https://…) in Settings → Sales → "
                         "Sales Inbox → Public Address for Stores, then copy the Webhook URL.")
        if not base_url:
            return self.env._("No public address for stores is set, so the channel has no Webhook URL yet. %s", fix)
        parts = urlsplit(base_url)
        host = (parts.hostname or "").lower().rstrip(".")
        why = _unreachable_host(self.env, host)
        if why:
            return self.env._("The Webhook URL leads to %(host)s, %(why)s: the store cannot reach it. %(fix)s",
                              host=host or "?", why=why, fix=fix)
        if parts.scheme != "https":
            if self.platform in HTTPS_ONLY_PLATFORMS:
                return self.env._("The Webhook URL is plain http: %(store)s sends its orders to https addresses "
                                  "only. %(fix)s", store=self._platform().label, fix=fix)
            return self.env._("The Webhook URL is plain http: orders and the customers' details would cross "
                              "the internet unencrypted. %s", fix)
        return ""

    def _note_delivery_received(self):
        """Remember that the store reached the channel now, for its health light.

        Intake's cost: nothing when the time kept is under a minute old (read with the channel
        already loaded); else one UPDATE, which skips a channel row that another transaction
        holds (a poll writing its watermark) rather than wait for it: the next delivery writes
        it. In a repeatable-read transaction a row changed by a transaction committed since
        cannot be updated either: the same, in a savepoint, so the intake goes on."""
        self.ensure_one()
        now = fields.Datetime.now()
        if self.last_received_at and self.last_received_at > now - RECEIVED_WRITE_INTERVAL:
            return
        self.flush_recordset(["last_received_at"])
        try:
            with self.env.cr.savepoint(flush=False):
                self.env.cr.execute(
                    """
                    UPDATE sale_channel SET last_received_at = %(now)s
                     WHERE id IN (SELECT id FROM sale_channel
                                   WHERE id = %(id)s AND (last_received_at IS NULL OR last_received_at < %(stale)s)
                                     FOR NO KEY UPDATE SKIP LOCKED)
                    """,
                    {"now": now, "id": self.id, "stale": now - RECEIVED_WRITE_INTERVAL},
                )
        except pg_errors.SerializationFailure:
            _logger.debug("Sales channel %s: its last delivery time is left to the next delivery", self.id)
        self.invalidate_recordset(["last_received_at"])

    @api.model
    def _public_base_url(self):
        """The address stores reach this Odoo at, as an administrator set it ('' when unset).

        Not web.base.url as such: an administrator's login rewrites it from the request's Host
        header, which anyone can craft, and Register Webhook would send it to the store. A
        web.base.url frozen by an administrator (web.base.url.freeze) stands in for the setting.
        """
        params = self.env["ir.config_parameter"].sudo()
        url = params.get_param(PUBLIC_URL_PARAM) or ""
        if not url and str2bool(params.get_param("web.base.url.freeze") or "0", False):
            url = params.get_param("web.base.url") or ""
        return url.strip().rstrip("/")

    def _store_webhook_url(self):
        """The webhook URL to send to the store: built from the setting, else refused."""
        self.ensure_one()
        base_url = self._public_base_url()
        if not base_url:
            raise UserError(self.env._(
                "Set the Public Address for Stores first (Settings → Sales → Sales Inbox): the address "
                "the store sends its orders to is built from it."))
        return base_url + self._webhook_path()

    def _webhook_path(self):
        self.ensure_one()
        if self.platform == "connect":
            return CONNECT_ORDERS_PATH
        return f"{WEBHOOK_PATH}/{self.webhook_token}"

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
        workers (Odoo signals registry cache invalidations through the database).

        The cache is shared by every caller whatever their user or company: the answer must
        not depend on who asks, hence plain SQL (no record rules, no context), and it names
        a channel only to whoever presents that channel's own secret. Never read it through
        the ORM of the calling user here, nor call it with anything but the secret."""
        self.env.cr.execute(
            "SELECT id, api_key FROM sale_channel WHERE api_key_digest = %s", (digest,)
        )
        row = self.env.cr.fetchone()
        return tuple(row) if row else None

    @api.model
    def _find_by_webhook_token(self, token):
        """The channel of a webhook URL, or an empty recordset."""
        channel_id = self._webhook_channel_id(token) if token else None
        return self.browse(channel_id).sudo() if channel_id else self.browse()

    @api.model
    @tools.ormcache("token")
    def _webhook_channel_id(self, token):
        # Shared by every caller, like _intake_credentials: plain SQL, keyed by the secret only
        # (a new token written in this transaction is flushed first).
        self.flush_model(["webhook_token", "active"])
        self.env.cr.execute(
            "SELECT id FROM sale_channel WHERE webhook_token = %s AND active", (token,)
        )
        row = self.env.cr.fetchone()
        return row[0] if row else None

    def action_register_webhook(self):
        """Point the store's order notifications at this channel (where its API allows)."""
        self._check_manager()
        self.ensure_one()
        self._check_supports("can_register_webhook", self.env._(
            "Odoo cannot set %s's webhooks: create the webhook in the store's admin, as the set-up "
            "steps say.", self._platform().label))
        url = self._store_webhook_url()
        client = self._api_client()
        try:
            client.set_notifications(url)
        except ApiError as exc:
            raise UserError(self.env._("The store did not accept the address: %s", exc)) from exc
        return self._notify(self.env._("The store now sends its orders to %s.", url), "success")

    def action_new_webhook_token(self):
        """A new webhook address (the old one stops at once): the store must be given the new
        Webhook URL (Register Webhook, or its admin)."""
        self._check_manager()
        for channel in self:
            channel.sudo().webhook_token = secrets.token_urlsafe(24)
            channel.message_post(body=self.env._(
                "A new webhook address was made; the old one no longer works: give the store the new Webhook URL."))

    def action_regenerate_api_key(self):
        self._check_manager()
        for channel in self:
            channel.api_key = secrets.token_urlsafe(32)
            channel.message_post(body=self.env._("A new API key was generated; the old one no longer works."))


def _unreachable_host(env, host):
    """Why ``host`` (a name or an IP address) cannot be reached from the internet, else ''."""
    if not host:
        return env._("no host")
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        if host == "localhost" or host.endswith(LOCAL_NAME_SUFFIXES):
            return env._("a name only this server or its own network knows")
        if "." not in host:
            return env._("a name without a domain, known only on the local network")
        return ""
    return address_refusal(host.strip("[]"), allow_private=False).removesuffix(
        ", and private store addresses are not allowed")

