import json
from unittest.mock import patch

from odoo.tests import TransactionCase, tagged

from .common import InboxFixtures


@tagged("post_install", "-at_install")
class TestProcessingIsolation(InboxFixtures, TransactionCase):
    """Nothing one order does stops the others: every step, the deliveries, and whatever
    escapes the processor."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_inbox()

    def test_a_customer_that_cannot_be_created_stops_only_its_order(self):
        # base_vat (installed in the test database) refuses this VAT number for Latvia.
        self.assertIn("base_vat", self.env["ir.module.module"]._installed())
        bad = self.order_data("VBAD")
        bad["customer"] = {"id": "cust-vat", "email": "vat@example.com", "name": "Bad VAT SIA",
                           "company": "Bad VAT SIA", "vat": "LV123"}
        inboxes = self.env["sale.inbox.order"]
        for i in range(8):
            inboxes |= self.receive(self.order_data(f"V{i}", customer={
                "id": f"c-{i}", "email": f"c{i}@example.com", "name": f"Customer {i}"}))
        bad_inbox = self.receive(bad)
        self.run_cron()
        self.assertEqual(set(inboxes.mapped("state")), {"done"})
        self.assertEqual(bad_inbox.state, "error")
        self.assertEqual(bad_inbox.failed_step, "customer")
        self.assertIn("LV123", bad_inbox.error_message)
        self.assertEqual(bad_inbox.attempt_count, 1)
        self.assertEqual(set((inboxes | bad_inbox).mapped("attempt_count")), {1})
        # Corrected by a manager, it goes through.
        data = json.loads(bad_inbox.normalized)
        data["customer"]["vat"] = "LV40003521600"
        bad_inbox.write({"normalized": json.dumps(data)})
        bad_inbox.action_retry()
        self.assertEqual(bad_inbox.state, "done")

    def test_a_delivery_that_cannot_be_applied_stops_only_its_order(self):
        first = self.receive(self.order_data("P1"))
        self.run_cron()
        self.assertEqual(first.state, "done")
        # A change whose result is no longer an order (a patch that empties the lines).
        self.env["sale.inbox.delivery"].create({
            "order_id": first.id, "channel_id": self.channel.id, "company_id": self.company.id,
            "received_at": "2026-11-21 10:00:00", "fingerprint": "broken-patch", "payload": "{}",
            "content_type": "application/json", "normalized": json.dumps({"lines": []}),
            "kind": "patch", "state": "pending",
        })
        second = self.receive(self.order_data("P2"))
        self.run_cron()
        self.assertEqual(second.state, "done")
        self.assertEqual(first.state, "error")
        self.assertEqual(first.failed_step, "parse")
        self.assertIn("lines", first.error_message)

    def test_an_order_crashing_outside_the_steps_is_rerun_alone_then_parked(self):
        inboxes = [self.receive(self.order_data(f"X{i}")) for i in range(4)]
        poisoned = inboxes[2]
        Processor = type(self.env["sale.inbox.processor"])
        original = Processor._step_finish

        def finish(processor, run, orders):
            if poisoned in orders:
                raise RuntimeError("finishing crashed\x00 for the test")
            return original(processor, run, orders)

        with patch.object(Processor, "_step_finish", finish):
            self.run_cron()
            self.assertEqual([i.state for i in inboxes], ["done", "done", "new", "done"])
            self.assertIn("finishing crashed", poisoned.error_message)
            self.assertEqual(poisoned.attempt_count, 1)
            self.run_cron()
            self.assertEqual(poisoned.state, "new")
            self.run_cron()
        self.assertEqual(poisoned.state, "error")
        self.assertEqual(poisoned.failed_step, "process")
        self.assertEqual(poisoned.attempt_count, 3)
        self.assertNotIn("\x00", poisoned.error_message)
        # Nothing of the crashed runs was kept: Retry makes its one sales order.
        self.assertFalse(poisoned.sale_order_id)
        poisoned.action_retry()
        self.assertEqual(poisoned.state, "done")
        self.assertEqual(self.env["sale.order"].search_count([("inbox_order_id", "=", poisoned.id)]), 1)

    def test_a_late_delivery_is_compared_by_its_real_time(self):
        inbox = self.receive(self.order_data("T1", updated_at="2026-11-20T12:00:00+02:00"))
        self.run_cron()
        # 10:30 UTC is after 12:00+02:00 (10:00 UTC), though it sorts before it as text.
        newer = self.order_data("T1", updated_at="2026-11-20T10:30:00+00:00")
        newer["payment"]["transaction_id"] = "ch_newer"
        self.receive(newer)
        self.run_cron()
        self.assertEqual(json.loads(inbox.normalized)["payment"]["transaction_id"], "ch_newer")
        # 09:00 UTC is older: ignored.
        older = self.order_data("T1", updated_at="2026-11-20T09:00:00Z")
        older["payment"]["transaction_id"] = "ch_older"
        self.receive(older)
        self.run_cron()
        self.assertEqual(json.loads(inbox.normalized)["payment"]["transaction_id"], "ch_newer")
        # Content without a change time: the later arrival wins.
        undated = self.order_data("T1")
        undated["payment"]["transaction_id"] = "ch_undated"
        self.receive(undated)
        self.run_cron()
        self.assertEqual(json.loads(inbox.normalized)["payment"]["transaction_id"], "ch_undated")


@tagged("post_install", "-at_install")
class TestProcessingExtension(InboxFixtures, TransactionCase):
    """A third-party addon adds a field to the sales order and a step, with _inherit."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        from odoo_test_helper import FakeModelLoader

        cls.loader = FakeModelLoader(cls.env, cls.__module__)
        cls.loader.backup_registry()
        from .extension_models import SaleInboxProcessor, SaleOrder

        cls.loader.update_registry((SaleOrder, SaleInboxProcessor))
        cls.setup_inbox()

    @classmethod
    def tearDownClass(cls):
        cls.loader.restore_registry()
        super().tearDownClass()

    def test_an_addon_fills_its_field_and_adds_a_step(self):
        gift = self.receive(self.order_data("E1", note="GIFT: wrap it in red"))
        big = self.order_data("E2")
        big["lines"][1]["quantity"] = 40
        big["total"] = big["payment"]["amount"] = 1485.28
        big_inbox = self.receive(big)
        self.run_cron()
        self.assertEqual(gift.state, "done")
        self.assertEqual(gift.sale_order_id.x_store_gift_note, "wrap it in red")
        self.assertEqual(gift.sale_order_id.order_line[0].name, "[SI-MUG] Enamel mug")
        self.assertEqual(big_inbox.state, "needs_review")
        self.assertEqual(big_inbox.error_message, "Held for review: over 1,000.")
        self.assertEqual(big_inbox.sale_order_id.state, "draft")
