"""Retry of an unreadable delivery, once it can be read (a parser fixed, an older one that
failed): a patch goes to its order (or waits for it), a whole order becomes the record, read
from the exact bytes that were received."""
import json
import pathlib

from odoo.tests import TransactionCase, tagged

from odoo.addons.sale_inbox.models.sale_inbox_order_intake import BASE64_MARK
from odoo.addons.sale_inbox.platforms import InvalidPayload

from .common import StoreChannelFixtures

DATA = pathlib.Path(__file__).resolve().parents[1] / "platforms" / "tests" / "data"
MOZELLO_ORDER = "MZ-7654321-000145"


class _Kept:

    def keep_unreadable(self, body, content_type="application/json"):
        """A delivery an earlier parser could not read, kept as intake keeps it."""
        return self.Inbox.browse(self.Inbox._keep_unreadable(
            self.channel, body, content_type, InvalidPayload("read by an older parser")))

    def receive(self, body, content_type="application/json"):
        result = self.Inbox._intake_delivery(self.channel, body, content_type, verified=True)
        self.assertIn(result.status, ("created", "known"), result.message)
        return self.Inbox.browse(result.order_id)


@tagged("post_install", "-at_install")
class TestRetryMozelloPatch(_Kept, StoreChannelFixtures, TransactionCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_store("mozello", name="Retry Mozello", api_secret="k", wait_for_payment=True)
        cls.env["sale.channel.payment.method"].create({
            "channel_id": cls.channel.id, "code": "paypal", "name": "PayPal", "journal_id": cls.bank.id})

    def test_an_unreadable_payment_change_read_again_waits_for_its_order(self):
        paid = {"event": "PAYMENT_CHANGED", "order": {"order_id": MOZELLO_ORDER, "payment_status": "paid"}}
        kept = self.keep_unreadable(json.dumps(paid).encode())
        kept.action_retry()
        self.assertEqual(kept.state, "cancelled")
        placeholder = self.inbox() - kept
        self.assertEqual((placeholder.external_id, placeholder.delivery_ids.kind), (MOZELLO_ORDER, "patch"))
        self.receive((DATA / "mozello_order_created.json").read_bytes())
        self.process()
        self.assertEqual(placeholder.state, "done", placeholder.error_message)
        self.assertTrue(placeholder.paid)


@tagged("post_install", "-at_install")
class TestRetryExactBytes(_Kept, StoreChannelFixtures, TransactionCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_store("shopify", name="Retry Shopify", webhook_secret="s")
        cls.env["sale.channel.payment.method"].create({
            "channel_id": cls.channel.id, "code": "shopify_payments", "name": "Shopify Payments",
            "journal_id": cls.bank.id})

    def test_a_body_that_is_not_utf8_is_kept_base64_and_read_again_from_its_bytes(self):
        xml = (DATA / "shopify_order.xml").read_text().replace("<first-name>Anna", "<first-name>Ann\u00e9")
        body = xml.replace('encoding="UTF-8"', 'encoding="ISO-8859-1"').encode("latin-1")
        kept = self.keep_unreadable(body, "application/xml")
        self.assertTrue(kept.payload_content_type.endswith(BASE64_MARK))
        self.assertIn("base64", kept.error_message, "the record says how its payload is kept")
        kept.action_retry()
        self.assertEqual(kept.external_id, "5550001112223")
        self.assertEqual(kept.state, "done", kept.error_message)
        self.assertTrue(kept.customer_name.startswith("Ann\u00e9"))
        self.assertEqual(kept.delivery_ids.mapped("state"), ["applied"])
        # The store sends it again: the same content, recognised.
        self.assertEqual(self.receive(body, "application/xml"), kept)
        self.assertEqual(len(kept.delivery_ids), 1)

    def test_a_readable_order_in_another_encoding_is_stored_with_its_exact_bytes(self):
        xml = (DATA / "shopify_order.xml").read_text()
        body = xml.replace('encoding="UTF-8"', 'encoding="ISO-8859-1"').replace("Anna", "Ann\u00e9").encode("latin-1")
        order = self.receive(body, "application/xml")
        self.assertEqual(order.payload_content_type, "application/xml" + BASE64_MARK)
        self.process()
        self.assertEqual(order.state, "done", order.error_message)
