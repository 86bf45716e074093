"""The Odoo side reads what each platform declares: the platform list, the support_* fields,
the credentials a channel shows, and clear refusals of what a store cannot do."""
import json

from odoo.exceptions import UserError, ValidationError
from odoo.tests import Form, TransactionCase, tagged

from odoo.addons.sale_inbox import platforms
from odoo.addons.sale_inbox.platforms import CAPABILITIES, CREDENTIAL_FIELDS
from odoo.addons.sale_inbox.platforms.base import Credential, Delivery, Platform
from odoo.addons.sale_inbox.platforms.testing import FakeStore

from .common import allow_local_stores


class Marketplace(Platform):
    """A platform as another addon would bring it: webhooks only, one credential."""

    code = "test_marketplace"
    label = "Test Marketplace"
    credentials = (Credential("webhook_secret", "Seller Token", "The marketplace's seller token."),)

    def verify(self, headers, body, credentials):
        if headers.get("X-Token") != credentials.get("webhook_secret"):
            raise platforms.AuthenticationError("wrong token")

    def parse(self, body, content_type="application/json"):
        return Delivery(external_id=str(json.loads(body)["id"]))


@tagged("post_install", "-at_install")
class TestPlatformCapabilities(TransactionCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        allow_local_stores(cls.env)
        cls.store = FakeStore()
        cls.store.start()
        cls.addClassCleanup(cls.store.stop)
        Channel = cls.env["sale.channel"]
        cls.channels = {
            platform.code: Channel.create({
                "name": platform.label, "platform": platform.code, "store_url": cls.store.url,
                "api_login": "login", "api_secret": "secret",
            })
            for platform in platforms.all_platforms()
        }

    def test_the_platform_list_is_the_registry(self):
        field = self.env["sale.channel"]._fields["platform"]
        self.assertEqual(field._description_selection(self.env),
                         [(p.code, p.label) for p in platforms.all_platforms()])
        self.assertEqual(self.env["sale.inbox.order"]._fields["platform"].get_values(self.env),
                         [p.code for p in platforms.all_platforms()])

    def test_support_fields_follow_the_platform(self):
        for code, channel in self.channels.items():
            platform = platforms.get(code)
            for flag in CAPABILITIES:
                self.assertEqual(channel["support_" + flag.removeprefix("can_")], getattr(platform, flag),
                                 f"{code}: {flag}")
        channel = self.channels["connect"]
        self.assertFalse(channel.support_sync_stock)
        channel.platform = "shopify"
        self.assertTrue(channel.support_sync_stock)
        self.assertTrue(channel.support_reconcile_stock)
        self.assertFalse(channel.support_register_webhook)
        # IdoSell sends no webhooks: its channel shows no webhook address.
        self.assertTrue(channel.support_webhooks)
        self.assertFalse(self.channels["idosell"].support_webhooks)

    def test_a_channel_saved_from_the_form_gets_its_platform_status_mapping(self):
        # The form sends the empty mapping table as an empty list.
        channel = self.env["sale.channel"].create({"name": "From the form", "platform": "woocommerce",
                                                   "status_map_ids": []})
        self.assertEqual(len(channel.status_map_ids), len(platforms.get("woocommerce").default_status_map))
        channel.write({"status_sync": "to_store"})
        channel.write({"platform": "shopify", "status_map_ids": []})
        self.assertEqual(set(channel.status_map_ids.mapped("store_status")),
                         set(platforms.get("shopify").default_status_map.values()))

    def test_a_channel_shows_the_credentials_its_platform_declares(self):
        for code, channel in self.channels.items():
            declared = {c.field: c.label for c in platforms.get(code).credentials}
            shown = {name: channel[f"{name}_label"] for name in CREDENTIAL_FIELDS if channel[f"{name}_label"]}
            self.assertEqual(shown, declared, code)
        woo = self.channels["woocommerce"]
        self.assertEqual((woo.api_login_label, woo.api_secret_label), ("Consumer Key", "Consumer Secret"))
        self.assertFalse(woo.store_timezone_label)
        self.assertIn("consumer secret", woo.credentials_help)
        self.assertEqual(self.channels["paypal"].webhook_secret_label, "Webhook ID")
        self.assertEqual(self.channels["idosell"].store_location_label, "Stock ID")

    def test_what_a_store_cannot_do_is_refused_clearly(self):
        with self.assertRaisesRegex(UserError, "cannot set WooCommerce's webhooks"):
            self.channels["woocommerce"].action_register_webhook()
        wizard = self.env["sale.channel.import"].create({"channel_id": self.channels["paypal"].id, "days": 3})
        with self.assertRaisesRegex(UserError, "PayPal Checkout has no list of orders"):
            wizard.action_import()
        with self.assertRaisesRegex(UserError, "Shopify's API does not list its payment methods"):
            self.channels["shopify"].action_read_payment_methods()
        with self.assertRaisesRegex(UserError, "Connect has no API for Odoo to call"):
            self.channels["connect"].action_test_connection()
        with self.assertRaisesRegex(UserError, "PayPal Checkout takes no stock"):
            self.channels["paypal"].action_sync_now()
        # Refused before any call to the store.
        self.assertFalse(self.store.requests)

    def test_the_api_is_not_called_without_the_required_credentials(self):
        woo = self.channels["woocommerce"]
        woo.api_login = False
        with self.assertRaisesRegex(UserError, "Set Consumer Key first"):
            woo.action_test_connection()
        self.assertFalse(self.store.requests)

    def test_settings_a_store_cannot_honour_are_refused(self):
        with self.assertRaisesRegex(ValidationError, "IdoSell takes no prices"):
            self.channels["idosell"].sync_prices = True
        self.channels["woocommerce"].sync_prices = True
        with self.assertRaises(ValidationError):
            self.channels["woocommerce"].platform = "idosell"

    def test_a_new_channel_takes_the_platform_defaults(self):
        form = Form(self.env["sale.channel"])
        form.name = "Shop"
        form.platform = "idosell"
        self.assertTrue(form.poll_orders)
        self.assertEqual(form.store_timezone, "Europe/Warsaw")
        form.platform = "shopify"
        self.assertFalse(form.poll_orders)
        form.platform = "woocommerce"
        self.assertTrue(form.poll_orders)

    def test_another_addon_can_add_a_platform(self):
        platforms.register(Marketplace())
        self.addCleanup(platforms.unregister, Marketplace.code)
        self.assertIn((Marketplace.code, Marketplace.label),
                      self.env["sale.channel"]._fields["platform"]._description_selection(self.env))
        channel = self.env["sale.channel"].create({"name": "Market", "platform": Marketplace.code,
                                                   "webhook_secret": "t0ken"})
        self.assertFalse(any(channel["support_" + flag.removeprefix("can_")] for flag in CAPABILITIES))
        self.assertEqual(channel.webhook_secret_label, "Seller Token")
        self.assertFalse(channel.api_secret_label)
        body = json.dumps({"id": 7}).encode()
        self.assertEqual(channel._platform().parse(body).external_id, "7")
        with self.assertRaisesRegex(UserError, "Test Marketplace has no list of orders"):
            channel._import_orders(channel.create_date)
