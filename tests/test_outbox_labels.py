"""The status outbox speaks of a store's statuses by the store's own names, not its codes."""
from odoo.tests import TransactionCase, tagged

from .common import InboxFixtures


@tagged("post_install", "-at_install")
class TestOutboxLabels(InboxFixtures, TransactionCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_inbox()
        cls.idosell = cls.env["sale.channel"].create({
            "name": "IdoSell shop", "platform": "idosell", "store_url": "https://shop.example.com",
            "api_secret": "ido-key", "store_timezone": "Europe/Warsaw"})
        cls.so = cls.env["sale.order"].create({"partner_id": cls.env.user.partner_id.id})

    def message(self, status):
        return self.env["sale.channel.outbox"].create({
            "channel_id": self.idosell.id, "sale_order_id": self.so.id, "external_id": "7",
            "odoo_stage": "confirmed", "store_status": status})

    def test_a_sent_status_is_noted_by_its_name(self):
        message = self.message("on_order")
        self.assertEqual(message.store_status_label, "Being handled")
        self.assertIn("Being handled", message.display_name)
        message._mark_sent("status on_order")
        note = self.so.message_ids[0].body
        self.assertIn("“Being handled”", note)
        self.assertNotIn("on_order", note)
        self.assertEqual(message.result, "status “Being handled”", "the outbox's and the order's Result column")

    def test_a_refused_status_is_noted_by_its_name(self):
        message = self.message("on_order")
        message._give_up("IdoSell refused order 7: no such order")
        note = self.so.message_ids[0].body
        self.assertIn("“Being handled”", note)
        self.assertNotIn("on_order", note)

    def test_a_status_the_platform_does_not_list_keeps_its_code(self):
        message = self.message("on_order")
        message.store_status = "custom_42"
        self.assertEqual(message.store_status_label, "custom_42")
        message._mark_sent("status custom_42, tracking T1")
        self.assertIn("“custom_42”, tracking T1", self.so.message_ids[0].body)
