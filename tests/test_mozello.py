"""Mozello channel end to end: hashed notifications over HTTP, the payment patch in both
arrival orders, deletion, and registering the webhook with a fake Mozello API."""
import base64
import hashlib
import hmac
import json
import pathlib

from odoo.tests import HttpCase, tagged

from odoo.addons.sale_inbox.platforms.testing import FakeStore

from .common import StoreChannelFixtures

DATA = pathlib.Path(__file__).resolve().parents[1] / "platforms" / "tests" / "data"
KEY = "MZL-odoo-test-key"
ORDER_ID = "MZ-7654321-000145"


@tagged("post_install", "-at_install")
class TestMozelloChannel(StoreChannelFixtures, HttpCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_store("mozello", name="Anna's Mozello", api_secret=KEY, wait_for_payment=True)
        cls.env["sale.channel.payment.method"].create({
            "channel_id": cls.channel.id, "code": "paypal", "name": "PayPal", "journal_id": cls.bank.id,
        })

    def notify(self, payload, key=KEY):
        body = json.dumps(payload).encode()
        digest = base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()
        return self.url_open(self.channel._webhook_path(), data=body, timeout=30, headers={
            "Content-Type": "application/json", "X-Mozello-Hash": digest, "X-Mozello-Alias": "anna"})

    def created(self):
        return json.loads((DATA / "mozello_order_created.json").read_text())

    def paid(self):
        return {"event": "PAYMENT_CHANGED", "order": {"order_id": ORDER_ID, "payment_status": "paid"}}

    def test_wrong_hash_is_401(self):
        self.assertEqual(self.notify(self.created(), key="wrong").status_code, 401)
        self.assertFalse(self.inbox())

    def test_created_waits_then_payment_patch_releases_it(self):
        self.assertEqual(self.notify(self.created()).status_code, 200)
        self.process()
        inbox = self.inbox()
        self.assertEqual(inbox.state, "waiting_payment")
        self.assertEqual(self.notify(self.paid()).status_code, 200)
        self.assertEqual(self.notify(self.paid()).status_code, 200)  # a repeated notification
        self.assertEqual(inbox.delivery_ids.mapped("kind"), ["patch", "full"])
        self.process()
        self.assertEqual(inbox.state, "done", inbox.error_message)
        self.assertAlmostEqual(inbox.sale_order_id.amount_total, 59.90)
        self.assertAlmostEqual(inbox.payment_id.amount, 59.90)

    def test_payment_before_the_order_itself(self):
        self.notify(self.paid())
        self.process()
        placeholder = self.inbox()
        self.assertEqual((placeholder.state, placeholder.normalized), ("new", False))
        self.assertFalse(placeholder.sale_order_id)
        self.notify(self.created())
        self.process()
        self.assertEqual(len(self.inbox()), 1)
        self.assertEqual(placeholder.state, "done", placeholder.error_message)
        self.assertTrue(placeholder.paid)
        self.assertTrue(placeholder.payment_id)

    def test_order_deleted_cancels_a_waiting_order(self):
        self.notify(self.created())
        self.process()
        self.notify({"event": "ORDER_DELETED", "order": {"order_id": ORDER_ID}})
        self.process()
        self.assertEqual(self.inbox().state, "cancelled")

    def test_register_webhook(self):
        with FakeStore() as store:
            store.route("PUT", "/store/notifications/", json={"error": False})
            self.channel.store_url = store.url
            self.channel.action_register_webhook()
            sent = store.calls("PUT", "/store/notifications/")[0]
        self.assertEqual(sent.headers["Authorization"], f"ApiKey {KEY}")
        self.assertEqual(sent.json()["notifications_url"], self.channel.webhook_url)
