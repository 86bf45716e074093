"""Ozon "assembled" from a delivery: the Mark Assembled in Store button and validation send
/v4/posting/fbs/ship through the status outbox, once per posting, with the products by Ozon
SKU; a posting needing product data is refused with what to fill in, parked, and sent again
by a person."""
import json

from odoo.exceptions import AccessError, ValidationError
from odoo.tests import HttpCase, new_test_user, tagged
from odoo.tests.common import JsonRpcException

from odoo.addons.sale_inbox.platforms.ozon import SCHEME_KEY

from .ozon_ship_common import SKUS, OzonShipFixtures

SHIP = "/v4/posting/fbs/ship"
REASONS = "/v1/posting/fbs/cancel-reason"
CANCEL = "/v2/posting/fbs/cancel"


@tagged("post_install", "-at_install")
class TestOzonShip(OzonShipFixtures, HttpCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_ozon()

    def setUp(self):
        super().setUp()
        self.start_ozon()

    def test_the_button_sends_assembled_once_with_ozon_skus(self):
        order = self.posting("1000-0001-1")
        picking = self.delivery(order)
        self.assertTrue(picking.store_packs)
        self.assertEqual(picking.store_assembled_state, "none")

        picking.action_store_assembled()
        picking.action_store_assembled()  # pressed twice: one message
        self.assertEqual(len(self.assembled(order)), 1)
        self.assertEqual(picking.store_assembled_state, "pending")
        self.send_outbox()

        [call] = self.store.calls("POST", SHIP)
        self.assertEqual(call.json()["posting_number"], "1000-0001-1")
        self.assertEqual(call.json()["packages"], [{"products": [
            {"product_id": SKUS["MUG-01"], "quantity": 2}, {"product_id": SKUS["TSHIRT-RED-M"], "quantity": 1}]}])
        self.assertEqual(self.ozon.postings["1000-0001-1"]["status"], "awaiting_deliver")
        picking.invalidate_recordset()
        self.assertEqual(picking.store_assembled_state, "sent")
        self.assertIn("one package of 3 item(s)", picking.store_assembled_message)
        # Validated afterwards: not queued again (neither by the option nor by the mapping).
        self.channel.write({"status_sync": "to_store"})
        self.validate(picking)
        self.assertEqual(len(self.assembled(order)), 1)

    def test_validation_sends_assembled_when_the_channel_says_so(self):
        order = self.posting("1000-0002-1")
        self.validate(self.delivery(order))
        self.assertEqual(len(self.assembled(order)), 1)
        self.send_outbox()
        self.assertEqual(len(self.store.calls("POST", SHIP)), 1)
        self.assertEqual(self.ozon.postings["1000-0002-1"]["status"], "awaiting_deliver")

        self.channel.send_assembled_on_validate = False
        other = self.posting("1000-0003-1")
        self.validate(self.delivery(other))
        self.assertFalse(self.assembled(other))

    def test_validation_with_the_status_mapping_on_queues_it_once(self):
        self.channel.write({"status_sync": "to_store"})
        order = self.posting("1000-0004-1")
        self.validate(self.delivery(order))
        self.assertEqual(len(self.assembled(order)), 1)

    def test_a_posting_needing_product_data_is_parked_with_what_to_fill_in_then_retried(self):
        order = self.posting("1000-0005-1", requirements={
            "products_requiring_gtd": [], "products_requiring_country": [SKUS["MUG-01"]],
            "products_requiring_mandatory_mark": [], "products_requiring_rnpt": []})
        picking = self.delivery(order)
        picking.action_store_assembled()
        self.send_outbox()

        message = self.assembled(order)
        self.assertEqual(message.state, "failed", "refused: parked, not retried endlessly")
        self.assertIn("country of manufacture for Product MUG-01", message.last_error)
        self.assertIn("Ozon seller account", message.last_error)
        self.assertFalse(self.store.calls("POST", SHIP))
        picking.invalidate_recordset()
        self.assertEqual(picking.store_assembled_state, "failed")
        self.assertIn("country of manufacture", picking.store_assembled_message)

        # The seller fills the country in at Ozon; the button sends the same message again.
        self.ozon.postings["1000-0005-1"]["requirements"]["products_requiring_country"] = []
        picking.action_store_assembled()
        self.assertEqual(message.state, "pending")
        self.assertEqual(len(self.assembled(order)), 1)
        self.send_outbox()
        self.assertEqual(message.state, "sent")
        self.assertEqual(self.ozon.postings["1000-0005-1"]["status"], "awaiting_deliver")

    def test_ozons_refusal_is_shown_on_the_delivery(self):
        order = self.posting("1000-0006-1")
        self.ozon.set_status("1000-0006-1", "cancelled")
        picking = self.delivery(order)
        picking.action_store_assembled()
        self.send_outbox()
        self.assertEqual(self.assembled(order).state, "failed")
        picking.invalidate_recordset()
        self.assertIn("POSTING_ALREADY_CANCELLED", picking.store_assembled_message)

    def test_a_posting_packed_in_ozon_already_counts_as_sent(self):
        order = self.posting("1000-0007-1")
        self.ozon.set_status("1000-0007-1", "awaiting_deliver")
        self.delivery(order).action_store_assembled()
        self.send_outbox()
        self.assertEqual(self.assembled(order).state, "sent")
        self.assertFalse(self.store.calls("POST", SHIP))

    def test_an_fbo_delivery_sends_nothing(self):
        # Ozon packs FBO orders in its own warehouses: nothing to tell it.
        posting = self.ozon.add_posting(self.ozon.fbo_posting("1000-0009-1", [("MUG-01", 1, "12.50", SKUS["MUG-01"])],
                                                              status="awaiting_packaging"))
        for product in posting["products"]:
            product["currency_code"] = "EUR"
        self.Inbox._receive(self.channel, json.dumps(dict(self.ozon.public(posting), **{SCHEME_KEY: "fbo"})).encode(),
                            "application/json")
        self.process()
        order = self.inbox().filtered(lambda o: o.external_id == "1000-0009-1").sale_order_id
        picking = self.delivery(order)
        self.assertTrue(picking)
        self.assertFalse(picking.store_packs)
        self.assertFalse(picking.store_prints_labels)
        self.validate(picking)
        self.assertFalse(self.assembled(order))

    def test_a_split_order_sends_assembled_for_each_of_its_postings(self):
        order = self.posting("1000-0011-1")
        self.split(order, [("1000-0011-2", (("MUG-01", 2, "12.50"),)),
                           ("1000-0011-3", (("TSHIRT-RED-M", 1, "20.00"),))])
        picking = self.delivery(order)
        self.assertTrue(picking.store_packs)
        picking.action_store_assembled()
        picking.action_store_assembled()
        self.assertEqual(self.assembled(order).mapped("external_id"), ["1000-0011-2", "1000-0011-3"],
                         "one message per posting, none for the posting split into them")
        self.send_outbox()  # one message of an order at a time: the job sends them in turn
        self.send_outbox()
        self.assertEqual(sorted(call.json()["posting_number"] for call in self.store.calls("POST", SHIP)),
                         ["1000-0011-2", "1000-0011-3"])
        self.assertEqual([self.ozon.postings[n]["status"] for n in ("1000-0011-2", "1000-0011-3")],
                         ["awaiting_deliver", "awaiting_deliver"])
        self.assertEqual(order.store_status, "cancelled_from_split_pending", "the parent's status is kept")
        picking.invalidate_recordset()
        self.assertEqual(picking.store_assembled_state, "sent")

    def test_after_dont_send_the_button_can_send_assembled_again(self):
        order = self.posting("1000-0012-1")
        picking = self.delivery(order)
        picking.action_store_assembled()
        message = self.assembled(order)
        # A manager's "Don't Send" (the message's own action, as superuser past its check).
        message.sudo().write({"state": "cancelled"})
        picking.invalidate_recordset()
        self.assertEqual(picking.store_assembled_state, "cancelled")
        self.send_outbox()
        self.assertFalse(self.store.calls("POST", SHIP))
        # Validating the delivery does not overrule the manager...
        self.validate(picking)
        self.assertEqual(self.assembled(order).mapped("state"), ["cancelled"])
        # ...a person pressing the button does.
        picking.action_store_assembled()
        self.assertEqual(self.assembled(order).mapped("state"), ["cancelled", "pending"])
        self.send_outbox()
        self.assertEqual(len(self.store.calls("POST", SHIP)), 1)
        self.assertEqual(self.ozon.postings["1000-0012-1"]["status"], "awaiting_deliver")

    # -- the Cancel wizard --------------------------------------------------

    def open_cancel_wizard(self, order):
        action = order.action_cancel()
        self.assertEqual(action["res_model"], "sale.order.store.cancel")
        return self.env["sale.order.store.cancel"].browse(action["res_id"])

    def test_the_cancel_wizard_cancels_each_posting_of_a_split_order(self):
        order = self.posting("1000-0013-1")
        self.split(order, [("1000-0013-2", (("MUG-01", 2, "12.50"),)),
                           ("1000-0013-3", (("TSHIRT-RED-M", 1, "20.00"),))])
        wizard = self.open_cancel_wizard(order)
        self.assertFalse(wizard.fetch_error)
        self.assertEqual(self.store.calls("POST", REASONS)[-1].json(),
                         {"related_posting_numbers": ["1000-0013-2", "1000-0013-3"]})
        wizard.reason_id = wizard.reason_ids.filtered(lambda r: r.code == "352")
        wizard.action_confirm()
        self.assertEqual(order.state, "cancel")
        cancels = order.outbox_ids.filtered(lambda m: m.odoo_stage == "cancelled").sorted("id")
        self.assertEqual(cancels.mapped("external_id"), ["1000-0013-2", "1000-0013-3"])
        self.assertEqual(set(cancels.mapped("reason_code")), {"352"})
        self.send_outbox()
        self.send_outbox()
        self.assertEqual(sorted(call.json()["posting_number"] for call in self.store.calls("POST", CANCEL)),
                         ["1000-0013-2", "1000-0013-3"])

    def test_the_cancel_wizard_checks_the_message_from_the_reason_itself(self):
        order = self.posting("1000-0014-1")
        wizard = self.open_cancel_wizard(order)
        other = wizard.reason_ids.filtered(lambda r: r.code == "402")
        self.assertTrue(other.needs_message)
        # A flag on the reason row is no proof: the server goes by the reason's id.
        other.needs_message = False
        wizard.reason_id = other
        with self.assertRaisesRegex(ValidationError, "needs a message"):
            wizard.action_confirm()
        self.assertEqual(order.state, "sale")
        self.assertFalse(self.store.calls("POST", CANCEL))

    def test_a_salesperson_outside_the_inbox_cannot_send_assembled(self):
        order = self.posting("1000-0008-1")
        picking = self.delivery(order)
        user = new_test_user(self.env, "ozon_salesman",
                             groups="sales_team.group_sale_salesman_all_leads,stock.group_stock_user")
        with self.assertRaises(AccessError):
            picking.with_user(user).action_store_assembled()
        self.authenticate("ozon_salesman", "ozon_salesman")
        with self.assertRaises(JsonRpcException) as caught:
            self.make_jsonrpc_request("/web/dataset/call_kw", {
                "model": "stock.picking", "method": "action_store_assembled", "args": [[picking.id]], "kwargs": {}})
        self.assertEqual(caught.exception.args[0], "odoo.exceptions.AccessError")
        self.assertFalse(self.assembled(order))
