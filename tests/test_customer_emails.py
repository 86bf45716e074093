"""Customers' e-mails of a channel go only to the countries it lists: the invoice or order
that Send by Email sends, and Odoo's delivery confirmation (with its tracking reference)."""
from odoo.exceptions import AccessError
from odoo.tests import TransactionCase, new_test_user, tagged

from .common import InboxFixtures


@tagged("post_install", "-at_install")
class TestCustomerEmailCountries(InboxFixtures, TransactionCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_inbox()
        cls.latvia = cls.env.ref("base.lv")
        cls.lithuania = cls.env.ref("base.lt")
        cls.channel.write({"send_email": True, "customer_email_country_ids": [(6, 0, cls.latvia.ids)]})

    def order_from(self, external_id, country, email):
        data = self.order_data(external_id)
        data["customer"] = {"id": f"cust-{external_id}", "email": email, "name": f"Customer {external_id}"}
        for key in ("billing_address", "shipping_address"):
            data[key] = dict(data[key], country=country)
        return data

    def invoice_mails(self, invoice):
        return self.env["mail.message"].search([
            ("model", "=", "account.move"), ("res_id", "=", invoice.id),
            ("message_type", "in", ("comment", "email_outgoing")),
        ]).filtered(lambda m: invoice.partner_id in m.partner_ids)

    def test_an_order_from_a_country_not_listed_is_processed_without_email(self):
        inbox = self.receive(self.order_from("M-LT", "LT", "jonas@example.com"))
        self.run_cron()
        self.assertEqual(inbox.state, "done", inbox.error_message)
        self.assertFalse(inbox.email_sent)
        self.assertEqual(inbox.invoice_id.state, "posted", "everything else is done")
        self.assertFalse(self.invoice_mails(inbox.invoice_id))
        self.assertFalse(inbox.invoice_id.is_move_sent)
        note = inbox.message_ids[0].body
        self.assertIn("no e-mail sent", note)
        self.assertIn("Lithuania", note)

    def test_an_order_from_a_listed_country_is_emailed(self):
        inbox = self.receive(self.order_from("M-LV", "LV", "anna@example.com"))
        self.run_cron()
        self.assertEqual(inbox.state, "done", inbox.error_message)
        self.assertTrue(inbox.email_sent)
        self.assertTrue(self.invoice_mails(inbox.invoice_id))
        self.assertIn("e-mailed to anna@example.com", inbox.message_ids[0].body)

    def test_every_country_when_none_is_listed(self):
        self.channel.customer_email_country_ids = False
        inbox = self.receive(self.order_from("M-ANY", "LT", "jonas@example.com"))
        self.run_cron()
        self.assertTrue(inbox.email_sent)

    def test_a_customer_not_emailed_needs_no_address(self):
        """Held back by the country, a customer without an e-mail address stops nothing."""
        inbox = self.receive(self.order_from("M-NOMAIL", "LT", ""))
        self.run_cron()
        self.assertEqual(inbox.state, "done", inbox.error_message)

    def test_delivery_confirmation_follows_the_list(self):
        self.env.company.stock_move_email_validation = True
        self.channel.write({"document_type": "order", "add_payment": False})
        held = self.receive(self.order_from("D-LT", "LT", "jonas@example.com"))
        sent = self.receive(self.order_from("D-LV", "LV", "anna@example.com"))
        self.run_cron()
        for inbox in (held, sent):
            self.assertEqual(inbox.state, "done", inbox.error_message)
        for inbox, expect_mail in ((held, False), (sent, True)):
            picking = inbox.sale_order_id.picking_ids
            self.assertEqual(len(picking), 1)
            before = picking.message_ids
            for move in picking.move_ids:
                move.quantity = move.product_uom_qty
                move.picked = True
            picking.button_validate()
            self.assertEqual(picking.state, "done")
            new = picking.message_ids - before
            mails = new.filtered(lambda m, p=picking: p.partner_id in m.partner_ids)
            self.assertEqual(bool(mails), expect_mail, new.mapped("body"))
            if expect_mail:
                self.assertIn(picking.partner_id, mails.partner_ids)
            else:
                self.assertIn("Lithuania", " ".join(new.mapped("body")))

    def test_pickings_of_other_sales_orders_are_left_to_odoo(self):
        self.env.company.stock_move_email_validation = True
        partner = self.env["res.partner"].create({"name": "Walk-in", "email": "w@example.com",
                                                  "country_id": self.lithuania.id})
        so = self.env["sale.order"].create({
            "partner_id": partner.id,
            "order_line": [(0, 0, {"product_id": self.mug.id, "product_uom_qty": 1})],
        })
        so.action_confirm()
        picking = so.picking_ids
        for move in picking.move_ids:
            move.quantity = move.product_uom_qty
            move.picked = True
        before = picking.message_ids
        picking.button_validate()
        self.assertTrue((picking.message_ids - before).filtered(lambda m: partner in m.partner_ids))

    def test_a_warehouse_worker_validates_a_held_delivery(self):
        """Whoever validates the delivery needs no right on sales orders or channels."""
        self.env.company.stock_move_email_validation = True
        self.channel.write({"document_type": "order", "add_payment": False})
        inbox = self.receive(self.order_from("W-LT", "LT", "jonas@example.com"))
        self.run_cron()
        worker = new_test_user(self.env, "inbox_worker_mails", groups="stock.group_stock_user")
        picking = inbox.sale_order_id.picking_ids.with_user(worker)
        for move in picking.move_ids:
            move.quantity = move.product_uom_qty
            move.picked = True
        picking.button_validate()
        self.assertEqual(picking.state, "done")
        self.assertIn("Lithuania", picking.sudo().message_ids[0].body)

    def test_only_managers_choose_the_countries(self):
        user = new_test_user(self.env, "inbox_user_mails", groups="sale_inbox.group_sale_inbox_user")
        with self.assertRaises(AccessError):
            self.channel.with_user(user).write({"customer_email_country_ids": [(4, self.lithuania.id)]})
