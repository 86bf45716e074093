"""Ozon orders end to end against the fake Ozon (real HTTP on 127.0.0.1): the poll over pages,
FBS, rFBS and FBO postings and their warehouses, the marketplace as customer, FBO deliveries,
split postings, push notifications that only cause a read of the API, and the set-up buttons."""
import json
import threading
from datetime import datetime, timedelta
from unittest.mock import patch

from odoo import fields
from odoo.exceptions import AccessError
from odoo.tests import HttpCase, TransactionCase, new_test_user, tagged
from odoo.tests.common import JsonRpcException

from odoo.addons.sale_inbox.models import sale_channel_reread
from odoo.addons.sale_inbox.platforms.ozon import Ozon
from odoo.addons.sale_inbox.platforms.ozon.fake import FakeOzon
from odoo.addons.sale_inbox.platforms.ozon.orders import POSTING_NUMBER

from .common import StockFixtures, StoreChannelFixtures

MAIN = 22000000000001
RFBS = 22000000000002
UNMAPPED = 22000000000999
USER = "ozon_inbox_user"
BUYER = {"customer_id": 7001, "name": "Ivan Petrov", "phone": "",
         "address": {"address_tail": "ul. Lenina 1, kv. 5", "city": "Moskva", "zip_code": "101000",
                     "region": "Moskva", "country": "RU"}}


class OzonFixtures(StoreChannelFixtures, StockFixtures):

    @classmethod
    def setup_ozon(cls):
        cls.setup_store("ozon", name="Ozon", api_login="123456", api_secret="ozon-key", poll_orders=True,
                        add_payment=False)
        env = cls.env
        rub = env.ref("base.RUB")
        rub.active = True
        cls.channel.pricelist_id = env["product.pricelist"].create({"name": "Ozon RUB", "currency_id": rub.id})
        cls.warehouse = env["stock.warehouse"].search([("company_id", "=", env.company.id)], limit=1)
        cls.warehouse_two = env["stock.warehouse"].create({"name": "Second", "code": "WH2"})
        cls.mug = env["product.product"].search([("default_code", "=", "MUG-01")])
        cls.tee = env["product.product"].search([("default_code", "=", "TSHIRT-RED-M")])
        for product in cls.mug | cls.tee:
            env["stock.quant"]._update_available_quantity(product, cls.warehouse.lot_stock_id, 50)
        env["sale.channel.warehouse"].create([
            {"channel_id": cls.channel.id, "ref": str(MAIN), "name": "Main FBS", "warehouse_id": cls.warehouse.id},
            {"channel_id": cls.channel.id, "ref": str(RFBS), "name": "Own delivery", "kind": "rfbs",
             "warehouse_id": cls.warehouse_two.id},
        ])
        cls.channel.action_setup_fbo_warehouse()

    def start_ozon(self):
        self.store = self.start_store()
        self.channel.store_url = self.store.url
        # Its postings change a minute before each poll: the poll reads changes up to its own
        # whole second (a change within that second is read by the next poll).
        self.ozon = FakeOzon(self.store, now=lambda: datetime.utcnow() - timedelta(minutes=1))
        self.ozon.warehouses.append({"warehouse_id": RFBS, "name": "Own delivery", "is_rfbs": True,
                                     "status": "created"})

    def poll(self):
        self.env["sale.channel"]._cron_poll_orders()

    def by_number(self, number):
        return self.Inbox.search([("channel_id", "=", self.channel.id), ("external_id", "=", number)])


