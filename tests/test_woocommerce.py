"""WooCommerce channel end to end: the set-up ping, signed webhooks over HTTP, processing,
cancellation by status, payment methods and the poll against a fake WooCommerce."""
import base64
import copy
import hashlib
import hmac
import json
import pathlib

from odoo.tests import HttpCase, tagged

from odoo.addons.sale_inbox.platforms.testing import FakeStore

from .common import StoreChannelFixtures

DATA = pathlib.Path(__file__).resolve().parents[1] / "platforms" / "tests" / "data"
SECRET = "wc-webhook-secret"
ORDERS = "/wp-json/wc/v3/orders"


@tagged("post_install", "-at_install")
class TestWooCommerceChannel(StoreChannelFixtures, HttpCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_store("woocommerce", name="Anna's WooCommerce", webhook_secret=SECRET,
                        api_login="ck_test", api_secret="cs_test", store_url="https://anna.example")
        cls.env["sale.channel.payment.method"].create({
            "channel_id": cls.channel.id, "code": "stripe", "name": "Credit card", "journal_id": cls.bank.id,
        })
        cls.order_json = json.loads((DATA / "woocommerce_order.json").read_text())

    def order(self, **changes):
        data = copy.deepcopy(self.order_json)
        data.update(changes)
        return data

    def deliver(self, data, topic="order.created", secret=SECRET):
        body = json.dumps(data).encode()
        digest = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
        return self.url_open(self.channel._webhook_path(), data=body, timeout=30, headers={
            "Content-Type": "application/json", "X-WC-Webhook-Topic": topic, "X-WC-Webhook-Resource": "order",
            "X-WC-Webhook-Signature": digest, "X-WC-Webhook-ID": "7"})

    def test_set_up_ping_gets_200_and_stores_nothing(self):
        response = self.url_open(self.channel._webhook_path(), data=b"webhook_id=7", timeout=30,
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(response.status_code, 200)
        self.assertFalse(self.inbox())

    def test_signed_order_is_processed_with_the_store_total(self):
        self.assertEqual(self.deliver(self.order()).status_code, 200)
        self.assertEqual(self.deliver(self.order(), secret="wrong").status_code, 401)
        self.process()
        inbox = self.inbox()
        self.assertEqual(len(inbox), 1)
        self.assertEqual(inbox.state, "done", inbox.error_message)
        self.assertAlmostEqual(inbox.sale_order_id.amount_total, 59.90)
        self.assertEqual(inbox.payment_id.journal_id, self.bank)

    def test_order_updated_to_cancelled_cancels_it(self):
        self.deliver(self.order())
        self.process()
        so = self.inbox().sale_order_id
        self.deliver(self.order(status="cancelled", date_modified_gmt="2025-03-15T08:00:00"), topic="order.updated")
        self.process()
        self.assertEqual((self.inbox().state, so.state), ("cancelled", "cancel"))

    def test_order_without_skus_stops_naming_its_lines(self):
        self.channel.add_payment = False
        data = json.loads((DATA / "woocommerce_order_docs.json").read_text())
        self.deliver(data)
        self.process()
        inbox = self.inbox()
        self.assertEqual((inbox.state, inbox.failed_step), ("error", "products"))
        self.assertIn("Woo Single #1", inbox.error_message)

    def test_read_payment_methods(self):
        with FakeStore() as store:
            store.route("GET", "/wp-json/wc/v3/payment_gateways", json=[
                {"id": "stripe", "title": "Credit card", "enabled": True},
                {"id": "cod", "title": "Cash on delivery", "enabled": True},
                {"id": "cheque", "title": "Check payments", "enabled": False}])
            self.channel.store_url = store.url
            self.channel.action_read_payment_methods()
        methods = {m.code: m for m in self.channel.payment_method_ids}
        self.assertEqual(set(methods), {"stripe", "cod"})
        self.assertFalse(methods["cod"].means_paid, "cash on delivery is not paid online")
        self.assertEqual(methods["stripe"].journal_id, self.bank, "the existing mapping is kept")

    def test_poll_catches_a_missed_webhook(self):
        self.channel.poll_orders = True
        self.deliver(self.order())
        missed = self.order(id=5822, number="5822", date_modified_gmt="2025-03-14T09:00:00")
        with FakeStore() as store:
            store.route("GET", ORDERS, headers={"X-WP-TotalPages": "1"}, json=[self.order(), missed])
            self.channel.store_url = store.url
            self.env["sale.channel"]._cron_poll_orders()
        self.assertEqual(sorted(self.inbox().mapped("external_id")), ["5821", "5822"])
        self.assertEqual(len(self.inbox().delivery_ids), 2, "the webhook's order was recognised")
