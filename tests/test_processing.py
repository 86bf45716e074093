import json

from odoo import Command
from odoo.exceptions import UserError, ValidationError
from odoo.tests import TransactionCase, tagged

from .common import InboxFixtures


@tagged("post_install", "-at_install")
class TestProcessing(InboxFixtures, TransactionCase):
    """From inbox record to sales order, invoice, payment and e-mail, through the cron."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_inbox()

    def test_full_automatic_flow(self):
        inbox = self.receive(self.order_data())
        self.assertEqual(self.run_cron(), 1)
        self.assertEqual(inbox.state, "done", inbox.error_message)
        so = inbox.sale_order_id
        self.assertEqual(so.state, "sale")
        self.assertEqual(so.channel_id, self.channel)
        self.assertEqual(so.inbox_order_id, inbox)
        self.assertEqual(so.external_order_number, "#1001")
        self.assertEqual(so.amount_total, 69.58)
        mug_line = so.order_line.filtered(lambda l: l.product_id == self.mug)
        self.assertEqual((mug_line.product_uom_qty, mug_line.price_unit, mug_line.discount), (2, 12.5, 10.0))
        shipping = so.order_line.filtered(lambda l: l.product_id == self.shipping)
        self.assertEqual((shipping.price_unit, shipping.name), (5.0, "Courier"))
        invoice = inbox.invoice_id
        self.assertEqual(invoice.state, "posted")
        self.assertEqual(invoice.amount_total, 69.58)
        self.assertIn(invoice.payment_state, ("paid", "in_payment"))
        self.assertEqual(inbox.payment_id.journal_id, self.bank)
        self.assertEqual(inbox.payment_id.amount, 69.58)
        self.assertIn("Processed", inbox.message_ids[0].body)

    def test_customer_and_addresses_are_created_once(self):
        first = self.receive(self.order_data("A1"))
        self.run_cron()
        customer = first.partner_id
        self.assertEqual(customer.email, "anna.berzina@example.com")
        so = first.sale_order_id
        self.assertEqual(so.partner_invoice_id.parent_id, customer)
        self.assertEqual(so.partner_invoice_id.type, "invoice")
        self.assertEqual(so.partner_shipping_id.type, "delivery")
        self.assertEqual(so.partner_shipping_id.street, "Skolas iela 5")
        self.assertEqual(so.partner_shipping_id.country_id.code, "LV")

        # Same store customer id, new e-mail: still the same contact, no new addresses.
        again = self.order_data("A2")
        again["customer"] = dict(again["customer"], email="anna@new.example.com")
        second = self.receive(again)
        self.run_cron()
        self.assertEqual(second.partner_id, customer)
        self.assertEqual(len(customer.child_ids), 2)
        self.assertEqual(second.sale_order_id.partner_shipping_id, so.partner_shipping_id)

        # No store id, known e-mail: found by e-mail.
        guest = self.order_data("A3")
        guest["customer"] = {"email": "anna.berzina@example.com", "name": "Anna B."}
        third = self.receive(guest)
        self.run_cron()
        self.assertEqual(third.partner_id, customer)

    def test_two_orders_of_one_new_customer_in_one_batch(self):
        orders = self.receive(self.order_data("B1")) | self.receive(self.order_data("B2"))
        self.run_cron()
        self.assertEqual(orders.mapped("state"), ["done", "done"])
        self.assertEqual(len(orders.partner_id), 1)

    def test_unknown_sku_stops_the_order_naming_it_and_retry_works(self):
        data = self.order_data()
        data["lines"].append({"sku": "SI-NOPE", "quantity": 1, "unit_price": 1})
        data["total"] = 70.79
        data["payment"]["amount"] = 70.79
        inbox = self.receive(data)
        self.run_cron()
        self.assertEqual(inbox.state, "error")
        self.assertEqual(inbox.failed_step, "products")
        self.assertIn("SI-NOPE", inbox.error_message)
        self.assertFalse(inbox.sale_order_id)
        self.assertFalse(self.env["product.product"].search([("default_code", "=", "SI-NOPE")]))
        self.env["product.product"].create({
            "name": "Nope", "default_code": "SI-NOPE", "taxes_id": [Command.set(self.tax.ids)],
        })
        inbox.action_retry()
        self.assertEqual(inbox.state, "done", inbox.error_message)
        self.assertEqual(inbox.sale_order_id.amount_total, 70.79)

    def test_one_bad_order_does_not_block_the_batch(self):
        bad = self.order_data("C2")
        bad["lines"][0]["sku"] = "SI-MISSING"
        inboxes = [self.receive(self.order_data("C1")), self.receive(bad), self.receive(self.order_data("C3"))]
        self.run_cron()
        self.assertEqual([i.state for i in inboxes], ["done", "error", "done"])

    def test_failure_inside_a_batched_odoo_step_isolates_the_order(self):
        # The second order's product cannot be sold in this company at confirmation time:
        # a failure raised by Odoo itself, inside the batched step.
        inboxes = [self.receive(self.order_data(f"D{i}")) for i in range(3)]
        original = type(self.env["sale.order"]).action_confirm
        target = inboxes[1]

        def action_confirm(orders):
            if target.sale_order_id in orders:
                raise UserError(orders.env._("confirmation refused for the test"))
            return original(orders)

        self.patch(type(self.env["sale.order"]), "action_confirm", action_confirm)
        self.run_cron()
        self.assertEqual([i.state for i in inboxes], ["done", "error", "done"])
        self.assertEqual(target.failed_step, "confirm")
        self.assertEqual(target.sale_order_id.state, "draft")
        self.assertIn("confirmation refused", target.error_message)

    def test_rounding_cent_difference_keeps_a_draft_for_review(self):
        inbox = self.receive(self.order_data(total=69.57))
        self.run_cron()
        self.assertEqual(inbox.state, "needs_review")
        self.assertEqual(inbox.failed_step, "amount_check")
        self.assertEqual(inbox.sale_order_id.state, "draft")
        self.assertFalse(inbox.payment_id)
        self.assertFalse(inbox.invoice_id)
        self.assertAlmostEqual(inbox.odoo_amount_total, 69.58)
        self.assertAlmostEqual(inbox.amount_difference, -0.01)
        inbox.action_accept_difference()
        self.assertEqual(inbox.state, "done", inbox.error_message)
        self.assertEqual(inbox.sale_order_id.state, "sale")

    def test_an_accepted_difference_does_not_carry_over_to_a_changed_order(self):
        """A difference a manager accepted was the old content's: when the store changes the
        order and its quotation is rebuilt, the new total is checked again."""
        self.channel.document_type = "quotation"
        inbox = self.receive(self.order_data(total=69.57))
        self.run_cron()
        self.assertEqual((inbox.state, inbox.failed_step), ("needs_review", "amount_check"))
        inbox.action_accept_difference()
        self.assertEqual(inbox.state, "done", inbox.error_message)
        self.assertTrue(inbox.amount_accepted)
        self.receive(self.order_data(total=10.0))
        self.run_cron()
        self.assertEqual((inbox.state, inbox.failed_step), ("needs_review", "amount_check"), inbox.error_message)
        self.assertFalse(inbox.amount_accepted)

    def test_tolerance_and_continue_action(self):
        self.channel.amount_tolerance = 0.01
        within = self.receive(self.order_data("E1", total=69.57))
        self.run_cron()
        self.assertEqual(within.state, "done")
        self.channel.amount_tolerance = 0.0
        self.channel.amount_mismatch_action = "continue"
        beyond = self.receive(self.order_data("E2", total=60.0))
        self.run_cron()
        self.assertEqual(beyond.state, "done")
        self.assertIn("differs", beyond.message_ids[0].body)

    def _receive_tax_included_order(self):
        """Two T-shirts at 30.25 tax included: 2 × 25.00 + 21% = 60.50."""
        data = self.order_data(taxes_included=True, total=60.50)
        data["lines"] = [{"sku": "SI-TEE", "quantity": 2, "unit_price": 30.25}]
        data["payment"]["amount"] = 60.50
        del data["shipping"]
        inbox = self.receive(data)
        self.run_cron()
        return inbox

    def test_prices_including_tax_with_a_twin_tax(self):
        twin = self.tax.copy({"name": "Inbox VAT 21% incl.", "price_include_override": "tax_included"})
        inbox = self._receive_tax_included_order()
        self.assertEqual(inbox.state, "done", inbox.error_message)
        line = inbox.sale_order_id.order_line
        self.assertEqual(line.tax_id, twin)
        self.assertEqual(line.price_unit, 30.25)
        self.assertEqual(inbox.sale_order_id.amount_total, 60.50)

    def test_prices_including_tax_without_a_twin_are_converted(self):
        inbox = self._receive_tax_included_order()
        self.assertEqual(inbox.state, "done", inbox.error_message)
        line = inbox.sale_order_id.order_line
        self.assertEqual(line.tax_id, self.tax)
        self.assertAlmostEqual(line.price_unit, 25.0)
        self.assertEqual(inbox.sale_order_id.amount_total, 60.50)

    def test_sales_order_only_keeps_the_payment_as_advance(self):
        self.channel.document_type = "order"
        inbox = self.receive(self.order_data())
        self.run_cron()
        self.assertEqual(inbox.state, "done", inbox.error_message)
        self.assertEqual(inbox.sale_order_id.state, "sale")
        self.assertFalse(inbox.invoice_id)
        payment = inbox.payment_id
        self.assertNotEqual(payment.state, "draft")
        self.assertEqual(payment.partner_id, inbox.partner_id)
        self.assertEqual(payment.amount, 69.58)
        self.assertFalse(payment.invoice_ids)

    def test_quotation_is_left_draft(self):
        self.channel.write({"document_type": "quotation", "add_payment": False})
        inbox = self.receive(self.order_data())
        self.run_cron()
        self.assertEqual(inbox.state, "done")
        self.assertEqual(inbox.sale_order_id.state, "draft")

    def test_unposted_invoice_when_approve_is_off(self):
        self.channel.write({"auto_confirm": False, "add_payment": False})
        inbox = self.receive(self.order_data())
        self.run_cron()
        self.assertEqual(inbox.state, "done", inbox.error_message)
        self.assertEqual(inbox.sale_order_id.state, "sale")
        self.assertEqual(inbox.invoice_id.state, "draft")

    def test_unmapped_payment_method_stops_and_is_learnt(self):
        data = self.order_data()
        data["payment"] = dict(data["payment"], method="paypal", method_name="PayPal")
        inbox = self.receive(data)
        self.run_cron()
        self.assertEqual(inbox.state, "error")
        self.assertEqual(inbox.failed_step, "payment_mapping")
        self.assertIn("PayPal", inbox.error_message)
        method = self.channel.payment_method_ids.filtered(lambda m: m.code == "paypal")
        self.assertTrue(method, "an unknown method is added, unmapped, for the manager to map")
        self.assertFalse(method.is_mapped)
        method.journal_id = self.bank
        inbox.action_retry()
        self.assertEqual(inbox.state, "done", inbox.error_message)
        self.assertEqual(inbox.payment_id.journal_id, self.bank)

    def _receive_cod_order(self):
        """An unpaid order paid with cash on delivery, through the cron."""
        self.env["sale.channel.payment.method"].create({
            "channel_id": self.channel.id, "code": "cod", "name": "COD", "means_paid": False,
        })
        data = self.order_data()
        data["payment"] = {"method": "cod", "status": "pending"}
        inbox = self.receive(data)
        self.run_cron()
        return inbox

    def test_cash_on_delivery_adds_no_payment(self):
        inbox = self._receive_cod_order()
        self.assertEqual(inbox.state, "done", inbox.error_message)
        self.assertFalse(inbox.payment_id)
        self.assertEqual(inbox.invoice_id.payment_state, "not_paid")

    def test_wait_for_payment_until_the_store_says_paid(self):
        self.channel.wait_for_payment = True
        unpaid = self.order_data()
        unpaid["payment"] = {"method": "card", "status": "pending"}
        inbox = self.receive(unpaid)
        self.run_cron()
        self.assertEqual(inbox.state, "waiting_payment")
        self.assertFalse(inbox.sale_order_id)
        # The same unpaid order again changes nothing.
        self.receive(unpaid)
        self.run_cron()
        self.assertEqual(inbox.state, "waiting_payment")
        self.assertEqual(len(inbox.delivery_ids), 1)
        # The store reports it paid: a later delivery releases it.
        self.receive(self.order_data())
        self.run_cron()
        self.assertEqual(inbox.state, "done", inbox.error_message)
        self.assertTrue(inbox.paid)
        self.assertTrue(inbox.payment_id)
        self.assertEqual(inbox.delivery_ids.mapped("state"), ["applied", "applied"])
        self.assertEqual(inbox.delivery_count, 2)

    def test_cash_on_delivery_does_not_wait_for_payment(self):
        self.channel.wait_for_payment = True
        inbox = self._receive_cod_order()
        self.assertEqual(inbox.state, "done", inbox.error_message)
        self.assertFalse(inbox.payment_id)

    def test_payment_reported_after_processing_is_added(self):
        unpaid = self.order_data()
        unpaid["payment"] = {"method": "card", "status": "pending"}
        inbox = self.receive(unpaid)
        self.run_cron()
        self.assertEqual(inbox.state, "done")
        self.assertFalse(inbox.payment_id)
        so = inbox.sale_order_id
        self.receive(self.order_data())
        self.run_cron()
        self.assertEqual(inbox.state, "done", inbox.error_message)
        self.assertEqual(inbox.sale_order_id, so, "a confirmed order is never rebuilt")
        self.assertTrue(inbox.payment_id)
        self.assertIn(inbox.invoice_id.payment_state, ("paid", "in_payment"))

    def test_manager_corrects_the_normalized_order_and_the_draft_is_rebuilt(self):
        inbox = self.receive(self.order_data(total=10.0))
        self.run_cron()
        self.assertEqual(inbox.state, "needs_review")
        draft = inbox.sale_order_id
        normalized = json.loads(inbox.normalized)
        normalized["total"] = 69.58
        inbox.normalized = json.dumps(normalized)
        inbox.action_retry()
        self.assertEqual(inbox.state, "done", inbox.error_message)
        self.assertFalse(draft.exists(), "the draft built from the old content is replaced")
        self.assertEqual(inbox.sale_order_id.amount_total, 69.58)

    def test_unreadable_normalized_order_is_refused(self):
        inbox = self.receive(self.order_data())
        for bad in ('{"external_id": "1001", "lines": []}', "{not json", ""):
            with self.assertRaises(ValidationError):
                inbox.normalized = bad
        self.assertIn("SI-MUG", inbox.normalized, "the stored order is unchanged")

    def test_manual_processing_for_channels_without_auto_processing(self):
        self.channel.auto_process = False
        inbox = self.receive(self.order_data())
        self.run_cron()
        self.assertEqual(inbox.state, "new", "the cron leaves manual channels alone")
        inbox.action_process()
        self.assertEqual(inbox.state, "done", inbox.error_message)
        self.assertTrue(inbox.sale_order_id)

    def test_disconnected_channel_runs_no_jobs(self):
        inbox = self.receive(self.order_data())
        self.channel.action_disconnect()
        self.run_cron()
        self.assertEqual(inbox.state, "new")

    def test_send_by_email(self):
        self.channel.send_email = True
        inbox = self.receive(self.order_data())
        self.run_cron()
        self.assertEqual(inbox.state, "done", inbox.error_message)
        self.assertTrue(inbox.email_sent)
        invoice = inbox.invoice_id
        self.assertEqual(invoice.partner_id.email, "anna.berzina@example.com")
        mails = self.env["mail.message"].search([
            ("model", "=", "account.move"), ("res_id", "=", invoice.id),
            ("message_type", "in", ("comment", "email_outgoing")),
        ])
        self.assertTrue(mails.filtered(lambda m: invoice.partner_id in m.partner_ids), mails.mapped("body"))
        self.assertTrue(invoice.is_move_sent)

    def test_email_without_address_stops_at_the_email_step(self):
        self.channel.write({"send_email": True, "document_type": "order"})
        data = self.order_data()
        data["customer"] = {"name": "No Mail"}
        inbox = self.receive(data)
        self.run_cron()
        self.assertEqual(inbox.state, "error")
        self.assertEqual(inbox.failed_step, "email")
        self.assertEqual(inbox.sale_order_id.state, "sale", "what was done before stays done")

    def test_cron_processes_batches_until_the_inbox_is_empty(self):
        inboxes = [self.receive(self.order_data(f"F{i}")) for i in range(5)]
        processed = self.env["sale.inbox.order"]._cron_process(batch_size=2)
        # Under tests the cron makes one batch and no commit.
        self.assertEqual(processed, 2)
        self.env["sale.inbox.order"]._cron_process(batch_size=10)
        self.assertEqual({i.state for i in inboxes}, {"done"})
