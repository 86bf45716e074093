"""Order status sync with a fake WooCommerce: the mapping, both directions, scope, loops,
and an outbox that outlives a store answering 500."""
import copy
import json
import pathlib
from datetime import timedelta

from odoo import Command, fields
from odoo.exceptions import ValidationError
from odoo.tests import TransactionCase, tagged

from .common import StockFixtures, StoreChannelFixtures

DATA = pathlib.Path(__file__).resolve().parents[1] / "platforms" / "tests" / "data"
BATCH_PATH = "/wp-json/wc/v3/orders/batch"


def accept_batch(request):
    return 200, {}, {"update": [dict(item) for item in request.json()["update"]]}


@tagged("post_install", "-at_install")
class TestStatusSync(StoreChannelFixtures, StockFixtures, TransactionCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_store("woocommerce", name="Woo", api_login="ck", api_secret="cs")
        cls.env["sale.channel.payment.method"].create([
            {"channel_id": cls.channel.id, "code": "stripe", "name": "Card", "journal_id": cls.bank.id},
            {"channel_id": cls.channel.id, "code": "cod", "name": "Cash on delivery", "means_paid": False}])
        warehouse = cls.env["stock.warehouse"].search([("company_id", "=", cls.env.company.id)], limit=1)
        for sku in ("TSHIRT-RED-M", "MUG-01"):
            product = cls.env["product.product"].search([("default_code", "=", sku)])
            cls.env["stock.quant"]._update_available_quantity(product, warehouse.lot_stock_id, 50)
        cls.order_json = json.loads((DATA / "woocommerce_order.json").read_text())

    def setUp(self):
        super().setUp()
        self.store = self.start_store()
        self.channel.store_url = self.store.url
        self.store.route("POST", BATCH_PATH, handler=accept_batch)

    # -- helpers --------------------------------------------------------

    def receive_woo(self, minute=0, **changes):
        data = copy.deepcopy(self.order_json)
        data["date_modified_gmt"] = f"2025-03-14T09:{minute:02d}:00"
        data.update(changes)
        self.Inbox._receive(self.channel, json.dumps(data).encode(), "application/json")
        self.process()
        return self.inbox().filtered(lambda o: o.external_id == str(data["id"])).sale_order_id

    def cod_order(self):
        """A cash-on-delivery order: pending in WooCommerce, confirmed in Odoo."""
        self.channel.wait_for_payment = False
        return self.receive_woo(status="pending", payment_method="cod", date_paid_gmt=None)

    def deliver_in_odoo(self, so):
        picking = so.picking_ids.filtered(lambda p: p.state not in ("done", "cancel"))
        for move in picking.move_ids:
            move.quantity = move.product_uom_qty
        picking.move_ids.picked = True
        picking.button_validate()

    def sent_statuses(self):
        return [item["status"] for call in self.store.calls("POST", BATCH_PATH) for item in call.json()["update"]]

    def outbox(self, so):
        return self.env["sale.channel.outbox"].search([("sale_order_id", "=", so.id)], order="id")

    # -- the mapping ----------------------------------------------------

    def test_a_default_mapping_is_proposed_and_every_stage_must_be_mapped(self):
        mapping = {line.odoo_stage: line.store_status for line in self.channel.status_map_ids}
        self.assertEqual(mapping["delivered"], "completed")
        self.assertEqual(len(mapping), 7)
        self.channel.status_map_ids.filtered(lambda line: line.odoo_stage == "delivered").unlink()
        with self.assertRaisesRegex(ValidationError, "Not mapped: Delivered"):
            self.channel.status_sync = "both"
        self.channel.action_propose_status_map()
        self.channel.status_sync = "both"
        with self.assertRaisesRegex(ValidationError, "shipped is not a WooCommerce order status"):
            self.channel.status_map_ids[0].store_status = "shipped"

    def test_the_stages_not_mapped_are_named_in_the_users_language(self):
        self.env["res.lang"]._activate_lang("fr_FR")
        delivered = self.env["ir.model.fields.selection"].search([
            ("field_id.model", "=", "sale.channel.status.map"), ("field_id.name", "=", "odoo_stage"),
            ("value", "=", "delivered")])
        delivered.with_context(lang="fr_FR").name = "Livrée"
        self.channel.status_map_ids.filtered(lambda line: line.odoo_stage == "delivered").unlink()
        with self.assertRaisesRegex(ValidationError, "Not mapped: Livrée"):
            self.channel.with_context(lang="fr_FR").status_sync = "both"

    # -- to the store ---------------------------------------------------

    def test_the_stages_dealt_with_are_kept_as_a_list(self):
        self.channel.status_sync = "to_store"
        so = self.cod_order()
        self.assertEqual(so.store_stages, ["confirmed"])
        self.deliver_in_odoo(so)
        self.assertEqual(so.store_stages, ["confirmed", "delivered"])

    def test_a_delivery_in_odoo_completes_the_store_order_through_the_outbox(self):
        self.channel.status_sync = "to_store"
        so = self.receive_woo()
        self.assertEqual(so.store_status, "processing")
        self.assertFalse(self.outbox(so), "confirmed, invoiced, paid: the store says processing already")
        self.deliver_in_odoo(so)
        message = self.outbox(so)
        self.assertEqual((message.odoo_stage, message.store_status, message.state),
                         ("delivered", "completed", "pending"), "written in the transaction of the delivery")
        self.assertTrue(self.env["ir.cron.trigger"].search(
            [("cron_id", "=", self.env.ref("sale_inbox.ir_cron_send_outbox").id)]))
        self.env["sale.channel.outbox"]._cron_send()
        self.assertEqual(self.sent_statuses(), ["completed"])
        self.assertEqual(message.state, "sent")
        self.assertEqual(so.store_status, "completed")

    def test_statuses_are_sent_in_order_and_survive_a_store_that_answers_500(self):
        self.channel.status_sync = "to_store"
        self.store.route("POST", BATCH_PATH, status=500, json={"message": "Internal Server Error"})
        so = self.cod_order()
        self.deliver_in_odoo(so)
        first, second = self.outbox(so)
        self.assertEqual([first.store_status, second.store_status], ["processing", "completed"])
        Outbox = self.env["sale.channel.outbox"]
        self.assertEqual(Outbox._cron_send(), 0)
        self.assertEqual((first.state, first.attempts), ("pending", 1))
        self.assertIn("500", first.last_error)
        self.assertIn("500", self.channel.last_error)
        self.assertGreater(first.next_attempt_at, fields.Datetime.now() + timedelta(minutes=1))
        self.assertEqual(second.attempts, 0, "the later status waits behind the earlier one")
        self.assertEqual(len(self.store.calls("POST", BATCH_PATH)), 2, "one call and one quick retry")
        # Still down at the next try; then the store answers.
        first.next_attempt_at = fields.Datetime.now() - timedelta(seconds=1)
        Outbox._cron_send()
        self.assertEqual((first.state, first.attempts), ("pending", 2))
        self.store.requests.clear()
        self.store.route("POST", BATCH_PATH, handler=accept_batch)
        first.next_attempt_at = fields.Datetime.now() - timedelta(seconds=1)
        Outbox._cron_send()
        Outbox._cron_send()
        self.assertEqual(self.sent_statuses(), ["processing", "completed"])
        self.assertEqual((first.state, second.state), ("sent", "sent"))

    def test_a_disconnected_channel_keeps_its_messages_until_connected_again(self):
        self.channel.status_sync = "to_store"
        so = self.cod_order()
        self.channel.action_disconnect()
        self.env["sale.channel.outbox"]._cron_send()
        self.assertEqual(self.outbox(so).state, "pending")
        self.assertFalse(self.sent_statuses())
        self.channel.action_connect()
        self.env["sale.channel.outbox"]._cron_send()
        self.assertEqual(self.sent_statuses(), ["processing"])

    def test_a_status_the_store_refuses_is_kept_as_failed_and_can_be_sent_again(self):
        self.channel.status_sync = "to_store"
        self.store.route("POST", BATCH_PATH, json={"update": [{"id": 5821, "error": {
            "code": "woocommerce_rest_shop_order_invalid_id", "message": "Invalid ID.", "data": {"status": 400}}}]})
        so = self.cod_order()
        self.env["sale.channel.outbox"]._cron_send()
        message = self.outbox(so)
        self.assertEqual(message.state, "failed")
        self.assertIn("Invalid ID.", message.last_error)
        self.assertEqual(len(self.store.calls("POST", BATCH_PATH)), 1, "a refusal is not retried by itself")
        self.store.route("POST", BATCH_PATH, handler=accept_batch)
        message.action_retry()
        self.env["sale.channel.outbox"]._cron_send()
        self.assertEqual(message.state, "sent")

    def test_a_store_order_never_moves_backwards(self):
        self.channel.status_sync = "to_store"
        so = self.cod_order()
        self.deliver_in_odoo(so)  # processing, then completed
        invoice = so._create_invoices()
        invoice.action_post()  # invoiced → processing: behind completed
        self.assertEqual(self.outbox(so).mapped("store_status"), ["processing", "completed"])

    def test_scope_open_orders_stop_syncing_once_invoiced(self):
        self.channel.write({"status_sync": "to_store", "status_scope": "open", "document_type": "invoice"})
        so = self.receive_woo()  # confirmed, invoiced and paid by the processing
        self.assertEqual(so.invoice_ids.state, "posted")
        so._action_cancel()
        self.assertFalse(self.outbox(so), "invoiced already: out of scope")

    def test_scope_recent_orders_sync_whatever_their_state(self):
        self.channel.write({"status_sync": "to_store", "status_scope": "recent", "status_scope_days": 30})
        so = self.receive_woo()
        so._action_cancel()
        self.assertEqual(self.outbox(so).mapped("store_status"), ["cancelled"])
        old = self.receive_woo(id=5822, number="5822")
        old.date_order = fields.Datetime.now() - timedelta(days=40)
        old._action_cancel()
        self.assertFalse(self.outbox(old), "created 40 days ago: out of a 30-day scope")

    def test_to_the_store_only_records_what_the_store_reports_and_does_not_repeat_it(self):
        self.channel.status_sync = "to_store"
        so = self.receive_woo()
        self.receive_woo(minute=4, status="completed")  # completed by hand in WooCommerce
        self.assertEqual(so.store_status, "completed")
        self.assertEqual(so.delivery_status, "pending", "to the store only: Odoo's order is not moved")
        self.deliver_in_odoo(so)
        self.assertFalse(self.outbox(so), "the store says completed already")

    def test_nothing_is_sent_with_status_sync_off(self):
        so = self.cod_order()
        self.deliver_in_odoo(so)
        self.assertFalse(self.outbox(so))

    # -- from the store -------------------------------------------------

    def test_completed_in_the_store_delivers_in_odoo_and_is_not_sent_back(self):
        self.channel.status_sync = "both"
        so = self.receive_woo()
        self.assertEqual(so.delivery_status, "pending")
        self.receive_woo(minute=5, status="completed")
        self.assertEqual(so.delivery_status, "full", "the store's 'completed' validated the delivery")
        self.assertEqual(so.store_status, "completed")
        self.assertFalse(self.outbox(so), "a change that came from the store is not sent back to it")
        self.assertTrue(any("validated" in body for body in so.message_ids.mapped("body")))

    def test_completed_in_the_store_without_stock_asks_a_person(self):
        self.channel.status_sync = "both"
        so = self.receive_woo()
        so.picking_ids.do_unreserve()
        so.picking_ids.move_ids.write({"product_uom_qty": 500})  # more than there is
        self.receive_woo(minute=5, status="completed")
        self.assertNotEqual(so.delivery_status, "full")
        self.assertIn("Delivered in the store", so.activity_ids.mapped("summary"))

    def test_a_delivered_order_cancelled_in_the_store_gets_an_activity_not_a_cancellation(self):
        self.channel.status_sync = "both"
        so = self.receive_woo()
        self.deliver_in_odoo(so)
        self.receive_woo(minute=9, status="cancelled")
        self.assertEqual(so.state, "sale")
        self.assertIn("Cancelled in the store", so.activity_ids.mapped("summary"))
        self.assertEqual(self.inbox().state, "needs_review", self.inbox().error_message)

    def test_from_the_store_only_changes_nothing_in_the_store(self):
        self.channel.status_sync = "from_store"
        so = self.cod_order()
        self.deliver_in_odoo(so)
        self.assertFalse(self.outbox(so))
        self.receive_woo(minute=3, status="cancelled", payment_method="cod", date_paid_gmt=None)
        self.assertNotEqual(so.state, "cancel", "delivered: not cancelled silently")

    def test_a_quotation_is_confirmed_when_the_store_says_processing(self):
        self.channel.write({"status_sync": "from_store", "document_type": "quotation"})
        so = self.receive_woo(status="on-hold")
        self.assertEqual(so.state, "draft")
        self.receive_woo(minute=2, status="processing")
        self.assertEqual(so.state, "sale")
        self.assertEqual(so.store_status, "processing")

    def test_an_order_made_by_hand_in_odoo_is_never_sent(self):
        self.channel.status_sync = "to_store"
        partner = self.env["res.partner"].create({"name": "Walk-in"})
        product = self.env["product.product"].search([("default_code", "=", "MUG-01")])
        so = self.env["sale.order"].create({"partner_id": partner.id, "channel_id": self.channel.id,
                                            "order_line": [Command.create({"product_id": product.id})]})
        so.action_confirm()
        self.assertFalse(self.outbox(so), "no store order behind it")


@tagged("post_install", "-at_install")
class TestShopifyStatusSync(StoreChannelFixtures, StockFixtures, TransactionCase):
    """A Shopify order delivered in two parts: a partial fulfilment of what left, then the rest."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_store("shopify", name="Shopify", api_secret="shpat", status_sync="to_store")
        cls.env["sale.channel.payment.method"].create({
            "channel_id": cls.channel.id, "code": "shopify_payments", "name": "Shopify Payments",
            "journal_id": cls.bank.id})
        warehouse = cls.env["stock.warehouse"].search([("company_id", "=", cls.env.company.id)], limit=1)
        for sku in ("TSHIRT-RED-M", "MUG-01"):
            product = cls.env["product.product"].search([("default_code", "=", sku)])
            cls.env["stock.quant"]._update_available_quantity(product, warehouse.lot_stock_id, 10)
        cls.order_json = json.loads((DATA / "shopify_order.json").read_text())
        cls.order_json["updated_at"] = "2025-03-14T10:21:09+02:00"

    def setUp(self):
        super().setUp()
        self.store = self.start_store()
        self.channel.store_url = self.store.url
        base = "/admin/api/2025-01/orders/5550001112223"
        self.fulfillable = {901: 2, 902: 1}
        self.store.route("GET", f"{base}.json", json={"order": {"id": 5550001112223, "line_items": [
            {"id": 901, "sku": "TSHIRT-RED-M", "quantity": 2}, {"id": 902, "sku": "MUG-01", "quantity": 1}]}})
        self.store.route("GET", f"{base}/fulfillment_orders.json", handler=lambda _r: (200, {}, {
            "fulfillment_orders": [{"id": 77, "status": "open", "line_items": [
                {"id": 7000 + line, "line_item_id": line, "quantity": {901: 2, 902: 1}[line],
                 "fulfillable_quantity": left} for line, left in self.fulfillable.items()]}]}))
        self.store.route("POST", "/admin/api/2025-01/fulfillments.json", handler=self.fulfil)

    def fulfil(self, request):
        for group in request.json()["fulfillment"]["line_items_by_fulfillment_order"]:
            items = group.get("fulfillment_order_line_items")
            for line in list(self.fulfillable):
                quantity = next((i["quantity"] for i in items if i["id"] == 7000 + line), 0) if items \
                    else self.fulfillable[line]
                self.fulfillable[line] -= quantity
        return 201, {}, {"fulfillment": {"id": 1}}

    def test_a_partial_delivery_fulfils_what_left_and_the_last_one_the_rest(self):
        self.Inbox._receive(self.channel, json.dumps(self.order_json).encode(), "application/json")
        self.process()
        so = self.inbox().sale_order_id
        self.assertEqual((so.state, so.store_status), ("sale", "open"))
        picking = so.picking_ids
        tee = picking.move_ids.filtered(lambda m: m.product_id.default_code == "TSHIRT-RED-M")
        tee.quantity, tee.picked = 1, True
        (picking.move_ids - tee).quantity = 0
        picking.with_context(cancel_backorder=False)._action_done()
        self.assertEqual(so.delivery_status, "partial")
        self.env["sale.channel.outbox"]._cron_send()
        self.assertEqual(self.fulfillable, {901: 1, 902: 1}, "one T-shirt fulfilled in Shopify")
        backorder = so.picking_ids.filtered(lambda p: p.state not in ("done", "cancel"))
        for move in backorder.move_ids:
            move.quantity, move.picked = move.product_uom_qty, True
        backorder._action_done()
        self.env["sale.channel.outbox"]._cron_send()
        self.assertEqual(self.fulfillable, {901: 0, 902: 0}, "the rest fulfilled")
        messages = self.env["sale.channel.outbox"].search([("sale_order_id", "=", so.id)], order="id")
        self.assertEqual([(m.store_status, m.state) for m in messages], [("partial", "sent"), ("fulfilled", "sent")])
        self.assertIn("TSHIRT-RED-M × 1", messages[0].result)


@tagged("post_install", "-at_install")
class TestStatusBatches(StoreChannelFixtures, StockFixtures, TransactionCase):
    """Orders of one store go to it together, where its API takes a batch."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_store("woocommerce", name="Woo", api_login="ck", api_secret="cs", status_sync="to_store")
        partner = cls.env["res.partner"].create({"name": "Batch customer"})
        cls.orders = cls.env["sale.order"].create([{"partner_id": partner.id} for _ in range(3)])

    def test_one_request_for_the_heads_of_several_orders_and_each_answer_on_its_own(self):
        store = self.start_store()
        self.channel.store_url = store.url

        def batch(request):
            items = request.json()["update"]
            items[1] = {"id": items[1]["id"], "error": {"code": "woocommerce_rest_shop_order_invalid_id",
                                                         "message": "Invalid ID."}}
            return 200, {}, {"update": items}
        store.route("POST", BATCH_PATH, handler=batch)
        Outbox = self.env["sale.channel.outbox"]
        messages = Outbox.create([{"channel_id": self.channel.id, "sale_order_id": order.id,
                                   "external_id": str(9000 + i), "store_status": "completed"}
                                  for i, order in enumerate(self.orders)])
        later = Outbox.create({"channel_id": self.channel.id, "sale_order_id": self.orders[0].id,
                               "external_id": "9000", "store_status": "cancelled"})
        self.assertEqual(Outbox._cron_send(), 2)
        self.assertEqual([len(c.json()["update"]) for c in store.calls("POST", BATCH_PATH)], [3],
                         "one request for the three orders; the later status of order 9000 waits")
        self.assertEqual(messages.mapped("state"), ["sent", "failed", "sent"])
        self.assertIn("Invalid ID.", messages[1].last_error)
        self.assertEqual(later.state, "pending")
