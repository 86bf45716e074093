"""PayPal Checkout end to end: deliveries verified through a fake PayPal on 127.0.0.1, the
approved order waiting for its capture, the capture arriving first, a denied capture."""
import copy
import json
import pathlib

from odoo.exceptions import UserError
from odoo.tests import HttpCase, tagged

from odoo.addons.sale_inbox.platforms import InvalidPayload
from odoo.addons.sale_inbox.platforms.testing import FakeStore

from .common import StoreChannelFixtures

DATA = pathlib.Path(__file__).resolve().parents[1] / "platforms" / "tests" / "data"
HEADERS = {"PAYPAL-TRANSMISSION-ID": "t-1", "PAYPAL-TRANSMISSION-TIME": "2025-03-14T08:21:10Z",
           "PAYPAL-TRANSMISSION-SIG": "good-signature", "PAYPAL-CERT-URL": "https://api.paypal.com/cert",
           "PAYPAL-AUTH-ALGO": "SHA256withRSA", "Content-Type": "application/json"}


@tagged("post_install", "-at_install")
class TestPayPalChannel(StoreChannelFixtures, HttpCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_store("paypal", name="PayPal Checkout", api_login="client", api_secret="secret",
                        webhook_secret="WH-ID-1", wait_for_payment=True, amount_tolerance=0.05)
        # PayPal's unit amounts exclude tax: Odoo gets the excluded twin of the 21% tax.
        cls.tax.copy({"name": "PVN 21%", "price_include_override": "tax_excluded"})
        cls.env["sale.channel.payment.method"].create({
            "channel_id": cls.channel.id, "code": "paypal", "name": "PayPal", "journal_id": cls.bank.id,
        })
        cls.approved = json.loads((DATA / "paypal_order_approved.json").read_text())
        cls.captured = json.loads((DATA / "paypal_capture_completed.json").read_text())

    def setUp(self):
        super().setUp()
        self.store = FakeStore()
        self.store.start()
        self.addCleanup(self.store.stop)
        self.store.route("POST", "/v1/oauth2/token", json={"access_token": "A21AA", "expires_in": 32400})
        self.store.route("POST", "/v1/notifications/verify-webhook-signature", handler=lambda r: (
            200, {}, {"verification_status": "SUCCESS" if r.json()["transmission_sig"] == "good-signature"
                      else "FAILURE"}))
        self.channel.store_url = self.store.url

    def deliver(self, event, signature="good-signature"):
        return self.url_open(self.channel._webhook_path(), data=json.dumps(event).encode(), timeout=30,
                             headers=dict(HEADERS, **{"PAYPAL-TRANSMISSION-SIG": signature}))

    def test_forged_delivery_is_401(self):
        self.assertEqual(self.deliver(self.approved, signature="forged").status_code, 401)
        self.assertFalse(self.inbox())

    def test_paypal_unreachable_is_503_and_stores_nothing(self):
        self.store.route("POST", "/v1/oauth2/token", status=503, json={"name": "SERVICE_UNAVAILABLE"})
        self.assertEqual(self.deliver(self.approved).status_code, 503)
        self.assertFalse(self.inbox())

    def test_approved_waits_for_the_capture(self):
        self.assertEqual(self.deliver(self.approved).status_code, 200)
        self.process()
        inbox = self.inbox()
        self.assertEqual(inbox.state, "waiting_payment", "an approved order is not a paid one")
        self.assertEqual(self.deliver(self.captured).status_code, 200)
        self.process()
        self.assertEqual(inbox.state, "done", inbox.error_message)
        self.assertAlmostEqual(inbox.payment_id.amount, 59.90)
        # PayPal reckoned the tax before the discount: 2 cents apart, within the tolerance.
        self.assertAlmostEqual(inbox.odoo_amount_total, 59.88)

    def test_capture_before_the_order(self):
        self.deliver(self.captured)
        self.deliver(self.approved)
        self.process()
        inbox = self.inbox()
        self.assertEqual(len(inbox), 1)
        self.assertEqual(inbox.state, "done", inbox.error_message)
        self.assertTrue(inbox.payment_id)

    def test_denied_capture_cancels_the_waiting_order(self):
        self.deliver(self.approved)
        self.process()
        denied = copy.deepcopy(self.captured)
        denied["event_type"] = "PAYMENT.CAPTURE.DENIED"
        self.deliver(denied)
        self.process()
        self.assertEqual(self.inbox().state, "cancelled")

    def test_unrelated_events_are_acknowledged_and_not_stored(self):
        other = dict(self.captured, event_type="CUSTOMER.DISPUTE.CREATED")
        response = self.deliver(other)
        self.assertEqual((response.status_code, response.json()["status"]), (200, "ignored"))
        self.assertFalse(self.inbox())

    def test_connection_check_gets_a_token(self):
        self.channel.action_test_connection()
        self.assertEqual(self.channel.connection_status, "ok")
        self.assertTrue(self.store.calls("POST", "/v1/oauth2/token"))

    def test_no_import_or_poll_for_paypal(self):
        wizard = self.env["sale.channel.import"].create({"channel_id": self.channel.id, "days": 3})
        with self.assertRaises(UserError):
            wizard.action_import()
        self.channel.poll_orders = True
        self.env["sale.channel"]._cron_poll_orders()  # skips it, without an error
        self.assertFalse(self.channel.last_error)

    def test_an_event_naming_no_order_is_kept_unreadable_never_stored_under_an_empty_id(self):
        # Authentic (PayPal confirmed it) but about no order we can name: kept for a person to
        # see, acknowledged so that PayPal does not send it for days; never an order "".
        reversal = {"id": "WH-REV-1", "event_type": "CHECKOUT.PAYMENT-APPROVAL.REVERSED",
                    "resource_type": "checkout-order", "resource": {"reason": "buyer cancelled"}}
        response = self.deliver(reversal)
        self.assertEqual(response.status_code, 200, response.text)
        self.assertEqual(response.json()["status"], "error")
        kept = self.inbox()
        self.assertEqual(len(kept), 1)
        self.assertEqual((kept.state, kept.failed_step), ("error", "parse"))
        self.assertIn("names no order", kept.error_message)
        self.env.cr.execute("SELECT count(*) FROM sale_inbox_order WHERE channel_id = %s AND external_id = ''",
                            (self.channel.id,))
        self.assertEqual(self.env.cr.fetchone()[0], 0)

    def keep_unreadable(self, event):
        """A delivery an earlier parser could not read, kept as intake keeps it."""
        return self.Inbox.browse(self.Inbox._keep_unreadable(
            self.channel, json.dumps(event).encode(), "application/json", InvalidPayload("read by an older parser")))

    def test_retry_of_an_unreadable_capture_that_reads_now_waits_for_its_order(self):
        kept = self.keep_unreadable(self.captured)
        kept.action_retry()
        self.assertEqual(kept.state, "cancelled", "it is a change of another order, not an order")
        self.assertIn("5O190127TN364715T", kept.message_ids[0].body)
        placeholder = self.inbox() - kept
        self.assertEqual(placeholder.external_id, "5O190127TN364715T")
        self.assertEqual(placeholder.delivery_ids.mapped("kind"), ["patch"])
        self.deliver(self.approved)
        self.process()
        self.assertEqual(placeholder.state, "done", placeholder.error_message)
        self.assertAlmostEqual(placeholder.payment_id.amount, 59.90)

    def test_retry_of_an_unreadable_capture_of_a_waiting_order_pays_it(self):
        self.deliver(self.approved)
        self.process()
        order = self.inbox()
        self.assertEqual(order.state, "waiting_payment")
        kept = self.keep_unreadable(self.captured)
        kept.action_retry()
        self.assertEqual(kept.state, "cancelled")
        self.assertEqual(self.inbox() - kept, order, "no other order")
        self.process()
        self.assertEqual(order.state, "done", order.error_message)
        self.assertTrue(order.payment_id)
