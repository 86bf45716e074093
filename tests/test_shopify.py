"""Shopify channel end to end: signed webhooks over HTTP (JSON and XML), processing,
payment and cancellation updates, the API against a fake Shopify on 127.0.0.1."""
import base64
import copy
import hashlib
import hmac
import json
import pathlib

from odoo import fields
from odoo.tests import HttpCase, tagged

from odoo.addons.sale_inbox.platforms.testing import FakeStore

from .common import StoreChannelFixtures

DATA = pathlib.Path(__file__).resolve().parents[1] / "platforms" / "tests" / "data"
SECRET = "shpss_test_secret"
API = "/admin/api/2025-01"


def sign(body, secret=SECRET):
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


@tagged("post_install", "-at_install")
class TestShopifyChannel(StoreChannelFixtures, HttpCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_store(
            "shopify", name="Anna's Shopify", webhook_secret=SECRET, api_secret="shpat_token",
            store_url="https://anna.myshopify.com",
        )
        cls.env["sale.channel.payment.method"].create({
            "channel_id": cls.channel.id, "code": "shopify_payments", "name": "Shopify Payments",
            "journal_id": cls.bank.id,
        })
        cls.order_json = json.loads((DATA / "shopify_order.json").read_text())
        cls.order_json["updated_at"] = "2025-03-14T10:21:09+02:00"

    def order(self, **changes):
        data = copy.deepcopy(self.order_json)
        data.update(changes)
        return data

    def deliver(self, body, content_type="application/json", secret=SECRET, topic="orders/create"):
        if isinstance(body, dict):
            body = json.dumps(body).encode()
        headers = {"Content-Type": content_type, "X-Shopify-Topic": topic,
                   "X-Shopify-Shop-Domain": "anna.myshopify.com"}
        if secret is not None:
            headers["X-Shopify-Hmac-Sha256"] = sign(body, secret)
        return self.url_open(self.channel._webhook_path(), data=body, headers=headers, timeout=30)

    def test_signed_json_webhook_is_stored_and_processed(self):
        response = self.deliver(self.order())
        self.assertEqual(response.status_code, 200, response.text)
        inbox = self.inbox()
        self.assertEqual((len(inbox), inbox.external_id, inbox.name), (1, "5550001112223", "#1042"))
        self.process()
        self.assertEqual(inbox.state, "done", inbox.error_message)
        so = inbox.sale_order_id
        self.assertEqual(so.currency_id, self.eur)
        self.assertAlmostEqual(so.amount_total, 59.90)
        self.assertEqual(so.state, "sale")
        self.assertEqual(inbox.payment_id.amount, 59.90)
        self.assertEqual(so.partner_id.email, "anna@example.lv")

    def test_wrong_or_missing_signature_is_401_and_stores_nothing(self):
        for secret in ("not-the-secret", None):
            self.assertEqual(self.deliver(self.order(), secret=secret).status_code, 401)
        body = json.dumps(self.order()).encode()
        tampered = body.replace(b'"59.90"', b'"0.01"')
        response = self.url_open(self.channel._webhook_path(), data=tampered, timeout=30, headers={
            "Content-Type": "application/json", "X-Shopify-Hmac-Sha256": sign(body)})
        self.assertEqual(response.status_code, 401)
        self.assertFalse(self.inbox())
        self.assertFalse(self.env["sale.inbox.delivery"].search([("channel_id", "=", self.channel.id)]))

    def test_unknown_webhook_address_is_404(self):
        response = self.url_open("/sale_inbox/webhook/nope", data=b"{}", timeout=30,
                                 headers={"Content-Type": "application/json"})
        self.assertEqual(response.status_code, 404)

    def test_xml_and_json_of_one_order_make_one_sales_order(self):
        xml = (DATA / "shopify_order.xml").read_bytes().replace(
            b"</order>", b"<updated-at>2025-03-14T10:21:09+02:00</updated-at></order>")
        self.assertEqual(self.deliver(xml, "application/xml").status_code, 200)
        self.assertEqual(self.deliver(self.order()).status_code, 200)
        inbox = self.inbox()
        self.assertEqual(len(inbox), 1)
        self.assertEqual(len(inbox.delivery_ids), 1, "the JSON delivery is the same content as the XML one")
        self.process()
        self.assertEqual(inbox.state, "done", inbox.error_message)
        self.assertAlmostEqual(inbox.sale_order_id.amount_total, 59.90)
        self.assertEqual(self.env["sale.order"].search_count([("channel_id", "=", self.channel.id)]), 1)

    def test_redelivery_changes_nothing(self):
        body = json.dumps(self.order()).encode()
        for _ in range(3):
            self.assertEqual(self.deliver(body).status_code, 200)
        self.assertEqual(len(self.inbox().delivery_ids), 1)

    def test_paid_after_created_in_both_arrival_orders(self):
        self.channel.wait_for_payment = True
        pending = self.order(financial_status="pending", updated_at="2025-03-14T10:21:07+02:00")
        paid = self.order(financial_status="paid", updated_at="2025-03-14T10:25:00+02:00")
        # In order: created (unpaid) then paid.
        self.deliver(pending)
        self.process()
        inbox = self.inbox()
        self.assertEqual(inbox.state, "waiting_payment")
        self.deliver(paid, topic="orders/paid")
        self.process()
        self.assertEqual(inbox.state, "done", inbox.error_message)
        self.assertTrue(inbox.payment_id)
        # Out of order, for another order: paid first, then the late "created" retry.
        late = self.order(id=5550001119999, name="#1043", financial_status="pending",
                          updated_at="2025-03-14T10:21:07+02:00")
        early_paid = dict(late, financial_status="paid", updated_at="2025-03-14T10:25:00+02:00")
        self.deliver(early_paid, topic="orders/paid")
        self.deliver(late)
        self.process()
        second = self.inbox().filtered(lambda o: o.external_id == "5550001119999")
        self.assertEqual(second.state, "done", second.error_message)
        self.assertTrue(second.paid, "the late, older delivery did not overwrite the paid one")
        self.assertTrue(second.payment_id)

    def test_cancellation_cancels_an_undelivered_order(self):
        self.deliver(self.order())
        self.process()
        inbox = self.inbox()
        so = inbox.sale_order_id
        self.assertEqual(so.state, "sale")
        cancelled = self.order(cancelled_at="2025-03-15T09:00:00+02:00", updated_at="2025-03-15T09:00:00+02:00")
        self.deliver(cancelled, topic="orders/cancelled")
        self.process()
        self.assertEqual(inbox.state, "cancelled")
        self.assertEqual(so.state, "cancel")

    def test_cancellation_after_delivery_asks_a_person(self):
        self.deliver(self.order())
        self.process()
        inbox = self.inbox()
        so = inbox.sale_order_id
        picking = so.picking_ids
        for move in picking.move_ids:
            move.quantity = move.product_uom_qty
        picking.button_validate()
        self.assertEqual(picking.state, "done")
        self.deliver(self.order(cancelled_at="2025-03-16T09:00:00+02:00", updated_at="2025-03-16T09:00:00+02:00"))
        self.process()
        self.assertEqual(inbox.state, "needs_review")
        self.assertEqual(inbox.failed_step, "cancellation")
        self.assertEqual(so.state, "sale", "a delivered order is not silently cancelled")
        self.assertTrue(so.activity_ids.filtered(lambda a: "Cancelled in the store" in (a.summary or "")))

    def test_waiting_order_cancelled_in_the_store(self):
        self.channel.wait_for_payment = True
        self.deliver(self.order(financial_status="pending", updated_at="2025-03-14T10:21:07+02:00"))
        self.process()
        self.deliver(self.order(financial_status="voided", cancelled_at="2025-03-14T11:00:00+02:00",
                                updated_at="2025-03-14T11:00:00+02:00"))
        self.process()
        self.assertEqual(self.inbox().state, "cancelled")
        self.assertFalse(self.inbox().sale_order_id)

    def test_unreadable_but_signed_delivery_is_kept_with_its_error(self):
        body = b'{"id": 77, "line_items": [{"sku": "MUG-01", "quantity": "lots", "price": "1"}]}'
        response = self.deliver(body)
        self.assertEqual(response.status_code, 200)
        kept = self.inbox()
        self.assertEqual((kept.state, kept.failed_step), ("error", "parse"))
        self.assertEqual(kept.payload, body.decode())
        self.assertIn("not a number", kept.error_message)

    def test_connection_check_against_the_store(self):
        with FakeStore() as store:
            store.route("GET", f"{API}/shop.json", json={"shop": {"name": "Anna's Shop"}})
            self.channel.store_url = store.url
            self.channel.action_test_connection()
            self.assertEqual(self.channel.connection_status, "ok")
            self.assertEqual(store.calls("GET", f"{API}/shop.json")[0].headers["X-Shopify-Access-Token"],
                             "shpat_token")
            store.route("GET", f"{API}/shop.json", status=401,
                        json={"errors": "[API] Invalid API key or access token"})
            self.channel.action_test_connection()
            self.assertEqual(self.channel.connection_status, "error")
            self.assertIn("Invalid API key", self.channel.last_error)

    def test_import_overlapping_webhooks_never_duplicates(self):
        self.deliver(self.order())
        other = self.order(id=5550001110000, name="#1041", updated_at="2025-03-13T08:00:00+02:00")
        with FakeStore() as store:
            store.route("GET", f"{API}/orders.json", json={"orders": [other, self.order()]})
            self.channel.store_url = store.url
            wizard = self.env["sale.channel.import"].create({"channel_id": self.channel.id, "days": 30})
            wizard.action_import()
            wizard.action_import()
        self.assertEqual(sorted(self.inbox().mapped("name")), ["#1041", "#1042"])
        self.assertEqual(sum(len(o.delivery_ids) for o in self.inbox()), 2)

    def test_poll_advances_its_watermark_and_survives_a_failing_store(self):
        self.channel.poll_orders = True
        with FakeStore() as store:
            store.route("GET", f"{API}/orders.json", json={"orders": [self.order()]})
            self.channel.store_url = store.url
            self.env["sale.channel"]._cron_poll_orders()
            self.assertEqual(len(self.inbox()), 1)
            self.assertEqual(self.channel.poll_watermark, fields.Datetime.to_datetime("2025-03-14 08:21:09"))
            store.route("GET", f"{API}/orders.json", status=503, json={"errors": "unavailable"})
            self.env["sale.channel"]._cron_poll_orders()
            since = store.calls("GET", f"{API}/orders.json")[-1].query["updated_at_min"][0]
            self.assertEqual(since, "2025-03-14T08:11:09Z", "reads back 10 minutes before the watermark")
            self.assertEqual(len(store.calls("GET", f"{API}/orders.json")), 1 + 4, "503 retried 3 times")
        self.assertIn("503", self.channel.last_error)
        self.assertEqual(self.channel.poll_watermark, fields.Datetime.to_datetime("2025-03-14 08:21:09"))

    def test_a_rounding_cent_keeps_the_draft_for_review(self):
        self.deliver(self.order(total_price="59.91"))
        self.process()
        inbox = self.inbox()
        self.assertEqual((inbox.state, inbox.failed_step), ("needs_review", "amount_check"))
        self.assertEqual(inbox.sale_order_id.state, "draft")
        self.assertFalse(inbox.payment_id)
        self.assertAlmostEqual(inbox.amount_difference, 0.01)
