"""Print Marketplace Labels on Ozon deliveries: labels fetched 20 postings a request, each
attached to its delivery, one merged PDF to download; a posting Ozon refuses named and the
others printed; labels not made yet fetched later by a job (each delivery on its own)."""
import io
from datetime import timedelta
from unittest.mock import patch

from odoo import Command, fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, new_test_user, tagged
from odoo.tests.common import JsonRpcException
from odoo.tools import pdf as odoo_pdf

from odoo.addons.sale_inbox.models.stock_picking_marketplace import StockPicking

from .ozon_ship_common import OzonShipFixtures

LABEL = "/v2/posting/fbs/package-label"


def pages(pdf):
    reader = odoo_pdf.PdfFileReader(io.BytesIO(pdf), strict=False)
    return [page.extract_text() for page in reader.pages]


@tagged("post_install", "-at_install")
class TestOzonLabels(OzonShipFixtures, HttpCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_ozon()
        cls.user = new_test_user(cls.env, "ozon_label_user",
                                 groups="sale_inbox.group_sale_inbox_user,stock.group_stock_user")

    def setUp(self):
        super().setUp()
        self.start_ozon()

    def packed(self, count, prefix="5000"):
        """Deliveries of postings Ozon has as assembled (labels ready)."""
        orders = [self.posting(f"{prefix}-{index:04d}-1", status="awaiting_deliver") for index in range(count)]
        return self.env["stock.picking"].union(*(self.delivery(order) for order in orders))

    def download(self, action):
        if action.get("tag") == "display_notification":
            action = action["params"]["next"]
        self.assertEqual(action["type"], "ir.actions.act_url")
        attachment_id = int(action["url"].split("/web/content/")[1].split("?")[0])
        return self.env["ir.attachment"].browse(attachment_id).raw

    def test_labels_of_several_deliveries_are_attached_and_merged(self):
        pickings = self.packed(3)
        self.assertTrue(all(pickings.mapped("store_prints_labels")))

        action = pickings.with_user(self.user).action_print_store_labels()

        self.assertEqual(action["type"], "ir.actions.act_url")
        merged = pages(self.download(action))
        self.assertEqual(len(merged), 3)
        self.assertEqual(len(self.store.calls("POST", LABEL)), 1)
        for picking in pickings:
            number = picking.sale_id.inbox_order_id.external_id
            self.assertEqual(picking.store_label_state, "done")
            # Each delivery has its own label only (the page naming its posting).
            own = pages(picking.store_label_attachment_id.raw)
            self.assertEqual(len(own), 1)
            self.assertIn(number, own[0])
            self.assertEqual(picking.store_label_attachment_id.res_id, picking.id)
        # Printed again: from the attachments, Ozon is not asked again.
        self.assertEqual(len(pages(self.download(pickings.action_print_store_labels()))), 3)
        self.assertEqual(len(self.store.calls("POST", LABEL)), 1)
        # The merged files are the person's, and go a day later; the deliveries keep theirs.
        merged = self.env["ir.attachment"].browse(int(action["url"].split("/web/content/")[1].split("?")[0]))
        self.assertEqual(merged.create_uid, self.user)
        self.env.cr.execute("UPDATE ir_attachment SET create_date = create_date - interval '2 days' WHERE id = %s",
                            (merged.id,))
        self.env["stock.picking"]._cron_retry_store_labels()
        self.assertFalse(merged.exists())
        self.assertTrue(pickings.store_label_attachment_id.exists())

    def test_a_cancelled_delivery_prints_no_label_even_one_printed_before(self):
        pickings = self.packed(2, prefix="5600")
        self.assertEqual(len(pages(self.download(pickings.action_print_store_labels()))), 2)
        cancelled = pickings[1]
        cancelled.sale_id.with_context(disable_cancel_warning=True)._action_cancel()
        self.assertEqual(cancelled.state, "cancel")

        action = pickings.action_print_store_labels()

        self.assertEqual(action["tag"], "display_notification")
        self.assertIn(cancelled.name, action["params"]["message"])
        printed = pages(self.download(action))
        self.assertEqual(len(printed), 1, "only the delivery still to ship")
        self.assertIn(pickings[0].sale_id.inbox_order_id.external_id, printed[0])
        with self.assertRaisesRegex(UserError, "cancelled"):
            cancelled.action_print_store_labels()

    def test_the_label_of_a_split_order_holds_each_of_its_postings(self):
        order = self.posting("5400-0001-1")
        self.split(order, [("5400-0001-2", (("MUG-01", 2, "12.50"),)),
                           ("5400-0001-3", (("TSHIRT-RED-M", 1, "20.00"),))])
        for number in ("5400-0001-2", "5400-0001-3"):
            self.ozon.set_status(number, "awaiting_deliver")
        picking = self.delivery(order)
        action = picking.action_print_store_labels()
        self.assertEqual([call.json()["posting_number"] for call in self.store.calls("POST", LABEL)],
                         [["5400-0001-2", "5400-0001-3"]])
        self.assertEqual(picking.store_label_state, "done", picking.store_label_error)
        own = pages(picking.store_label_attachment_id.raw)
        self.assertEqual(len(own), 2)
        self.assertIn("5400-0001-2", own[0])
        self.assertIn("5400-0001-3", own[1])
        self.assertEqual(len(pages(self.download(action))), 2)

    def test_labels_that_cannot_be_split_are_asked_one_posting_a_request(self):
        # A layout whose pages do not name their posting: the PDF of two postings cannot be
        # shared out, so each posting is asked on its own.
        self.ozon.label_pages_named = False
        pickings = self.packed(2, prefix="5500")
        action = pickings.action_print_store_labels()
        self.assertEqual([call.json()["posting_number"] for call in self.store.calls("POST", LABEL)],
                         [["5500-0000-1", "5500-0001-1"], ["5500-0000-1"], ["5500-0001-1"]])
        for picking in pickings:
            self.assertEqual(picking.store_label_state, "done", picking.store_label_error)
            self.assertEqual(len(pages(picking.store_label_attachment_id.raw)), 1,
                             "each delivery its own label, not the whole PDF")
        self.assertEqual(len(pages(self.download(action))), 2)

    def test_21_deliveries_take_2_requests(self):
        pickings = self.packed(21, prefix="5100")
        pickings.action_print_store_labels()
        self.assertEqual([len(call.json()["posting_number"]) for call in self.store.calls("POST", LABEL)], [20, 1])
        self.assertEqual(set(pickings.mapped("store_label_state")), {"done"})

    def test_a_refused_posting_is_named_and_the_others_printed(self):
        pickings = self.packed(4, prefix="5200")
        bad = pickings[2]
        self.ozon.set_status(bad.sale_id.inbox_order_id.external_id, "delivering")

        action = pickings.action_print_store_labels()

        self.assertEqual(action["tag"], "display_notification")
        self.assertIn(bad.name, action["params"]["message"])
        self.assertIn("5200-0002-1", action["params"]["message"])
        self.assertEqual(len(pages(self.download(action))), 3)
        self.assertEqual(bad.store_label_state, "error")
        self.assertIn("label not allowed", bad.store_label_error)
        self.assertEqual(set((pickings - bad).mapped("store_label_state")), {"done"})

    def test_a_label_not_ready_is_pending_then_attached_by_the_job(self):
        order = self.posting("5300-0001-1")
        ready = self.packed(1, prefix="5301")
        picking = self.delivery(order)
        picking.action_store_assembled()
        self.send_outbox()  # packed in Ozon just now: its label comes in 45 s

        action = (picking | ready).action_print_store_labels()

        self.assertEqual(action["params"]["type"], "warning", "pending is no error")
        self.assertEqual(picking.store_label_state, "pending")
        self.assertFalse(picking.store_label_error)
        self.assertEqual(ready.store_label_state, "done")
        self.assertEqual(len(pages(self.download(action))), 1)

        # Not due yet: the job leaves it; due but still not ready at Ozon: pending still.
        Picking = self.env["stock.picking"]
        self.assertEqual(Picking._cron_retry_store_labels(), 0)
        picking.store_label_next_try = fields.Datetime.now() - timedelta(seconds=1)
        Picking._cron_retry_store_labels()
        self.assertEqual(picking.store_label_state, "pending")
        self.clock.moment += timedelta(seconds=46)
        picking.store_label_next_try = fields.Datetime.now() - timedelta(seconds=1)
        Picking._cron_retry_store_labels()
        self.assertEqual(picking.store_label_state, "done")
        self.assertIn("5300-0001-1", pages(picking.store_label_attachment_id.raw)[0])

    def test_the_label_job_treats_each_delivery_on_its_own(self):
        pickings = self.packed(3, prefix="5400")
        poisoned = pickings[1]
        pickings.sudo().write({"store_label_state": "pending",
                               "store_label_next_try": fields.Datetime.now() - timedelta(seconds=1)})
        original = StockPicking._attach_store_label

        def attach(picking, pdf, number):
            if picking == poisoned:
                raise ValueError("cannot store this file")
            return original(picking, pdf, number)

        with patch.object(StockPicking, "_attach_store_label", attach):
            self.env["stock.picking"]._cron_retry_store_labels()

        self.assertEqual(set((pickings - poisoned).mapped("store_label_state")), {"done"})
        self.assertEqual(poisoned.store_label_state, "error")
        self.assertIn("ValueError", poisoned.store_label_error)
        self.assertFalse(poisoned.store_label_attachment_id)
        # Retryable: printed again, it comes.
        self.assertEqual(len(pages(self.download(poisoned.action_print_store_labels()))), 1)
        self.assertEqual(poisoned.store_label_state, "done")

    def test_a_channel_ozon_does_not_answer_is_tried_again_later_and_others_go_on(self):
        pickings = self.packed(2, prefix="5500")
        other = self.env["sale.channel"].create({
            "name": "Ozon two", "platform": "ozon", "api_login": "1", "api_secret": "k",
            "store_url": "http://127.0.0.1:9"})
        broken = pickings[1]
        broken.sale_id.sudo().channel_id = other
        broken.sale_id.inbox_order_id.sudo().channel_id = other
        pickings.sudo().write({"store_label_state": "pending",
                               "store_label_next_try": fields.Datetime.now() - timedelta(seconds=1)})

        self.env["stock.picking"]._cron_retry_store_labels()

        self.assertEqual(pickings[0].store_label_state, "done")
        self.assertEqual(broken.store_label_state, "pending")
        self.assertTrue(broken.store_label_error)
        self.assertGreater(broken.store_label_next_try, fields.Datetime.now())

    def test_a_user_prints_only_their_companys_deliveries(self):
        pickings = self.packed(1, prefix="5600")
        company_two = self.env["res.company"].create({"name": "Ozon Two Ltd"})
        outsider = new_test_user(self.env, "ozon_label_outsider",
                                 groups="sale_inbox.group_sale_inbox_user,stock.group_stock_user",
                                 company_id=company_two.id, company_ids=[Command.set(company_two.ids)])
        with self.assertRaises(AccessError):
            pickings.with_user(outsider).action_print_store_labels()
        self.authenticate("ozon_label_outsider", "ozon_label_outsider")
        with self.assertRaises(JsonRpcException) as caught:
            self.make_jsonrpc_request("/web/dataset/call_kw", {
                "model": "stock.picking", "method": "action_print_store_labels",
                "args": [pickings.ids], "kwargs": {}})
        self.assertEqual(caught.exception.args[0], "odoo.exceptions.AccessError")
        # Nor a stock user outside the Sales Inbox.
        worker = new_test_user(self.env, "ozon_label_worker", groups="stock.group_stock_user")
        with self.assertRaises(AccessError):
            pickings.with_user(worker).action_print_store_labels()
        self.assertFalse(self.store.calls("POST", LABEL))
        self.assertEqual(pickings.store_label_state, "none")

    def test_a_delivery_of_another_store_has_no_label(self):
        picking = self.env["stock.picking"].create({
            "picking_type_id": self.env.ref("stock.picking_type_out").id,
            "partner_id": self.env.user.partner_id.id})
        self.assertFalse(picking.store_prints_labels)
        with self.assertRaises(UserError):
            picking.action_print_store_labels()
        self.assertFalse(self.store.calls("POST", LABEL))
