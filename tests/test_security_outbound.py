"""Where Odoo sends a channel's credentials and its own address (issue 10, holes 4, 5, 8).

Store URLs are typed by Sales Inbox managers: they must not lead Odoo, with the channel's
credentials, to this server, the private network or a cloud's metadata service unless an
administrator allows private addresses (the fake stores of the tests are on 127.0.0.1: the
fixtures allow them explicitly, these tests take the allowance away). A store's redirect is
not followed. The webhook URL sent to a store comes from the address an administrator set, not
from the Host header of whoever logged in last.
"""
import json
import re

from odoo.exceptions import UserError, ValidationError
from odoo.tests import HttpCase, TransactionCase, new_test_user, tagged

from odoo.addons.sale_inbox.platforms.http import ApiAddressRefused
from odoo.addons.sale_inbox.platforms.testing import FakeStore

from .common import ALLOW_PRIVATE_PARAM, PUBLIC_URL, PUBLIC_URL_PARAM, allow_local_stores

SECRET_ANSWER = "internal-service: root password is hunter2"


def fake_store(case):
    store = FakeStore()
    store.start()
    case.addCleanup(store.stop)
    return store


@tagged("post_install", "-at_install")
class TestStoreAddresses(TransactionCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        allow_local_stores(cls.env)
        cls.manager = new_test_user(cls.env, "outbound_manager", groups="sale_inbox.group_sale_inbox_manager")

    def disallow(self):
        self.env["ir.config_parameter"].set_param(ALLOW_PRIVATE_PARAM, False)

    def channel(self, platform, store_url, **values):
        values = {"name": f"Outbound {platform}", "platform": platform, "store_url": store_url,
                  "api_login": "ck_key", "api_secret": "secret-token", **values}
        return self.env["sale.channel"].create(values).with_user(self.manager)

    def test_a_store_url_on_this_server_is_refused_without_the_setting(self):
        self.disallow()
        store = fake_store(self)
        store.route("GET", "/admin/api/2025-01/shop.json", status=500, json={"errors": SECRET_ANSWER})
        channel = self.channel("shopify", store.url)
        answer = channel.action_test_connection()
        self.assertEqual(answer["params"]["type"], "danger")
        self.assertIn("loopback", channel.last_error)
        self.assertIn("private store addresses are not allowed", channel.last_error)
        self.assertNotIn("hunter2", channel.last_error)
        self.assertEqual(store.requests, [], "the internal service received nothing")

    def test_a_dns_name_of_this_server_is_refused_too(self):
        self.disallow()
        store = fake_store(self)
        channel = self.channel("woocommerce", store.url.replace("127.0.0.1", "localhost"))
        with self.assertRaisesRegex(UserError, "loopback"):
            channel.action_read_payment_methods()
        self.assertEqual(store.requests, [])

    def test_a_store_url_on_this_server_is_reached_with_the_setting(self):
        store = fake_store(self)
        store.route("GET", "/admin/api/2025-01/shop.json", json={"shop": {"name": "Shop on the LAN"}})
        channel = self.channel("shopify", store.url)
        answer = channel.action_test_connection()
        self.assertEqual(answer["params"]["type"], "success", channel.last_error)
        self.assertEqual(len(store.requests), 1)

    def test_link_local_metadata_addresses_are_refused_even_with_the_setting(self):
        # Decided: the setting admits loopback and private ranges only. 169.254.169.254 serves
        # a cloud machine's credentials, and no store lives on a link-local address.
        channel = self.channel("woocommerce", "http://169.254.169.254/latest/meta-data")
        channel.action_test_connection()
        self.assertIn("link-local", channel.last_error)
        self.assertNotIn("no answer", channel.last_error, "refused before connecting, not timed out")

    def test_the_paypal_verification_obeys_the_setting_too(self):
        # PayPal's API address is a channel field as well, and the verification of every
        # delivery calls it with the channel's secret.
        self.disallow()
        store = fake_store(self)
        channel = self.channel("paypal", store.url, api_login="client", webhook_secret="WH-1")
        headers = {"PAYPAL-TRANSMISSION-ID": "t", "PAYPAL-TRANSMISSION-TIME": "2026-01-01T00:00:00Z",
                   "PAYPAL-TRANSMISSION-SIG": "sig", "PAYPAL-CERT-URL": "https://api.paypal.com/cert",
                   "PAYPAL-AUTH-ALGO": "SHA256withRSA"}
        body = json.dumps({"event_type": "CHECKOUT.ORDER.APPROVED", "resource": {"id": "1"}}).encode()
        with self.assertRaises(ApiAddressRefused):
            channel._platform().verify(headers, body, channel.sudo()._credentials())
        self.assertEqual(store.requests, [])


@tagged("post_install", "-at_install")
class TestStoreSettings(TransactionCase):

    def test_the_settings_write_the_parameters(self):
        self.env["res.config.settings"].create({
            "sale_inbox_public_url": " https://erp.example.com/ ",
            "sale_inbox_allow_private_store_addresses": True,
        }).execute()
        params = self.env["ir.config_parameter"]
        self.assertEqual(params.get_param(PUBLIC_URL_PARAM), "https://erp.example.com")
        self.assertTrue(self.env["sale.channel"]._allow_private_store_addresses())

    def test_a_public_address_must_be_an_address(self):
        for url in ("erp.example.com", "javascript:alert(1)", "https://erp.example.com/?next=evil"):
            with self.subTest(url=url), self.assertRaises(ValidationError):
                self.env["res.config.settings"].create({"sale_inbox_public_url": url})


@tagged("post_install", "-at_install")
class TestPublicAddress(HttpCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        allow_local_stores(cls.env)
        cls.params = cls.env["ir.config_parameter"].sudo()
        cls.params.set_param("web.base.url.freeze", False)

    def mozello(self, store):
        store.route("PUT", "/store/notifications/", json={"error": False})
        return self.env["sale.channel"].create({
            "name": "Mozello", "platform": "mozello", "store_url": store.url, "api_secret": "MZL-key"})

    def login_as_admin_with_host(self, host):
        page = self.url_open("/web/login", headers={"Host": host})
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        answer = self.url_open("/web/login", data={"login": "admin", "password": "admin", "csrf_token": csrf},
                               headers={"Host": host}, allow_redirects=False)
        self.assertEqual(answer.status_code, 303, "the login went through")

    def test_an_admin_login_with_a_crafted_host_does_not_move_the_webhook_url(self):
        store = fake_store(self)
        channel = self.mozello(store)
        before = channel.webhook_url

        self.login_as_admin_with_host("evil.example")

        self.assertIn("evil.example", self.params.get_param("web.base.url"), "the login did rewrite web.base.url")
        channel.invalidate_recordset(["webhook_url"])
        self.assertEqual(channel.webhook_url, before)
        self.assertTrue(before.startswith(PUBLIC_URL + "/sale_inbox/webhook/"))
        channel.action_register_webhook()
        sent = store.calls("PUT", "/store/notifications/")[0].json()["notifications_url"]
        self.assertEqual(sent, before)

    def test_without_a_public_address_no_webhook_url_is_shown_or_registered(self):
        self.params.set_param(PUBLIC_URL_PARAM, False)
        self.params.set_param("web.base.url", "http://evil.example")
        store = fake_store(self)
        channel = self.mozello(store)
        self.assertFalse(channel.webhook_url)
        with self.assertRaisesRegex(UserError, "Public Address for Stores"):
            channel.action_register_webhook()
        self.assertEqual(store.requests, [])

    def test_a_frozen_web_base_url_stands_in_for_the_public_address(self):
        self.params.set_param(PUBLIC_URL_PARAM, False)
        self.params.set_param("web.base.url", "https://frozen.example.com/")
        self.params.set_param("web.base.url.freeze", True)
        store = fake_store(self)
        channel = self.mozello(store)
        self.assertTrue(channel.webhook_url.startswith("https://frozen.example.com/sale_inbox/webhook/"))
