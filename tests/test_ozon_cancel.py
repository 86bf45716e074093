"""Orders Ozon cancels, and cancelling Ozon orders in Odoo, against the fake Ozon on real HTTP:
each rule of the channel (within the hours: automatic; later, or goods gone: an activity and
Goods Returned; FBO automatic or not; FBS goods to the FBO warehouse; no limit), exactly once,
one failing cancellation among good ones, the Cancellations page, the Cancel wizard (live
reasons, 402's message, once through the outbox with the reason) and what a Sales Inbox User
may not do."""
import json
import unittest
from datetime import datetime, timedelta
from unittest.mock import patch

from odoo import http
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import HttpCase, TransactionCase, new_test_user, tagged
from odoo.tests.common import JsonRpcException

from ..models.sale_inbox_cancellation import SaleInboxCancellation
from ..platforms.ozon import Ozon
from ..platforms.ozon.fake import FakeOzon
from ..platforms.testing import ALLOW_LOCAL
from .common import StockFixtures, StoreChannelFixtures

CANCEL = "/v2/posting/fbs/cancel"
REASONS = "/v1/posting/fbs/cancel-reason"


class OzonCancelFixtures(StoreChannelFixtures, StockFixtures):

    @classmethod
    def setup_ozon(cls):
        cls.setup_store("ozon", name="Ozon", api_login="123456", api_secret="ozon-key", auto_confirm=True)
        cls.env["sale.channel.payment.method"].create(
            {"channel_id": cls.channel.id, "code": "ozon", "name": "Ozon", "means_paid": False})
        cls.channel.wait_for_payment = False
        cls.warehouse = cls.env["stock.warehouse"].search([("company_id", "=", cls.env.company.id)], limit=1)
        # The fake's FBS warehouse ships from the company's warehouse; FBO orders are delivered
        # from it too, unless a test sets an FBO warehouse of its own.
        cls.env["sale.channel.warehouse"].create({
            "channel_id": cls.channel.id, "ref": "22000000000001", "name": "Main FBS",
            "warehouse_id": cls.warehouse.id})
        cls.channel.fbo_warehouse_id = cls.warehouse
        cls.mug = cls.env["product.product"].search([("default_code", "=", "MUG-01")])
        cls.env["stock.quant"]._update_available_quantity(cls.mug, cls.warehouse.lot_stock_id, 50)
        cls.responsible = new_test_user(cls.env, "ozon.responsible", groups="sales_team.group_sale_salesman,"
                                        "sale_inbox.group_sale_inbox_user,stock.group_stock_user")
        cls.channel.responsible_id = cls.responsible
        cls.inbox_user = new_test_user(cls.env, "ozon.inbox.user",
                                       groups="sales_team.group_sale_salesman,sale_inbox.group_sale_inbox_user")

    def start_ozon(self):
        self.store = self.start_store()
        self.channel.store_url = self.store.url
        self.ozon = FakeOzon(self.store)
        self.client = Ozon().client({"api_login": self.ozon.client_id, "api_secret": self.ozon.api_key,
                                     "store_url": self.store.url, **ALLOW_LOCAL})

    # -- helpers --------------------------------------------------------

    def posting(self, number, quantity=1, fbo=False, hours_ago=0, **extra):
        """A posting in the fake Ozon, received and processed: its sales order."""
        make = self.ozon.fbo_posting if fbo else self.ozon.fbs_posting
        posting = make(number, [("MUG-01", quantity, "12.10")], **extra)
        for product in posting["products"]:
            product["currency_code"] = "EUR"
        created = (datetime.utcnow() - timedelta(hours=hours_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")
        posting["in_process_at" if not fbo else "created_at"] = created
        posting["addressee"] = {"name": "Ozon Buyer", "phone": ""}
        self.ozon.add_posting(posting)
        self.poll(number, fbo)
        so = self.inbox_order(number).sale_order_id
        self.assertTrue(so, self.inbox_order(number).error_message)
        return so

    def poll(self, number, fbo=False):
        data = self.client.posting(number, "fbo" if fbo else "fbs")
        self.Inbox._receive(self.channel, json.dumps(data).encode(), "application/json")
        self.process()

    def inbox_order(self, number):
        return self.Inbox.search([("channel_id", "=", self.channel.id), ("external_id", "=", number)])

    def cancellation(self, number):
        return self.env["sale.inbox.cancellation"].search([("name", "=", number)])

    def deliver(self, so):
        picking = so.picking_ids.filtered(lambda p: p.state not in ("done", "cancel"))
        for move in picking.move_ids:
            move.quantity = move.product_uom_qty
        picking.move_ids.picked = True
        picking.button_validate()
        self.assertEqual(picking.state, "done")

    def activities(self, so):
        return self.env["mail.activity"].search([
            ("res_model", "=", "sale.order"), ("res_id", "=", so.id),
            ("activity_type_id", "=", self.env.ref("sale_inbox.mail_activity_type_store_cancellation").id)])

    def stock(self, warehouse=None):
        return self.mug.with_context(warehouse_id=(warehouse or self.warehouse).id).qty_available


@tagged("post_install", "-at_install")
class TestOzonCancel(OzonCancelFixtures, TransactionCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_ozon()

    def setUp(self):
        super().setUp()
        self.start_ozon()

    # -- Ozon cancels ------------------------------------------------------

    def test_cancelled_within_the_hours_is_cancelled_with_its_delivery(self):
        so = self.posting("1000-0001-1", 2, hours_ago=3)
        self.assertEqual(so.state, "sale")
        delivery = so.picking_ids
        self.ozon.cancel_posting("1000-0001-1", 352)
        self.poll("1000-0001-1")
        self.assertEqual(so.state, "cancel")
        self.assertEqual(delivery.state, "cancel")
        line = self.cancellation("1000-0001-1")
        self.assertRecordValues(line, [{"action": "auto_cancelled", "reason": "Product is out of stock",
                                        "goods_left": False, "scheme": "fbs", "sale_order_id": so.id}])
        self.assertEqual(self.inbox_order("1000-0001-1").state, "cancelled")
        self.assertFalse(self.activities(so))
        # Ozon cancelled it: nothing is sent back.
        self.assertFalse(so.outbox_ids)
        self.assertFalse(self.store.calls("POST", CANCEL))

    def test_cancelled_after_the_hours_waits_for_goods_returned(self):
        so = self.posting("1000-0002-1", 2, hours_ago=30)
        delivery = so.picking_ids
        self.ozon.cancel_posting("1000-0002-1", 352)
        self.poll("1000-0002-1")
        line = self.cancellation("1000-0002-1")
        self.assertEqual(line.action, "waiting")
        self.assertGreater(line.hours_after_order, 29)
        self.assertEqual(so.state, "sale", "nothing is undone by itself after the hours")
        self.assertEqual(delivery.state, "assigned")
        activity = self.activities(so)
        self.assertEqual(activity.user_id, self.responsible)
        self.assertTrue(so.store_cancellation_waiting)
        # The Responsible, back at the warehouse, presses Goods Returned on the sales order.
        so.with_user(self.responsible).action_store_goods_returned()
        self.assertEqual(delivery.state, "cancel")
        self.assertEqual(so.state, "draft")
        self.assertEqual(line.action, "returned")
        self.assertNotIn("press Goods Returned", line.note, "the details say what was done, not what to do")
        self.assertEqual(line.done_by_id, self.responsible)
        self.assertFalse(self.activities(so), "the activity is done")
        self.assertFalse(so.store_cancellation_waiting)
        self.assertFalse(self.store.calls("POST", CANCEL))
        with self.assertRaises(UserError):
            line.with_user(self.responsible).action_goods_returned()

    def test_delivery_done_waits_then_the_return_is_validated_and_the_order_is_a_quotation(self):
        before = self.stock()
        so = self.posting("1000-0003-1", 3, hours_ago=1)
        self.deliver(so)
        self.assertEqual(self.stock(), before - 3)
        self.ozon.cancel_posting("1000-0003-1", 667, after_ship=True)
        self.poll("1000-0003-1")
        line = self.cancellation("1000-0003-1")
        self.assertRecordValues(line, [{"action": "waiting", "goods_left": True, "cancelled_after_ship": True,
                                        "reason": "Order was lost by the carrier"}])
        self.assertTrue(self.activities(so))
        line.with_user(self.responsible).action_goods_returned()
        returned = line.picking_ids
        self.assertEqual(len(returned), 1)
        self.assertEqual(returned.state, "done")
        self.assertEqual(returned.return_id, so.picking_ids.filtered(lambda p: p.picking_type_code == "outgoing"))
        self.assertEqual(self.stock(), before, "every unit back in stock")
        self.assertEqual(so.state, "draft")
        self.assertEqual(line.action, "returned")

    def test_delivery_done_within_the_hours_is_not_cancelled_by_itself(self):
        so = self.posting("1000-0004-1", 1, hours_ago=1)
        self.deliver(so)
        self.ozon.cancel_posting("1000-0004-1", 352)
        self.poll("1000-0004-1")
        self.assertRecordValues(self.cancellation("1000-0004-1"), [{"action": "waiting", "goods_left": True,
                                                                    "cancelled_after_ship": False}])
        self.assertEqual(so.state, "sale")

    def test_no_limit_cancels_whenever_the_goods_are_still_there(self):
        self.channel.auto_cancel_hours = 0
        so = self.posting("1000-0005-1", 1, hours_ago=100)
        self.ozon.cancel_posting("1000-0005-1", 352)
        self.poll("1000-0005-1")
        self.assertEqual(self.cancellation("1000-0005-1").action, "auto_cancelled")
        self.assertEqual(so.state, "cancel")

    def test_fbo_is_applied_automatically(self):
        so = self.posting("2000-0001-1", 2, fbo=True)
        self.ozon.cancel_posting("2000-0001-1", 352)
        self.poll("2000-0001-1", fbo=True)
        line = self.cancellation("2000-0001-1")
        self.assertRecordValues(line, [{"action": "auto_cancelled", "scheme": "fbo"}])
        self.assertEqual(so.state, "cancel")
        self.assertFalse(self.activities(so))

    def test_fbo_delivered_is_returned_automatically(self):
        before = self.stock()
        so = self.posting("2000-0002-1", 2, fbo=True)
        self.deliver(so)
        self.ozon.cancel_posting("2000-0002-1", 352)
        self.poll("2000-0002-1", fbo=True)
        line = self.cancellation("2000-0002-1")
        self.assertEqual(line.action, "auto_cancelled")
        self.assertEqual(line.picking_ids.state, "done")
        self.assertEqual(self.stock(), before)
        self.assertEqual(so.state, "cancel")

    def test_fbo_option_off_asks_a_person(self):
        self.channel.cancel_fbo_automatically = False
        so = self.posting("2000-0003-1", 1, fbo=True)
        self.ozon.cancel_posting("2000-0003-1", 352)
        self.poll("2000-0003-1", fbo=True)
        self.assertEqual(self.cancellation("2000-0003-1").action, "waiting")
        self.assertEqual(so.state, "sale")
        self.assertTrue(self.activities(so))

    def test_fbs_goods_go_to_the_fbo_warehouse_with_the_option(self):
        fbo = self.env["stock.warehouse"].create({"name": "Ozon FBO", "code": "OZFBO"})
        self.channel.write({"fbo_warehouse_id": fbo.id, "cancel_fbs_to_fbo": True})
        before = self.stock()
        so = self.posting("1000-0006-1", 2, hours_ago=2)
        self.deliver(so)
        self.ozon.cancel_posting("1000-0006-1", 667, after_ship=True)
        self.poll("1000-0006-1")
        line = self.cancellation("1000-0006-1")
        self.assertEqual(line.action, "waiting")
        line.with_user(self.responsible).action_goods_returned()
        self.assertEqual(line.action, "moved_to_fbo")
        transfer = line.picking_ids.filtered(lambda p: p.picking_type_code == "internal")
        self.assertEqual(transfer.state, "done")
        self.assertEqual(transfer.location_dest_id, fbo.lot_stock_id)
        self.assertEqual(self.stock(fbo), 2)
        self.assertEqual(self.stock(), before - 2, "the goods stay with Ozon, not in your warehouse")
        self.assertEqual(so.state, "cancel")

    def test_a_second_poll_of_the_same_cancellation_does_nothing_more(self):
        so = self.posting("1000-0007-1", 1, hours_ago=30)
        self.ozon.cancel_posting("1000-0007-1", 352)
        self.poll("1000-0007-1")
        # Ozon changes the cancelled posting again (a new version of the order reaches Odoo).
        self.ozon.set_status("1000-0007-1", "cancelled", substatus="posting_canceled",
                             shipment_date="2030-01-01T00:00:00Z")
        self.poll("1000-0007-1")
        self.ozon.cancel_posting("1000-0007-1", 400)
        self.poll("1000-0007-1")
        self.assertEqual(len(self.cancellation("1000-0007-1")), 1)
        self.assertEqual(len(self.activities(so)), 1)
        self.assertEqual(self.cancellation("1000-0007-1").reason, "Product is out of stock")
        self.assertEqual(self.inbox_order("1000-0007-1").state, "cancelled")

    def test_a_posting_cancelled_before_it_reached_odoo_is_listed_with_nothing_to_do(self):
        posting = self.ozon.fbs_posting("1000-0008-1", [("MUG-01", 1, "12.10")])
        posting["products"][0]["currency_code"] = "EUR"
        self.ozon.add_posting(posting)
        self.ozon.cancel_posting("1000-0008-1", 352)
        self.poll("1000-0008-1")
        self.assertRecordValues(self.cancellation("1000-0008-1"), [{"action": "nothing", "sale_order_id": False}])
        self.assertFalse(self.inbox_order("1000-0008-1").sale_order_id)

    def test_one_failing_cancellation_does_not_hold_up_the_others(self):
        sos = {number: self.posting(number, 1, hours_ago=1) for number in ("1000-0011-1", "1000-0012-1", "1000-0013-1")}
        for number in sos:
            self.ozon.cancel_posting(number, 352)
            data = self.client.posting(number, "fbs")
            self.Inbox._receive(self.channel, json.dumps(data).encode(), "application/json")
        take_back = SaleInboxCancellation._take_back

        def poisoned(line, *args, **kwargs):
            if line.name == "1000-0012-1":
                raise RuntimeError("the warehouse fell over")
            return take_back(line, *args, **kwargs)

        with patch.object(SaleInboxCancellation, "_take_back", poisoned):
            self.process()
        for number in ("1000-0011-1", "1000-0013-1"):
            self.assertEqual(sos[number].state, "cancel")
            self.assertEqual(self.cancellation(number).action, "auto_cancelled")
        bad = self.inbox_order("1000-0012-1")
        self.assertRecordValues(bad, [{"state": "error", "failed_step": "cancellation"}])
        self.assertIn("the warehouse fell over", bad.error_message)
        line = self.cancellation("1000-0012-1")
        self.assertEqual(line.action, "failed")
        self.assertIn("the warehouse fell over", line.error)
        self.assertEqual(sos["1000-0012-1"].state, "sale", "the failed one's work was undone")
        # Mended: Retry applies it.
        bad.action_retry()
        self.process()
        self.assertEqual(line.action, "auto_cancelled")
        self.assertFalse(line.error)
        self.assertEqual(sos["1000-0012-1"].state, "cancel")
        self.assertEqual(bad.state, "cancelled")

    def test_the_cancellations_page(self):
        self.posting("1000-0021-1", 1, hours_ago=1)
        late = self.posting("1000-0022-1", 1, hours_ago=48)
        self.ozon.cancel_posting("1000-0021-1", 352)
        self.ozon.cancel_posting("1000-0022-1", 666)
        self.poll("1000-0021-1")
        self.poll("1000-0022-1")
        action = self.env["ir.actions.act_window"]._for_xml_id("sale_inbox.sale_inbox_cancellation_action")
        self.assertTrue(self.env.ref("sale_inbox.menu_sale_inbox_cancellation").action)
        Page = self.env[action["res_model"]].with_user(self.inbox_user)
        rows = Page.search_read([("channel_id", "=", self.channel.id)],
                                ["name", "reason", "goods_left", "action", "sale_order_id"], order="name")
        self.assertEqual([(r["name"], r["reason"], r["goods_left"], r["action"]) for r in rows], [
            ("1000-0021-1", "Product is out of stock", False, "auto_cancelled"),
            ("1000-0022-1", "Delivery is not available in the region", False, "waiting"),
        ])
        self.assertEqual(rows[1]["sale_order_id"][0], late.id)
        Page.get_views([(False, "list"), (False, "form"), (False, "search")])
        self.assertEqual(self.channel.cancellation_count, 2)
        self.assertEqual(self.channel.with_user(self.inbox_user).action_view_cancellations()["domain"],
                         [("channel_id", "=", self.channel.id)])

    def test_an_invoiced_order_always_waits_for_a_person(self):
        so = self.posting("1000-0009-1", 1, hours_ago=1)
        so._create_invoices().action_post()
        self.ozon.cancel_posting("1000-0009-1", 352)
        self.poll("1000-0009-1")
        line = self.cancellation("1000-0009-1")
        self.assertEqual(line.action, "waiting")
        self.assertIn("invoiced", line.note)
        self.assertEqual(so.state, "sale")
        self.assertTrue(self.activities(so))

    def test_goods_with_ozon_but_the_delivery_not_validated_go_to_the_fbo_warehouse(self):
        fbo = self.env["stock.warehouse"].create({"name": "Ozon FBO 3", "code": "OZFB3"})
        self.channel.write({"fbo_warehouse_id": fbo.id, "cancel_fbs_to_fbo": True})
        before = self.stock()
        so = self.posting("1000-0010-1", 2, hours_ago=1)
        self.ozon.cancel_posting("1000-0010-1", 667, after_ship=True)
        self.poll("1000-0010-1")
        line = self.cancellation("1000-0010-1")
        self.assertRecordValues(line, [{"action": "waiting", "goods_left": True}])
        line.with_user(self.responsible).action_goods_returned()
        self.assertEqual(line.action, "moved_to_fbo")
        self.assertEqual(line.picking_ids.state, "done")
        self.assertEqual(self.stock(fbo), 2)
        self.assertEqual(self.stock(), before - 2)
        self.assertEqual(so.state, "cancel")
        self.assertEqual(so.picking_ids.filtered(lambda p: p.picking_type_code == "outgoing").state, "cancel")

    # -- cancelling in Odoo ------------------------------------------------

    def open_wizard(self, so, user=None):
        action = so.with_user(user or self.responsible).action_cancel()
        self.assertEqual(action["res_model"], "sale.order.store.cancel")
        return self.env["sale.order.store.cancel"].with_user(user or self.responsible).browse(action["res_id"])

    def test_the_wizard_lists_the_live_reasons_and_402_needs_a_message(self):
        so = self.posting("1000-0031-1", 1)
        wizard = self.open_wizard(so)
        self.assertEqual(so.state, "sale", "opening the wizard cancels nothing")
        self.assertEqual(wizard.reason_ids.mapped("code"), ["352", "400", "402"])
        wizard.get_views([(False, "form")])
        self.assertEqual(self.store.calls("POST", REASONS)[-1].json(), {"related_posting_numbers": ["1000-0031-1"]})
        other = wizard.reason_ids.filtered(lambda r: r.code == "402")
        wizard.reason_id = other
        with self.assertRaisesRegex(ValidationError, "needs a message"):
            wizard.action_confirm()
        self.assertEqual(so.state, "sale")
        self.assertFalse(so.outbox_ids)
        wizard.message = "The buyer asked us by phone"
        wizard.action_confirm()
        self.assertEqual(so.state, "cancel")
        self.assertRecordValues(so.outbox_ids, [{"state": "pending", "store_status": "cancelled",
                                                 "reason_code": "402"}])
        self.env["sale.channel.outbox"]._cron_send()
        self.assertEqual(so.outbox_ids.state, "sent", so.outbox_ids.last_error)
        self.assertEqual(self.ozon.cancelled["1000-0031-1"],
                         {"reason_id": 402, "message": "The buyer asked us by phone"})
        self.assertEqual(len(self.store.calls("POST", CANCEL)), 1)
        # Never twice: the order is cancelled, a second wizard refuses, nothing more is queued.
        with self.assertRaises(UserError):
            wizard.action_confirm()
        self.assertEqual(len(so.outbox_ids), 1)
        # Ozon's cancellation, read back, is not taken for Ozon's own.
        self.poll("1000-0031-1")
        self.assertEqual(self.cancellation("1000-0031-1").action, "nothing")
        self.assertEqual(len(self.store.calls("POST", CANCEL)), 1)

    def test_the_wizard_with_status_sync_sends_once_with_the_reason(self):
        # Status sync to the store queues the cancellation itself: the wizard adds no second one.
        # (In SQL: the channel's check wants Ozon's "assembled" sent too, which is not here yet.)
        self.env.cr.execute("UPDATE sale_channel SET status_sync = 'to_store' WHERE id = %s", [self.channel.id])
        self.channel.invalidate_recordset(["status_sync"])
        so = self.posting("1000-0032-1", 1)
        wizard = self.open_wizard(so)
        wizard.reason_id = wizard.reason_ids.filtered(lambda r: r.code == "352")
        wizard.action_confirm()
        self.assertEqual(so.outbox_ids.filtered(lambda m: m.odoo_stage == "cancelled").mapped("reason_code"), ["352"])

    def test_odoos_own_cancelling_without_a_reason_tells_the_person(self):
        self.env.cr.execute("UPDATE sale_channel SET status_sync = 'to_store' WHERE id = %s", [self.channel.id])
        self.channel.invalidate_recordset(["status_sync"])
        so = self.posting("1000-0035-1", 1)
        so._action_cancel()  # code of Odoo's or another addon's, which chose no reason
        self.assertFalse(so.outbox_ids.filtered(lambda m: m.odoo_stage == "cancelled"))
        self.assertIn("was not told of this cancellation", so.message_ids[0].body)

    def test_ozon_refusing_the_reason_is_shown_on_the_message(self):
        so = self.posting("1000-0033-1", 1)
        wizard = self.open_wizard(so)
        wizard.reason_id = wizard.reason_ids.filtered(lambda r: r.code == "352")
        # Meanwhile Ozon moved the posting on: the reason is no longer allowed.
        self.ozon.set_status("1000-0033-1", "delivering")
        wizard.action_confirm()
        self.env["sale.channel.outbox"]._cron_send()
        self.assertEqual(so.outbox_ids.state, "failed")
        self.assertIn("HAS_INCORRECT_CANCEL_REASON", so.outbox_ids.last_error)

    def test_the_wizard_says_when_ozon_cannot_be_reached(self):
        so = self.posting("1000-0034-1", 1)
        self.channel.store_url = "http://127.0.0.1:9"
        wizard = self.open_wizard(so)
        self.assertIn("could not be asked for its cancellation reasons", wizard.fetch_error)
        self.assertFalse(wizard.reason_ids)
        with self.assertRaises(ValidationError):
            wizard.action_confirm()
        wizard.action_cancel_in_odoo_only()
        self.assertEqual(so.state, "cancel")
        self.assertFalse(so.outbox_ids, "cancelled in Odoo only: Ozon is not told")

    def test_fbo_orders_cancel_without_the_wizard(self):
        so = self.posting("2000-0031-1", 1, fbo=True)
        so.with_context(disable_cancel_warning=True).action_cancel()
        self.assertEqual(so.state, "cancel")
        self.assertFalse(self.store.calls("POST", REASONS))

    # -- what a Sales Inbox User may not do -------------------------------

    def test_rpc_cancel_without_the_wizard_sends_nothing(self):
        so = self.posting("1000-0041-1", 1)
        # A forged reason in the context (JSON, as RPC gives it) is not the wizard's.
        forged = {"sale_inbox_cancel_reason": {"code": "352"}, "disable_cancel_warning": True}
        action = so.with_user(self.inbox_user).with_context(**forged).action_cancel()
        self.assertEqual(action["res_model"], "sale.order.store.cancel")
        self.assertEqual(so.state, "sale")
        self.assertFalse(so.outbox_ids)
        other = self.posting("1000-0042-1", 1)
        with self.assertRaisesRegex(UserError, "one at a time"):
            (so | other).with_user(self.inbox_user).action_cancel()
        self.assertEqual((so | other).mapped("state"), ["sale", "sale"])
        self.assertFalse(self.store.calls("POST", CANCEL))

    def test_a_user_cannot_write_cancellations_nor_the_rules(self):
        self.posting("1000-0043-1", 1, hours_ago=30)
        self.ozon.cancel_posting("1000-0043-1", 352)
        self.poll("1000-0043-1")
        line = self.cancellation("1000-0043-1").with_user(self.inbox_user)
        self.assertEqual(line.action, "waiting")
        with self.assertRaises(AccessError):
            line.write({"action": "returned"})
        with self.assertRaises(AccessError):
            line.unlink()
        with self.assertRaises(AccessError):
            line.create({"name": "x", "channel_id": self.channel.id, "inbox_order_id": line.inbox_order_id.id})
        with self.assertRaises(AccessError):
            self.channel.with_user(self.inbox_user).write({"auto_cancel_hours": 0})
        salesman = new_test_user(self.env, "ozon.salesman", groups="sales_team.group_sale_salesman")
        with self.assertRaises(AccessError):
            line.with_user(salesman).action_goods_returned()
        self.assertEqual(line.action, "waiting")

    def test_hours_cannot_be_negative(self):
        with self.assertRaises(ValidationError):
            self.channel.auto_cancel_hours = -1

    def test_fbo_warehouse_option_needs_goods_that_left(self):
        fbo = self.env["stock.warehouse"].create({"name": "Ozon FBO 2", "code": "OZFB2"})
        self.channel.write({"fbo_warehouse_id": fbo.id, "cancel_fbs_to_fbo": True, "auto_cancel_hours": 1})
        so = self.posting("1000-0044-1", 1, hours_ago=5)
        self.ozon.cancel_posting("1000-0044-1", 352)
        self.poll("1000-0044-1")
        line = self.cancellation("1000-0044-1")
        line.with_user(self.responsible).action_goods_returned()
        # Goods never left: the open delivery is cancelled, nothing goes to the FBO warehouse.
        self.assertEqual(line.action, "returned")
        self.assertEqual(self.stock(fbo), 0)
        self.assertEqual(so.state, "draft")
        self.assertEqual(so.picking_ids.state, "cancel")

    # -- Goods Returned on several lines; refusals; who may do what ----------

    def test_goods_returned_treats_each_line_on_its_own(self):
        numbers = ("1000-0061-1", "1000-0062-1", "1000-0063-1")
        sos = {number: self.posting(number, 1, hours_ago=30) for number in numbers}
        for number in sos:
            self.ozon.cancel_posting(number, 352)
            self.poll(number)
        lines = self.cancellation("1000-0061-1") | self.cancellation("1000-0062-1") | self.cancellation("1000-0063-1")
        self.assertEqual(set(lines.mapped("action")), {"waiting"})
        take_back = SaleInboxCancellation._take_back

        def poisoned(line, *args, **kwargs):
            if line.name == "1000-0062-1":
                raise RuntimeError("the return cannot be made")
            return take_back(line, *args, **kwargs)

        with patch.object(SaleInboxCancellation, "_take_back", poisoned), self.assertLogs(level="ERROR"):
            result = lines.with_user(self.responsible).action_goods_returned()
        for number in ("1000-0061-1", "1000-0063-1"):
            self.assertEqual(self.cancellation(number).action, "returned")
            self.assertEqual(sos[number].state, "draft")
        bad = self.cancellation("1000-0062-1")
        self.assertEqual(bad.action, "waiting", "the failing one still waits: pressed again once mended")
        self.assertIn("the return cannot be made", bad.error)
        self.assertEqual(sos["1000-0062-1"].state, "sale")
        self.assertEqual(result["params"]["type"], "warning")
        self.assertIn("1000-0062-1", result["params"]["message"])
        self.assertIn("the return cannot be made", result["params"]["message"])
        # Mended: pressed again, it is done.
        bad.with_user(self.responsible).action_goods_returned()
        self.assertEqual(bad.action, "returned")
        self.assertFalse(bad.error)

    def test_goods_returned_on_the_sales_order_is_checked_first(self):
        so = self.posting("1000-0064-1", 1, hours_ago=30)
        self.ozon.cancel_posting("1000-0064-1", 352)
        self.poll("1000-0064-1")
        salesman = new_test_user(self.env, "ozon.salesman.2", groups="sales_team.group_sale_salesman")
        so.user_id = salesman
        # Refused on the sales order itself, before its cancellations are read as superuser.
        with self.assertRaisesRegex(AccessError, r"\(Sales Order\)"):
            so.with_user(salesman).action_store_goods_returned()
        self.assertEqual(self.cancellation("1000-0064-1").action, "waiting")
        nothing_waiting = self.posting("1000-0068-1", 1)
        nothing_waiting.user_id = salesman
        with self.assertRaisesRegex(AccessError, r"\(Sales Order\)"):
            nothing_waiting.with_user(salesman).action_store_goods_returned()

    def test_ozon_refusing_the_cancellation_asks_the_responsible(self):
        so = self.posting("1000-0065-1", 1)
        wizard = self.open_wizard(so)
        wizard.reason_id = wizard.reason_ids.filtered(lambda r: r.code == "352")
        self.ozon.set_status("1000-0065-1", "delivering")
        wizard.action_confirm()
        self.env["sale.channel.outbox"]._cron_send()
        self.assertEqual(so.outbox_ids.state, "failed")
        activity = so.activity_ids.filtered(lambda a: a.user_id == self.responsible)
        self.assertEqual(len(activity), 1, so.activity_ids.mapped("summary"))
        self.assertIn("refused the cancellation", activity.summary)
        self.assertIn("HAS_INCORRECT_CANCEL_REASON", activity.note)

    def test_a_user_cannot_write_nor_add_the_stores_reasons(self):
        so = self.posting("1000-0067-1", 1)
        wizard = self.open_wizard(so, self.inbox_user)
        other = wizard.reason_ids.filtered(lambda r: r.code == "402")
        self.assertTrue(other.needs_message)
        with self.assertRaises(AccessError):
            other.write({"needs_message": False})
        with self.assertRaises(AccessError):
            other.write({"code": "352"})
        with self.assertRaises(AccessError):
            other.create({"wizard_id": wizard.id, "code": "402", "name": "Other", "needs_message": False})
        wizard.reason_id = other
        # The wizard's copy is read-only: writing it changes nothing of the reason.
        wizard.write({"needs_message": False})
        wizard.invalidate_recordset()
        other.invalidate_recordset()
        self.assertTrue(other.needs_message)
        with self.assertRaisesRegex(ValidationError, "needs a message"):
            wizard.action_confirm()
        self.assertEqual(so.state, "sale")


@tagged("post_install", "-at_install")
class TestOzonCancelRpc(OzonCancelFixtures, HttpCase):
    """The same refusals over JSON-RPC, as a Sales Inbox User would try them."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_ozon()

    def setUp(self):
        super().setUp()
        self.start_ozon()

    def call(self, model, method, ids, *args, context=None, **kwargs):
        return self.make_jsonrpc_request("/web/dataset/call_kw", {
            "model": model, "method": method, "args": [ids, *args],
            "kwargs": dict(kwargs, context=dict(context or {}, uid=self.inbox_user.id))})

    def test_a_user_over_rpc(self):
        so = self.posting("1000-0051-1", 1, hours_ago=30)
        self.ozon.cancel_posting("1000-0051-1", 352)
        self.poll("1000-0051-1")
        other = self.posting("1000-0052-1", 1)
        line = self.cancellation("1000-0051-1")
        self.authenticate("ozon.inbox.user", "ozon.inbox.user")
        # Cancelling with a forged reason: the wizard comes back, nothing is cancelled nor queued.
        action = self.call("sale.order", "action_cancel", [other.id],
                           context={"sale_inbox_cancel_reason": {"code": "352"}, "disable_cancel_warning": True})
        self.assertEqual(action["res_model"], "sale.order.store.cancel")
        self.assertEqual(other.state, "sale")
        self.assertFalse(other.outbox_ids)
        # 402 without a message, straight to the wizard's method: refused by the server.
        wizard = self.env["sale.order.store.cancel"].browse(action["res_id"])
        other_reason = wizard.reason_ids.filtered(lambda r: r.code == "402")
        self.call("sale.order.store.cancel", "write", [wizard.id], {"reason_id": other_reason.id})
        with self.assertRaises(JsonRpcException) as caught:
            self.call("sale.order.store.cancel", "action_confirm", [wizard.id])
        self.assertEqual(caught.exception.args[0], "odoo.exceptions.ValidationError")
        self.assertEqual(other.state, "sale")
        for model, method, ids, args in (
                ("sale.inbox.cancellation", "write", [line.id], [{"action": "returned"}]),
                ("sale.inbox.cancellation", "unlink", [line.id], []),
                ("sale.channel", "write", [self.channel.id], [{"auto_cancel_hours": 0}])):
            with self.assertRaises(JsonRpcException) as caught:
                self.call(model, method, ids, *args)
            self.assertEqual(caught.exception.args[0], "odoo.exceptions.AccessError", (model, method))
        self.assertEqual((line.action, self.channel.auto_cancel_hours), ("waiting", 24))
        self.assertFalse(self.store.calls("POST", CANCEL))
        self.assertEqual(so.state, "sale")

    def test_a_salesperson_cancels_an_ozon_order_in_the_browser(self):
        http.root.statics  # noqa: B018 -- read once, in one thread (see tests/test_tours.py)
        so = self.posting("1000-0053-1", 1)
        try:
            self.start_tour(f"/odoo/action-sale.action_orders/{so.id}", "sale_inbox_ozon_cancel",
                            login="ozon.inbox.user", timeout=180)
        except unittest.SkipTest as exc:
            self.fail(f"The browser tour could not run: {exc}")
        self.assertEqual(so.state, "cancel")
        self.assertRecordValues(so.outbox_ids, [{"reason_code": "402", "reason_message": "The buyer asked us by phone",
                                                 "state": "pending"}])