@tagged("post_install", "-at_install")
class TestOzonOrders(OzonFixtures, TransactionCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_ozon()

    def setUp(self):
        super().setUp()
        self.start_ozon()

    def test_1500_postings_over_two_pages_come_in_once(self):
        for index in range(1500):
            self.ozon.add_posting(self.ozon.fbs_posting(f"1000{index:04d}-0001-1", [("MUG-01", 1, "500.00")]))
        self.poll()
        self.assertFalse(self.channel.last_error)
        self.assertEqual(len(self.inbox()), 1500)
        self.assertEqual(len(self.store.calls("POST", "/v3/posting/fbs/list")), 2, "pages of 1000")
        self.store.requests.clear()
        self.poll()
        self.assertEqual(len(self.inbox()), 1500, "a second poll adds none")
        self.assertEqual(self.env["sale.inbox.delivery"].search_count(
            [("channel_id", "=", self.channel.id), ("state", "=", "pending")]), 0, "nor any new version")

    def test_fbs_posting_is_sold_to_the_marketplace_from_the_mapped_warehouse_and_confirmed(self):
        # The marketplace pays later (payouts): nothing to wait for, no payment to add, and the
        # documents are made as the channel says.
        self.channel.write({"wait_for_payment": True, "add_payment": True, "document_type": "invoice"})
        self.ozon.add_posting(self.ozon.fbs_posting("2000-0001-1", [("MUG-01", 2, "450.00")]))
        self.poll()
        self.process()
        order = self.by_number("2000-0001-1")
        self.assertEqual(order.state, "done", order.error_message)
        so = order.sale_order_id
        self.assertEqual(so.state, "sale", "confirmed, as the channel's settings say")
        partner = self.channel.marketplace_partner_id
        self.assertTrue(partner.is_company)
        self.assertEqual(partner.name, "Ozon")
        self.assertEqual(so.partner_id, partner)
        self.assertEqual(so.partner_shipping_id, partner, "FBS: Ozon gives no buyer's address")
        self.assertEqual(so.warehouse_id, self.warehouse)
        self.assertEqual(so.amount_total, 900.0)
        self.assertEqual(so.picking_ids.picking_type_id.warehouse_id, self.warehouse)
        self.assertEqual(order.invoice_id.state, "posted")
        self.assertEqual(order.invoice_id.payment_state, "not_paid")
        self.assertFalse(order.payment_id)

    def test_rfbs_buyer_address_goes_on_a_delivery_contact_of_the_marketplace(self):
        self.ozon.add_posting(self.ozon.fbs_posting(
            "2000-0002-1", [("TSHIRT-RED-M", 1, "1290.00")], warehouse_id=RFBS, customer=BUYER,
            addressee={"name": "Ivan Petrov", "phone": "+79001234567"}))
        self.ozon.add_posting(self.ozon.fbs_posting(
            "2000-0003-1", [("MUG-01", 1, "450.00")], warehouse_id=RFBS, customer=BUYER,
            addressee={"name": "Ivan Petrov", "phone": "+79001234567"}))
        self.poll()
        self.process()
        first, second = self.by_number("2000-0002-1"), self.by_number("2000-0003-1")
        self.assertEqual((first.state, second.state), ("done", "done"), first.error_message)
        so = first.sale_order_id
        partner = self.channel.marketplace_partner_id
        self.assertEqual(so.partner_id, partner)
        self.assertEqual(so.partner_invoice_id, partner)
        delivery = so.partner_shipping_id
        self.assertEqual(delivery.parent_id, partner)
        self.assertEqual(delivery.type, "delivery")
        self.assertEqual((delivery.name, delivery.city, delivery.zip), ("Ivan Petrov", "Moskva", "101000"))
        self.assertEqual(second.sale_order_id.partner_shipping_id, delivery, "the same address, one contact")
        self.assertEqual(so.warehouse_id, self.warehouse_two)
        self.assertEqual(self.env["res.partner"].search_count([("name", "=", "Ozon"), ("is_company", "=", True),
                                                               ("id", "!=", partner.id)]), 0)

    def test_unmapped_store_warehouse_stops_the_order_until_mapped(self):
        self.ozon.add_posting(self.ozon.fbs_posting("2000-0004-1", [("MUG-01", 1, "450.00")],
                                                    warehouse_id=UNMAPPED))
        self.ozon.add_posting(self.ozon.fbs_posting("2000-0005-1", [("MUG-01", 1, "450.00")]))
        self.poll()
        self.process()
        stopped, fine = self.by_number("2000-0004-1"), self.by_number("2000-0005-1")
        self.assertEqual(fine.state, "done", "the other order goes on")
        self.assertEqual(stopped.state, "needs_review")
        self.assertFalse(stopped.sale_order_id)
        self.assertIn(str(UNMAPPED), stopped.error_message)
        self.assertIn("Warehouses page", stopped.error_message)
        row = self.channel.store_warehouse_ids.filtered(lambda w: w.ref == str(UNMAPPED))
        self.assertTrue(row, "listed on the channel, ready to map")
        row.warehouse_id = self.warehouse_two
        stopped.action_retry()
        self.assertEqual(stopped.state, "done", stopped.error_message)
        self.assertEqual(stopped.sale_order_id.warehouse_id, self.warehouse_two)

    def test_fbo_posting_ships_from_the_fbo_warehouse_and_is_delivered_when_ozon_says_so(self):
        fbo = self.channel.fbo_warehouse_id
        self.assertTrue(fbo)
        self.ozon.add_posting(self.ozon.fbo_posting("3000-0001-1", [("MUG-01", 3, "400.00")]))
        self.ozon.add_posting(self.ozon.fbo_posting("3000-0002-1", [("TSHIRT-RED-M", 1, "1290.00")]))
        self.poll()
        self.process()
        first, second = self.by_number("3000-0001-1"), self.by_number("3000-0002-1")
        self.assertEqual(first.state, "done", first.error_message)
        so = first.sale_order_id
        self.assertEqual((so.state, so.warehouse_id), ("sale", fbo))
        self.assertEqual(so.partner_id, self.channel.marketplace_partner_id)
        self.assertNotEqual(so.picking_ids.state, "done")
        # Later, Ozon reports both delivered. The T-shirt is lot-tracked by now, and Odoo
        # refuses to validate its delivery without a lot: that order stops alone, with the
        # reason, and the other one is delivered.
        self.tee.tracking = "lot"
        self.ozon.set_status("3000-0001-1", "delivered")
        self.ozon.set_status("3000-0002-1", "delivered")
        self.poll()
        self.process()
        self.assertEqual(first.state, "done", first.error_message)
        self.assertEqual(so.picking_ids.state, "done", "validated: Ozon delivered it")
        self.assertEqual(so.picking_ids.move_ids.quantity, 3.0)
        self.assertEqual((second.state, second.failed_step), ("error", "status"))
        self.assertIn("Lot", second.error_message)
        self.assertNotEqual(second.sale_order_id.picking_ids.state, "done")
        self.tee.tracking = "none"
        second.action_retry()
        self.assertEqual(second.state, "done", second.error_message)
        self.assertEqual(second.sale_order_id.picking_ids.state, "done")

    def test_fbo_without_fbo_warehouse_stops_with_a_fix(self):
        self.channel.fbo_warehouse_id = False
        self.ozon.add_posting(self.ozon.fbo_posting("3000-0003-1", [("MUG-01", 1, "400.00")]))
        self.poll()
        self.process()
        order = self.by_number("3000-0003-1")
        self.assertEqual(order.state, "needs_review")
        self.assertIn("Set Up FBO Warehouse", order.error_message)
        self.channel.action_setup_fbo_warehouse()
        order.action_retry()
        self.assertEqual(order.state, "done", order.error_message)
        self.assertEqual(order.sale_order_id.warehouse_id, self.channel.fbo_warehouse_id)

    def test_split_posting_is_linked_to_the_parents_sales_order_without_duplicate_goods(self):
        self.ozon.add_posting(self.ozon.fbs_posting("4000-0001-1", [("MUG-01", 2, "450.00"),
                                                                    ("TSHIRT-RED-M", 1, "1290.00")]))
        self.poll()
        self.process()
        parent = self.by_number("4000-0001-1")
        so = parent.sale_order_id
        self.assertEqual(so.state, "sale")
        # Packed into two packages: Ozon splits the posting.
        self.ozon.set_status("4000-0001-1", "cancelled_from_split_pending",
                             products=[self.ozon._product(("MUG-01", 2, "450.00"))])
        self.ozon.add_posting(self.ozon.fbs_posting("4000-0001-2", [("TSHIRT-RED-M", 1, "1290.00")],
                                                    parent_posting_number="4000-0001-1"))
        self.poll()
        self.process()
        child = self.by_number("4000-0001-2")
        self.assertEqual(child.state, "done", child.error_message)
        self.assertEqual(child.sale_order_id, so)
        self.assertEqual(child.split_parent_id, parent)
        self.assertEqual(self.env["sale.order"].search_count([("channel_id", "=", self.channel.id)]), 1,
                         "no second sales order")
        self.assertEqual(sum(so.order_line.mapped("product_uom_qty")), 3.0, "no goods twice")
        self.assertEqual(so.state, "sale", "'cancelled_from_split_pending' is no cancellation")
        self.assertNotEqual(parent.state, "cancelled")
        # A later status of the split posting leaves the sales order alone.
        self.ozon.set_status("4000-0001-2", "awaiting_deliver")
        self.poll()
        self.process()
        self.assertEqual(child.state, "done", child.error_message)
        self.assertEqual(self.env["sale.order"].search_count([("channel_id", "=", self.channel.id)]), 1)
        # The parent cancelled later: its sales order holds the split part's goods too, so it
        # is not cancelled by itself; a person decides.
        self.ozon.set_status("4000-0001-1", "cancelled")
        self.poll()
        self.process()
        self.assertEqual((parent.state, parent.failed_step), ("needs_review", "cancellation"))
        self.assertIn("4000-0001-2", parent.error_message)
        self.assertEqual(so.state, "sale")

    def test_split_posting_arriving_with_its_parent_is_linked_in_the_same_run(self):
        self.ozon.add_posting(self.ozon.fbs_posting("4000-0002-1", [("MUG-01", 1, "450.00")],
                                                    status="cancelled_from_split_pending"))
        self.ozon.add_posting(self.ozon.fbs_posting("4000-0002-2", [("MUG-01", 1, "450.00")],
                                                    parent_posting_number="4000-0002-1"))
        self.poll()
        self.process()
        parent, child = self.by_number("4000-0002-1"), self.by_number("4000-0002-2")
        self.assertEqual((parent.state, child.state), ("done", "done"), child.error_message)
        self.assertEqual(child.sale_order_id, parent.sale_order_id)
        self.assertEqual(self.env["sale.order"].search_count([("channel_id", "=", self.channel.id)]), 1)

    def _parent_with_its_sales_order(self, number):
        self.ozon.add_posting(self.ozon.fbs_posting(number, [("MUG-01", 2, "450.00"),
                                                             ("TSHIRT-RED-M", 1, "1290.00")]))
        self.poll()
        self.process()
        parent = self.by_number(number)
        self.assertEqual(parent.sale_order_id.state, "sale", parent.error_message)
        return parent

    def test_parent_cancelled_in_the_poll_that_brings_its_split_part_keeps_the_parts_goods(self):
        parent = self._parent_with_its_sales_order("4000-0003-1")
        so = parent.sale_order_id
        self.ozon.set_status("4000-0003-1", "cancelled", products=[self.ozon._product(("MUG-01", 2, "450.00"))])
        self.ozon.add_posting(self.ozon.fbs_posting("4000-0003-2", [("TSHIRT-RED-M", 1, "1290.00")],
                                                    parent_posting_number="4000-0003-1"))
        self.poll()
        self.process()
        child = self.by_number("4000-0003-2")
        self.assertEqual((parent.state, parent.failed_step), ("needs_review", "cancellation"))
        self.assertIn("4000-0003-2", parent.error_message)
        self.assertEqual(so.state, "sale", "the split part's goods are on it")
        self.assertEqual((child.state, child.sale_order_id), ("done", so), child.error_message)

    def test_split_part_arriving_cancelled_is_linked_and_left_to_a_person(self):
        parent = self._parent_with_its_sales_order("4000-0004-1")
        self.ozon.set_status("4000-0004-1", "cancelled_from_split_pending")
        self.ozon.add_posting(self.ozon.fbs_posting("4000-0004-2", [("TSHIRT-RED-M", 1, "1290.00")],
                                                    parent_posting_number="4000-0004-1", status="cancelled"))
        self.poll()
        self.process()
        child = self.by_number("4000-0004-2")
        self.assertEqual(child.split_parent_id, parent)
        self.assertEqual((child.state, child.failed_step), ("needs_review", "cancellation"))
        self.assertEqual(parent.sale_order_id.state, "sale")

    def test_split_part_of_a_cancelled_sales_order_is_not_linked_to_it(self):
        parent = self._parent_with_its_sales_order("4000-0005-1")
        self.ozon.set_status("4000-0005-1", "cancelled")
        self.poll()
        self.process()
        self.assertEqual(parent.sale_order_id.state, "cancel", parent.error_message)
        self.ozon.add_posting(self.ozon.fbs_posting("4000-0005-2", [("TSHIRT-RED-M", 1, "1290.00")],
                                                    parent_posting_number="4000-0005-1"))
        self.poll()
        self.process()
        child = self.by_number("4000-0005-2")
        self.assertEqual(child.state, "needs_review")
        self.assertIn("cancelled", child.error_message)
        self.assertFalse(child.split_parent_id)

    def test_fulfilled_by_marketplace_is_read_from_the_normalized_order(self):
        self.ozon.add_posting(self.ozon.fbo_posting("3000-0005-1", [("MUG-01", 1, "400.00")]))
        self.ozon.add_posting(self.ozon.fbs_posting("3000-0006-1", [("MUG-01", 1, "400.00")]))
        self.poll()
        fbo, fbs = self.by_number("3000-0005-1"), self.by_number("3000-0006-1")
        self.assertEqual((fbo | fbs)._fulfilled_by_marketplace(), {fbo.id: True, fbs.id: False})

    def test_an_old_open_fbo_order_is_read_again_until_delivered(self):
        created = (datetime.utcnow() - timedelta(days=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.ozon.add_posting(self.ozon.fbo_posting("3000-0007-1", [("MUG-01", 1, "400.00")]))
        self.poll()
        self.process()
        order = self.by_number("3000-0007-1")
        self.assertEqual(order.state, "done", order.error_message)
        # Weeks later: out of the poll's FBO look-back, and Ozon delivers it.
        self.env.cr.execute("UPDATE sale_inbox_order SET create_date = %s WHERE id = %s",
                            (datetime.utcnow() - timedelta(days=20), order.id))
        order.invalidate_recordset()
        self.ozon.set_status("3000-0007-1", "delivered", created_at=created)
        self.poll()
        self.env["sale.channel.reread"]._cron_reread()
        self.process()
        self.assertEqual(order.sale_order_id.picking_ids.state, "done", order.error_message)
        self.assertTrue(order.store_checked_at)
        self.store.requests.clear()
        self.env["sale.channel.reread"]._cron_reread()
        self.assertEqual(self.store.requests, [], "delivered now: not read again")

    def test_read_warehouses_adds_updates_and_switches_off_vanished_ones(self):
        self.ozon.warehouses[0]["name"] = "Main FBS renamed"
        self.ozon.warehouses.append({"warehouse_id": 22000000000003, "name": "New one", "is_rfbs": False,
                                     "status": "created"})
        self.ozon.warehouses[:] = [w for w in self.ozon.warehouses if w["warehouse_id"] != RFBS]
        self.channel.action_read_warehouses()
        rows = self.env["sale.channel.warehouse"].with_context(active_test=False).search(
            [("channel_id", "=", self.channel.id)])
        by_ref = {row.ref: row for row in rows}
        self.assertEqual(by_ref[str(MAIN)].name, "Main FBS renamed")
        self.assertEqual(by_ref[str(MAIN)].warehouse_id, self.warehouse, "the mapping stays")
        self.assertFalse(by_ref[str(RFBS)].active, "vanished: kept, switched off")
        self.assertEqual(by_ref[str(RFBS)].warehouse_id, self.warehouse_two)
        self.assertTrue(by_ref["22000000000003"].active)
        self.assertEqual(len(rows), 3)
        self.assertEqual(self.channel.marketplace_partner_id.name, "Ozon", "the marketplace customer is made too")


@tagged("post_install", "-at_install")
class TestOzonPush(OzonFixtures, HttpCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_ozon()
        cls.user = new_test_user(cls.env, USER, groups="sale_inbox.group_sale_inbox_user")
        cls.Reread = cls.env["sale.channel.reread"]

    def setUp(self):
        super().setUp()
        self.start_ozon()
        self.path = self.channel._webhook_path()

    def push(self, data, raw=None):
        body = raw if raw is not None else json.dumps(data)
        return self.url_open(self.path, data=body, headers={"Content-Type": "application/json"}, timeout=30)

    def new_posting_push(self, number):
        return {"message_type": "TYPE_NEW_POSTING", "posting_number": number,
                "products": [{"sku": 147451959, "quantity": 2}], "in_process_at": "2026-01-26T06:56:36.294Z",
                "warehouse_id": MAIN, "seller_id": 15}

    def reread(self):
        self.Reread._cron_reread()

    def rows(self):
        return self.Reread.search([("channel_id", "=", self.channel.id)])

    def test_ping_is_answered_as_ozon_expects(self):
        response = self.push({"message_type": "TYPE_PING", "time": "2026-11-29T14:15:22Z"})
        self.assertEqual(response.status_code, 200, response.text)
        answer = response.json()
        self.assertEqual(set(answer), {"version", "name", "time"})
        self.assertTrue(answer["time"].endswith("Z"))
        self.assertEqual(self.store.requests, [])

    def test_push_of_an_unknown_posting_stores_nothing(self):
        response = self.push(self.new_posting_push("99999999-0001-1"))
        self.assertEqual((response.status_code, response.json()), (200, {"result": True}))
        self.assertEqual(self.store.requests, [], "the push itself makes no call to Ozon")
        self.assertEqual(len(self.rows()), 1)
        self.reread()
        self.assertFalse(self.rows(), "dropped")
        self.assertFalse(self.inbox(), "nothing stored in the inbox")
        self.assertEqual([r.path for r in self.store.requests], ["/v3/posting/fbs/get", "/v2/posting/fbo/get"])

    def test_push_of_an_existing_posting_makes_one_inbox_order_however_often_it_comes(self):
        self.ozon.add_posting(self.ozon.fbs_posting("5000-0001-1", [("MUG-01", 1, "450.00")]))
        push = self.new_posting_push("5000-0001-1")
        self.assertEqual(self.push(push).status_code, 200)
        self.assertEqual(self.push(push).status_code, 200)
        answers = []
        threads = [threading.Thread(target=lambda: answers.append(self.push(push).status_code)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual(answers, [200, 200])
        self.assertEqual(self.store.requests, [], "no call to Ozon from the pushes")
        self.assertEqual(len(self.rows()), 1, "one posting to read")
        self.reread()
        self.assertEqual(len(self.inbox()), 1)
        self.assertEqual(self.inbox().external_id, "5000-0001-1")
        self.assertFalse(self.rows())
        # Pushed again later (a status change): read again, still one order.
        self.ozon.set_status("5000-0001-1", "cancelled")
        self.push({"message_type": "TYPE_POSTING_CANCELLED", "posting_number": "5000-0001-1"})
        self.reread()
        self.assertEqual(len(self.inbox()), 1)
        self.assertEqual(self.inbox().delivery_count, 2, "its new version")

    def test_push_of_an_fbo_posting_is_read_from_the_fbo_list(self):
        self.ozon.add_posting(self.ozon.fbo_posting("5000-0002-1", [("MUG-01", 1, "450.00")]))
        self.push({"message_type": "TYPE_STATE_CHANGED", "posting_number": "5000-0002-1",
                   "new_state": "posting_delivered"})
        self.reread()
        self.assertEqual(len(self.inbox()), 1)
        self.assertEqual(self.inbox()._read_normalized().fulfilled_by, "marketplace")

    def test_unreadable_push_is_refused_in_ozons_error_shape_and_others_acknowledged(self):
        response = self.push(None, raw="{not json")
        self.assertEqual(response.status_code, 400)
        error = response.json()["error"]
        self.assertEqual(set(error), {"code", "message", "details"})
        response = self.push({"message_type": "TYPE_NEW_POSTING"})
        self.assertEqual(response.status_code, 400, "a posting push without a posting number")
        response = self.push({"message_type": "TYPE_STOCKS_CHANGED", "seller_id": 15, "items": []})
        self.assertEqual((response.status_code, response.json()), (200, {"result": True}))
        self.assertFalse(self.rows())
        self.assertEqual(self.store.requests, [])

    def test_a_failing_read_among_good_ones_is_kept_with_its_error_and_retried(self):
        for number in ("6000-0001-1", "6000-0002-1", "6000-0003-1"):
            self.ozon.add_posting(self.ozon.fbs_posting(number, [("MUG-01", 1, "450.00")]))
            self.push(self.new_posting_push(number))
        self.ozon.broken["6000-0002-1"] = (200, "<html><body>Bad gateway</body></html>")
        self.reread()
        self.assertEqual(sorted(self.inbox().mapped("external_id")), ["6000-0001-1", "6000-0003-1"])
        bad = self.rows()
        self.assertEqual(bad.ref, "6000-0002-1")
        self.assertTrue(bad.last_error)
        self.assertEqual(bad.attempt_count, 1)
        self.assertGreater(bad.next_try_at, fields.Datetime.now(), "backs off")
        # Not due yet: the next run leaves it; once due (or Read Now), it is read again.
        self.reread()
        self.assertEqual(len(self.inbox()), 2)
        del self.ozon.broken["6000-0002-1"]
        bad.action_read_now()
        self.reread()
        self.assertEqual(len(self.inbox()), 3)
        self.assertFalse(self.rows())

    def test_user_cannot_read_warehouses_nor_set_up_the_fbo_warehouse(self):
        self.channel.fbo_warehouse_id = False
        with self.assertRaises(AccessError):
            self.channel.with_user(self.user).action_read_warehouses()
        self.authenticate(USER, USER)
        for method in ("action_read_warehouses", "action_setup_fbo_warehouse"):
            with self.assertRaises(JsonRpcException, msg=method):
                self.make_jsonrpc_request("/web/dataset/call_kw", {
                    "model": "sale.channel", "method": method, "args": [self.channel.ids], "kwargs": {}})
        self.assertEqual(self.store.requests, [], "refused before Ozon hears of it")
        self.assertFalse(self.channel.fbo_warehouse_id)

    def test_a_posting_number_is_waiting_once_per_channel(self):
        self.Reread._queue(self.channel, [("7000-0001-1", "")])
        row = self.rows()
        # Its read failed and backs off; then Ozon pushes it again.
        row._record_failure("Ozon is down")
        self.assertGreater(row.next_try_at, fields.Datetime.now())
        self.Reread._queue(self.channel, [("7000-0001-1", "fbs")])
        self.assertEqual(self.rows(), row, "one row")
        self.assertLessEqual(row.next_try_at, fields.Datetime.now(), "due again at once: something changed")
        self.assertEqual(row.scheme, "fbs")

    def test_a_push_arriving_while_its_posting_is_read_is_read_again(self):
        self.ozon.add_posting(self.ozon.fbs_posting("7000-0002-1", [("MUG-01", 1, "450.00")]))
        self.push(self.new_posting_push("7000-0002-1"))
        Reread = type(self.Reread)
        read = Reread._read_from_store

        def read_while_pushed(row, client):
            data = read(row, client)
            # Ozon cancels it and pushes that while the job is reading the older version.
            self.ozon.set_status("7000-0002-1", "cancelled")
            self.Reread._queue(self.channel, [("7000-0002-1", "")])
            return data

        with patch.object(Reread, "_read_from_store", read_while_pushed):
            self.reread()
        self.assertEqual(self.rows().ref, "7000-0002-1", "kept: the push came after the read began")
        self.reread()
        self.assertFalse(self.rows())
        self.assertEqual(self.inbox().delivery_count, 2, "the cancelled version read too")

    def test_a_channel_ozon_refuses_waits_without_holding_up_the_others(self):
        other = self.env["sale.channel"].create({"name": "Ozon 2", "platform": "ozon", "api_login": "123456",
                                                 "api_secret": "ozon-key", "store_url": self.store.url})
        self.channel.api_secret = "a-revoked-key"
        for number in ("8000-0001-1", "8000-0002-1", "8000-0003-1"):
            self.ozon.add_posting(self.ozon.fbs_posting(number, [("MUG-01", 1, "450.00")]))
            self.Reread._queue(self.channel, [(number, "")])
            self.Reread._queue(other, [(number, "")])
        self.reread()
        self.assertEqual(len(self.store.calls("POST", "/v3/posting/fbs/get")), 1 + 3,
                         "one refused read for the refused channel, three for the other")
        self.assertEqual(len(self.Inbox.search([("channel_id", "=", other.id)])), 3)
        waiting = self.rows()
        self.assertEqual(len(waiting), 3, "all kept, read again later")
        self.assertEqual(len(waiting.filtered("last_error")), 1)

    def test_pushes_beyond_the_waiting_limit_are_not_kept(self):
        with patch.object(sale_channel_reread, "MAX_WAITING", 3):
            for index in range(5):
                self.assertEqual(self.push(self.new_posting_push(f"9000-{index:04d}-1")).status_code, 200)
        self.assertEqual(len(self.rows()), 3)

    def test_a_number_of_another_shape_is_refused_and_not_stored(self):
        # The platform declares the shape of its numbers (Ozon: ``push_ref_pattern``).
        with patch.object(Ozon, "push_ref_pattern", POSTING_NUMBER, create=True):
            response = self.push(self.new_posting_push("x" * 90))
            self.assertEqual(response.status_code, 400)
            self.assertEqual(self.push(self.new_posting_push("9100-0001-1")).status_code, 200)
        self.assertEqual(self.rows().mapped("ref"), ["9100-0001-1"])
