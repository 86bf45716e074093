"""A channel's health light, rule by rule, against a fake WooCommerce; the webhook URL warning;
the Channels overview's 14-day series; and who may archive a channel."""
import base64
import copy
import hashlib
import hmac
import json
import pathlib
from datetime import timedelta

from odoo import fields
from odoo.exceptions import AccessError
from odoo.tests import TransactionCase, new_test_user, tagged

from odoo.addons.sale_inbox.platforms.testing import FakeStore

from .common import PUBLIC_URL_PARAM, InboxFixtures

DATA = pathlib.Path(__file__).resolve().parents[1] / "platforms" / "tests" / "data"
ORDERS = "/wp-json/wc/v3/orders"
SECRET = "wc-health-secret"


class WooChannelCase(InboxFixtures, TransactionCase):
    """A WooCommerce channel and a fake WooCommerce store started for each test."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_inbox()
        cls.woo = cls.env["sale.channel"].create({
            "name": "Health Woo", "platform": "woocommerce", "api_login": "ck", "api_secret": "cs",
            "webhook_secret": SECRET, "store_url": "https://placeholder.example"})
        cls.order_json = json.loads((DATA / "woocommerce_order.json").read_text())

    def setUp(self):
        super().setUp()
        self.store = FakeStore()
        self.store.start()
        self.addCleanup(self.store.stop)
        self.woo.store_url = self.store.url

    def order(self, **changes):
        data = copy.deepcopy(self.order_json)
        data.update(changes)
        return data

    def webhook(self, data, channel=None):
        """A signed webhook delivery, as the webhook route hands it to intake."""
        channel = channel or self.woo
        body = json.dumps(data).encode()
        signature = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
        return self.env["sale.inbox.order"].sudo()._intake_delivery(channel, body, "application/json", headers={
            "X-WC-Webhook-Topic": "order.created", "X-WC-Webhook-Resource": "order",
            "X-WC-Webhook-Signature": signature})

    def poll(self, orders=()):
        self.store.route("GET", ORDERS, headers={"X-WP-TotalPages": "1"}, json=list(orders))
        self.woo.poll_orders = True
        self.env["sale.channel"]._cron_poll_orders()

    def light(self, channel=None):
        channel = channel or self.woo
        channel.invalidate_recordset()
        return channel.health, channel.health_reason


@tagged("post_install", "-at_install")
class TestChannelHealth(WooChannelCase):

    def test_new_channel_is_amber_not_tested_yet(self):
        self.assertEqual(self.woo.state, "connected", "switched on, so that nothing the store sends is refused")
        health, reason = self.light()
        self.assertEqual(health, "amber")
        self.assertIn("Not tested yet", reason)
        self.assertEqual(self.woo.connection_status, "unknown")

    def test_polled_channel_that_polls_fine_is_green(self):
        self.poll()
        self.assertTrue(self.woo.last_polled_at)
        health, reason = self.light()
        self.assertEqual((health, self.woo.connection_status), ("green", "ok"), reason)
        self.assertIn("last polled", reason)

    def test_connection_error_is_red_until_a_poll_succeeds(self):
        self.store.route("GET", ORDERS, status=401, json={"code": "woocommerce_rest_cannot_view",
                                                          "message": "Sorry, you cannot list resources."})
        action = self.woo.action_test_connection()
        self.assertEqual(action["params"]["type"], "danger")
        health, reason = self.light()
        self.assertEqual((health, self.woo.connection_status), ("red", "error"))
        self.assertIn("Failing", reason)
        self.assertIn("401", reason)
        # The store accepts the keys again: the next successful poll shows the channel working.
        self.woo.last_error_date = fields.Datetime.now() - timedelta(minutes=5)
        self.poll()
        self.assertEqual(self.light()[0], "green")

    def test_import_orders_shows_the_connection_works(self):
        self.store.route("GET", ORDERS, status=401, json={"message": "Sorry, you cannot list resources."})
        self.woo.action_test_connection()
        self.assertEqual(self.light()[0], "red")
        self.woo.last_error_date = fields.Datetime.now() - timedelta(minutes=5)
        self.store.route("GET", ORDERS, headers={"X-WP-TotalPages": "1"}, json=[])
        self.env["sale.channel.import"].create({"channel_id": self.woo.id, "days": 3}).action_import()
        self.assertEqual(self.light()[0], "green")
        self.assertEqual(self.woo.connection_status, "ok")

    def test_poll_that_stopped_is_red(self):
        self.poll()
        self.woo.last_polled_at = fields.Datetime.now() - timedelta(hours=3)
        health, reason = self.light()
        self.assertEqual(health, "red")
        self.assertIn("No successful poll since", reason)
        self.woo.action_disconnect()
        self.assertEqual(self.light()[0], "green", "a switched-off channel is not polled: no fault")

    def test_failed_poll_is_red_and_recorded(self):
        self.store.route("GET", ORDERS, responses=[(200, {"Content-Type": "text/html"}, b"<html>maintenance</html>")])
        self.woo.poll_orders = True
        self.env["sale.channel"]._cron_poll_orders()
        self.assertFalse(self.woo.last_polled_at)
        health, _reason = self.light()
        self.assertEqual(health, "red")

    def test_orders_only_through_the_poll_are_amber_until_a_webhook_arrives(self):
        self.poll([self.order()])
        self.assertFalse(self.woo.last_received_at, "a poll is not the store reaching Odoo")
        health, reason = self.light()
        self.assertEqual(health, "amber")
        self.assertIn("no webhook from the store yet", reason)
        result = self.webhook(self.order(id=5822, number="5822"))
        self.assertEqual(result.status, "created")
        self.assertTrue(self.woo.last_received_at)
        self.assertEqual(self.light()[0], "green")
        # Webhooks stopped a while ago, the poll still brings orders.
        self.woo.last_received_at = fields.Datetime.now() - timedelta(hours=5)
        self.poll([self.order(id=5823, number="5823")])
        health, reason = self.light()
        self.assertEqual(health, "amber")
        self.assertIn("last webhook came", reason)

    def test_delivery_time_is_written_at_most_once_a_minute(self):
        recent = fields.Datetime.now() - timedelta(seconds=30)
        self.woo.last_received_at = recent
        self.webhook(self.order())
        self.assertEqual(self.woo.last_received_at, recent)
        self.woo.last_received_at = fields.Datetime.now() - timedelta(minutes=2)
        self.webhook(self.order(id=5822, number="5822"))
        self.assertGreater(self.woo.last_received_at, recent)

    def test_refused_webhook_does_not_count(self):
        body = json.dumps(self.order()).encode()
        result = self.env["sale.inbox.order"].sudo()._intake_delivery(
            self.woo, body, "application/json", headers={"X-WC-Webhook-Signature": "forged"})
        self.assertEqual(result.status, "unauthorized")
        self.assertFalse(self.woo.last_received_at)

    def test_refused_order_statuses_are_amber(self):
        self.poll()
        partner = self.env["res.partner"].create({"name": "Outbox customer"})
        order = self.env["sale.order"].create({"partner_id": partner.id})
        outbox = self.env["sale.channel.outbox"].create({
            "channel_id": self.woo.id, "sale_order_id": order.id, "external_id": "5821",
            "store_status": "completed", "state": "failed", "last_error": "refused"})
        health, reason = self.light()
        self.assertEqual(health, "amber")
        self.assertIn("refused by the store", reason)
        outbox.state = "sent"
        self.assertEqual(self.light()[0], "green")

    def test_failed_stock_sync_and_refused_quantities_are_amber(self):
        self.poll()
        run = self.env["sale.channel.sync"].create({"channel_id": self.woo.id, "trigger": "manual"})
        run.write({"state": "failed", "message": "The store did not answer"})
        health, reason = self.light()
        self.assertEqual(health, "amber")
        self.assertIn("The last stock sync failed: The store did not answer", reason)
        self.env["sale.channel.sync"].create({"channel_id": self.woo.id, "trigger": "manual"}).state = "done"
        self.assertEqual(self.light()[0], "green", "the last run counts")
        self.env["sale.channel.product"].create({
            "channel_id": self.woo.id, "sku": "SI-MUG", "remote_id": "11", "state": "mapped",
            "last_error": "invalid quantity"})
        health, reason = self.light()
        self.assertEqual(health, "amber")
        self.assertIn("quantities of 1 products", reason)

    def test_marketplace_money_read_failure_is_amber_until_read(self):
        # Not tested yet and its webhooks silent: the failed read still is what the light says.
        self.woo.sudo().fees_last_error = "Ozon /v3/finance/transaction/list: Api-Key is missing a required role"
        health, reason = self.light()
        self.assertEqual(health, "amber")
        self.assertIn("Reading the marketplace's money failed: Ozon /v3/finance/transaction/list", reason)
        self.woo.sudo().write({"fees_last_error": False, "payouts_last_error": "The store did not answer"})
        self.assertIn("The store did not answer", self.light()[1])
        self.woo.sudo().payouts_last_error = False
        self.assertNotIn("marketplace", self.light()[1], "a successful read clears the error")
        self.poll()
        self.assertEqual(self.light()[0], "green")

    def test_health_of_many_channels_in_a_constant_number_of_queries(self):
        def queries(channels):
            channels.invalidate_recordset()
            before = self.env.cr.sql_log_count
            channels.mapped("health")
            return self.env.cr.sql_log_count - before

        few = self.woo | self.channel
        many = few | self.env["sale.channel"].create([
            {"name": f"Woo {n}", "platform": "woocommerce"} for n in range(5)])
        self.assertEqual(queries(few), queries(many))
        self.assertEqual(set(many.mapped("health")) - {"green", "amber", "red"}, set())


@tagged("post_install", "-at_install")
class TestWebhookUrlWarning(InboxFixtures, TransactionCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_inbox()

    def warning(self, public_url, platform="woocommerce"):
        self.env["ir.config_parameter"].sudo().set_param(PUBLIC_URL_PARAM, public_url)
        channel = self.env["sale.channel"].create({"name": "W", "platform": platform})
        return channel.webhook_url_warning

    def test_public_https_address_has_no_warning(self):
        self.assertFalse(self.warning("https://odoo.example.com"))

    def test_localhost_warns_and_says_where_to_fix_it(self):
        for url in ("http://localhost:8069", "https://127.0.0.1", "https://10.1.2.3", "https://[::1]:8069",
                    "https://169.254.1.1", "https://odoo.local", "https://erp"):
            with self.subTest(url=url):
                warning = self.warning(url)
                self.assertIn("the store cannot reach it", warning or "")
                self.assertIn("Public Address for Stores", warning)

    def test_plain_http_warns(self):
        self.assertIn("https addresses only", self.warning("http://odoo.example.com", "shopify"))
        self.assertIn("unencrypted", self.warning("http://odoo.example.com", "woocommerce"))

    def test_no_public_address_warns(self):
        self.assertIn("No public address", self.warning(""))


@tagged("post_install", "-at_install")
class TestChannelsOverview(InboxFixtures, TransactionCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_inbox()

    def received(self, external_id, days_ago):
        order = self.receive(self.order_data(external_id))
        self.env.cr.execute("UPDATE sale_inbox_order SET received_at = %s WHERE id = %s",
                            (fields.Datetime.now() - timedelta(days=days_ago), order.id))
        order.invalidate_recordset()
        return order

    def test_fourteen_day_series_counts_orders_per_day(self):
        other = self.env["sale.channel"].create({"name": "Quiet", "platform": "connect"})
        for external_id, days_ago in (("A", 0), ("B", 0), ("C", 3), ("D", 20)):
            self.received(external_id, days_ago)
        channels = (self.channel | other).with_context(tz="UTC")
        graph = json.loads(channels[0].dashboard_graph)[0]
        values = [point["value"] for point in graph["values"]]
        self.assertEqual(len(values), 14)
        self.assertEqual((values[-1], values[-4], sum(values)), (2, 1, 3), "20 days ago is left out")
        quiet = json.loads(channels[1].dashboard_graph)[0]
        self.assertEqual(sum(point["value"] for point in quiet["values"]), 0)

    def test_counts_to_do_open_the_filtered_inbox(self):
        self.received("A", 0)
        self.channel.invalidate_recordset()
        self.assertEqual(self.channel.new_count, 1)
        action = self.channel.with_context(inbox_state="needs_review").action_open_inbox_state()
        self.assertEqual(action["domain"], [("channel_id", "=", self.channel.id), ("state", "=", "needs_review")])


@tagged("post_install", "-at_install")
class TestChannelArchive(InboxFixtures, TransactionCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_inbox()
        cls.user = new_test_user(cls.env, "health_user", groups="sale_inbox.group_sale_inbox_user")
        cls.manager = new_test_user(cls.env, "health_manager", groups="sale_inbox.group_sale_inbox_manager")

    def test_users_cannot_archive_channels(self):
        as_user = self.channel.with_user(self.user)
        self.assertTrue(as_user.fields_get(["active"])["active"]["readonly"], "no Archive in the user's menus")
        with self.assertRaises(AccessError):
            as_user.action_archive()
        with self.assertRaises(AccessError):
            as_user.write({"active": False})
        self.assertTrue(self.channel.active)

    def test_managers_can_archive_channels(self):
        as_manager = self.channel.with_user(self.manager)
        self.assertFalse(as_manager.fields_get(["active"])["active"].get("readonly"))
        as_manager.action_archive()
        self.assertFalse(self.channel.active)
