"""A new channel's set-up steps through a WooCommerce channel's life, against a fake
WooCommerce; the status mapping made on creation; buttons that leave the user on the channel."""
import base64
import hashlib
import hmac
import json
import pathlib

from odoo.tests import Form, TransactionCase, tagged

from odoo.addons.sale_inbox.models.sale_channel_health import SETUP_STEPS
from odoo.addons.sale_inbox.platforms.base import ODOO_STAGES

from .common import StockFixtures

DATA = pathlib.Path(__file__).resolve().parents[1] / "platforms" / "tests" / "data"
ORDERS = "/wp-json/wc/v3/orders"
PRODUCTS = "/wp-json/wc/v3/products"
SECRET = "wc-setup-secret"
#: What a button's notification does next: close (a wizard) and reload the record it was
#: pressed on, the user staying on the same channel.
STAY = {"type": "ir.actions.act_window_close"}


@tagged("post_install", "-at_install")
class TestChannelSetup(StockFixtures, TransactionCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_stock()

    def steps(self, channel):
        channel.invalidate_recordset()
        return {name.removeprefix("setup_"): channel[name] for name, _title in SETUP_STEPS}

    def webhook(self, channel, data):
        body = json.dumps(data).encode()
        signature = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
        return self.env["sale.inbox.order"].sudo()._intake_delivery(channel, body, "application/json", headers={
            "X-WC-Webhook-Topic": "order.created", "X-WC-Webhook-Resource": "order",
            "X-WC-Webhook-Signature": signature})

    def test_woocommerce_channel_follows_its_steps(self):
        store = self.start_store()
        channel = self.env["sale.channel"].create({
            "name": "New Woo", "platform": "woocommerce", "warehouse_id": self.warehouse.id})
        self.assertEqual(set(self.steps(channel).values()), {"todo"})
        self.assertFalse(channel.setup_complete)
        self.assertEqual(channel.health, "amber")

        channel.write({"store_url": store.url, "api_login": "ck_new", "api_secret": "cs_new", "webhook_secret": SECRET})
        self.assertEqual(self.steps(channel)["credentials"], "done")

        store.route("GET", ORDERS, headers={"X-WP-TotalPages": "1"}, json=[])
        action = channel.action_test_connection()
        self.assertEqual((action["params"]["type"], action["params"]["next"]), ("success", STAY))
        self.assertEqual(self.steps(channel)["test"], "done")

        store.route("GET", "/wp-json/wc/v3/payment_gateways", json=[
            {"id": "stripe", "title": "Credit card", "enabled": True},
            {"id": "cod", "title": "Cash on delivery", "enabled": True}])
        self.assertEqual(channel.action_read_payment_methods()["params"]["next"], STAY)
        self.assertEqual(self.steps(channel)["payments"], "todo", "card payments have no journal yet")
        channel.payment_method_ids.filtered(lambda m: m.code == "stripe").journal_id = self.bank
        self.assertEqual(self.steps(channel)["payments"], "done")

        store.route("GET", PRODUCTS, headers={"X-WP-TotalPages": "1"},
                    json=[{"id": 11, "sku": "SI-MUG", "parent_id": 0}])
        store.route("POST", f"{PRODUCTS}/batch",
                    handler=lambda request: (200, {}, {"update": request.json()["update"]}))
        self.assertEqual(channel.action_sync_now()["params"]["next"], STAY)
        run = channel._sync_stock()
        self.assertEqual(run.state, "done", run.message)
        self.assertEqual(self.steps(channel)["products"], "done")

        order = json.loads((DATA / "woocommerce_order.json").read_text())
        store.route("GET", ORDERS, headers={"X-WP-TotalPages": "1"}, json=[order])
        wizard = self.env["sale.channel.import"].create({"channel_id": channel.id, "days": 30})
        self.assertEqual(wizard.action_import()["params"]["next"], STAY)
        self.assertEqual(self.steps(channel)["import"], "done")
        channel.invalidate_recordset()
        self.assertEqual(channel.health, "amber", "orders came, but no webhook yet")
        self.assertEqual(self.steps(channel)["live"], "todo")

        self.assertEqual(self.webhook(channel, dict(order, id=5900, number="5900")).status, "created")
        self.assertEqual(set(self.steps(channel).values()), {"done"})
        self.assertTrue(channel.setup_complete)
        self.assertEqual(channel.health, "green", channel.health_reason)

    def test_connect_channel_needs_no_test_nor_import(self):
        steps = self.steps(self.channel)
        self.assertEqual((steps["credentials"], steps["test"], steps["import"]), ("done", "na", "na"))
        self.assertEqual(steps["live"], "todo")
        self.receive(self.order_data())
        self.assertEqual(self.steps(self.channel)["live"], "done", "the shop sent an order with its key")

    def test_status_mapping_is_filled_on_creation(self):
        with Form(self.env["sale.channel"]) as form:
            form.name = "Woo from the form"
            form.platform = "woocommerce"
        channel = form.record
        self.assertEqual(set(channel.status_map_ids.mapped("odoo_stage")), set(ODOO_STAGES))
        channel.status_sync = "to_store"  # accepted at once: every stage is mapped
        self.assertEqual(channel.status_sync, "to_store")

    def test_a_failed_sync_button_keeps_the_user_on_the_channel(self):
        """Any notification of a channel's buttons: the next step reloads the channel, never
        a client action that restores the form as it was opened (a new record, for a form
        opened with New)."""
        action = self.channel._notify("Done.", "success")
        self.assertEqual(action["params"]["next"], STAY)
