"""Ozon statuses both ways, against the fake Ozon on real HTTP: an order Ozon fulfils (FBO) sends
nothing to Ozon; read back from Ozon, "awaiting_deliver" (packed, still in the warehouse) does
not deliver the Odoo order, "delivering"/"delivered" do; an FBO order's delivery is left to the
marketplace's own step."""
from odoo.tests import TransactionCase, tagged

from ..platforms.ozon import Ozon
from .test_ozon_cancel import OzonCancelFixtures


@tagged("post_install", "-at_install")
class TestOzonStatuses(OzonCancelFixtures, TransactionCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_ozon()

    def setUp(self):
        super().setUp()
        self.start_ozon()

    def sync(self, direction):
        self.channel.status_sync = direction

    def open_deliveries(self, so):
        return so.picking_ids.filtered(lambda p: p.state not in ("done", "cancel"))

    def test_an_fbo_order_sends_nothing_with_status_sync_to_the_store(self):
        self.sync("to_store")
        so = self.posting("2000-0101-1", 1, fbo=True, status="awaiting_packaging")
        self.assertEqual(so.state, "sale")
        self.deliver(so)
        self.assertEqual(so.delivery_status, "full")
        self.assertFalse(so.outbox_ids, "Ozon packs and ships FBO orders: nothing to tell it")
        self.assertIn("delivered", so.store_stages, "the stage is recorded all the same")

    def test_an_fbs_order_still_sends_assembled_to_the_store(self):
        self.sync("to_store")
        so = self.posting("1000-0101-1", 1)
        self.deliver(so)
        self.assertIn("awaiting_deliver", so.outbox_ids.mapped("store_status"))

    def test_fbs_awaiting_deliver_read_back_is_not_delivered(self):
        self.sync("both")
        so = self.posting("1000-0102-1", 1)
        self.assertTrue(self.open_deliveries(so))
        self.ozon.set_status("1000-0102-1", "awaiting_deliver")
        self.poll("1000-0102-1")
        self.assertEqual(so.store_status, "awaiting_deliver")
        self.assertTrue(self.open_deliveries(so), "packed in Ozon: the goods are still in the warehouse")
        self.assertEqual(so.delivery_status, "pending")
        self.ozon.set_status("1000-0102-1", "delivering")
        self.poll("1000-0102-1")
        self.assertEqual(so.store_status, "delivering")
        self.assertFalse(self.open_deliveries(so), "handed to Ozon: the delivery is validated")
        self.assertEqual(so.delivery_status, "full")
        self.assertIn("Delivering", so.message_ids[0].body + "".join(so.message_ids.mapped("body")))

    def test_fbs_delivered_read_back_is_delivered(self):
        self.sync("both")
        so = self.posting("1000-0103-1", 1)
        self.ozon.set_status("1000-0103-1", "delivered")
        self.poll("1000-0103-1")
        self.assertEqual(so.delivery_status, "full")

    def test_fbs_delivered_not_in_stock_asks_a_person_by_ozons_status(self):
        self.sync("both")
        so = self.posting("1000-0104-1", 1)
        so.picking_ids.do_unreserve()
        so.picking_ids.move_ids.write({"product_uom_qty": 5000})  # more than there is
        self.ozon.set_status("1000-0104-1", "delivering")
        self.poll("1000-0104-1")
        activity = so.activity_ids.filtered(lambda a: "“Delivering”" in (a.note or ""))
        self.assertTrue(activity, so.activity_ids.mapped("note"))

    def test_fbo_statuses_read_back_leave_the_delivery_to_the_marketplace(self):
        self.sync("both")
        so = self.posting("2000-0102-1", 1, fbo=True, status="awaiting_packaging")
        self.ozon.set_status("2000-0102-1", "awaiting_deliver")
        self.poll("2000-0102-1", fbo=True)
        self.assertEqual(so.store_status, "awaiting_deliver")
        self.assertTrue(self.open_deliveries(so), "packed by Ozon: not delivered yet")
        self.ozon.set_status("2000-0102-1", "delivered")
        self.poll("2000-0102-1", fbo=True)
        self.assertEqual(so.store_status, "delivered")
        self.assertEqual(so.delivery_status, "full")
        self.assertFalse(so.outbox_ids, "nothing goes back to Ozon for an FBO order")


class TestReadStatusMap(TransactionCase):
    """The platform's read-back map (no server needed)."""

    def test_ozon_reads_back_its_own_delivery_statuses(self):
        stages = Ozon().read_status_map(Ozon.default_status_map)
        self.assertEqual(stages["delivering"], "delivered")
        self.assertEqual(stages["delivered"], "delivered")
        self.assertNotEqual(stages.get("awaiting_deliver"), "delivered")
        self.assertEqual(stages["cancelled"], "cancelled")

    def test_the_default_is_the_inverse_of_the_channel_map_first_stage_first(self):
        from ..platforms.base import Platform
        stages = Platform().read_status_map({"quotation": "new", "confirmed": "new", "delivered": "shipped"})
        self.assertEqual(stages, {"new": "quotation", "shipped": "delivered"})
