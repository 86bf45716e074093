"""Issue 10, inbox orders: what a Sales Inbox User or Manager may change, tried the way an
attacker would (the ORM methods an RPC call reaches, and one real JSON-RPC call), and what
processing refuses to do with documents it did not make for the order."""
import json

from odoo import Command, fields
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import HttpCase, TransactionCase, new_test_user, tagged
from odoo.tests.common import JsonRpcException

from ..platforms import InvalidPayload
from .common import InboxFixtures

USER_PASSWORD = "inbox-user-Pa55word"


class _Actors(InboxFixtures):

    @classmethod
    def setup_actors(cls):
        cls.setup_inbox()
        cls.Inbox = cls.env["sale.inbox.order"]
        cls.other_company = cls.env["res.company"].create({"name": "Other Co (records)"})
        cls.other_channel = cls.env["sale.channel"].create({
            "name": "Other company's shop", "company_id": cls.other_company.id, "platform": "connect",
            "api_key": "other-key-0001",
        })
        cls.user = new_test_user(cls.env, "inbox_rec_user", groups="sale_inbox.group_sale_inbox_user",
                                 password=USER_PASSWORD)
        cls.manager = new_test_user(cls.env, "inbox_rec_manager", groups="sale_inbox.group_sale_inbox_manager")
        cls.salesman = new_test_user(cls.env, "inbox_rec_salesman", groups="sales_team.group_sale_salesman")

    def payments_of(self, inbox):
        return self.env["account.payment"].search(
            [("partner_id", "=", inbox.partner_id.commercial_partner_id.id), ("state", "!=", "canceled")])


@tagged("post_install", "-at_install")
class TestInboxOrderWriteRules(_Actors, TransactionCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_actors()

    def test_a_user_writes_no_field_of_an_inbox_order(self):
        inbox = self.receive(self.order_data("W1"))
        self.run_cron()
        self.assertEqual(inbox.state, "done", inbox.error_message)
        other_so = self.env["sale.order"].create({"partner_id": self.env.user.partner_id.id})
        forbidden = {
            "state": "new", "company_id": self.other_company.id, "channel_id": self.other_channel.id,
            "sale_order_id": other_so.id, "amount_total": 1.0, "paid": False, "amount_accepted": True,
            "fingerprint": "forged", "built_fingerprint": "forged", "payment_id": False,
            "invoice_id": False, "partner_id": self.env.user.partner_id.id, "payload": "{}",
            "payload_content_type": "text/plain", "normalized": inbox.normalized, "email_sent": False,
            "failed_step": "parse", "error_message": "x", "external_id": "W2", "name": "W2",
            "received_at": fields.Datetime.now(), "attempt_count": 0, "customer_email": "x@example.com",
        }
        as_user = inbox.with_user(self.user)
        for name, value in forbidden.items():
            with self.subTest(field=name), self.assertRaises(AccessError):
                as_user.write({name: value})
        # The processing context key is no way around the rules.
        with self.assertRaises(AccessError):
            as_user.with_context(sale_inbox_internal=True).write({"normalized": inbox.normalized})
        self.assertEqual((inbox.state, inbox.sale_order_id.inbox_order_id), ("done", inbox))

    def test_a_user_creates_no_inbox_order(self):
        with self.assertRaises(AccessError):
            self.Inbox.with_user(self.user).create({
                "channel_id": self.channel.id, "company_id": self.company.id, "external_id": "C1",
                "name": "C1", "received_at": fields.Datetime.now(), "normalized": "{}"})

    def test_a_manager_corrects_the_normalized_order_and_nothing_else(self):
        data = self.order_data("M1")
        data["lines"][0]["sku"] = "SI-TYPO"
        inbox = self.receive(data)
        self.run_cron()
        self.assertEqual((inbox.state, inbox.failed_step), ("error", "products"))
        as_manager = inbox.with_user(self.manager)
        for vals in ({"state": "new"}, {"payload": "{}"}, {"fingerprint": "forged"}, {"amount_accepted": True},
                     {"company_id": self.other_company.id}, {"sale_order_id": False}, {"payment_id": False}):
            with self.subTest(vals=vals), self.assertRaises(AccessError):
                as_manager.write(vals)
        corrected = json.loads(inbox.normalized)
        corrected["lines"][0]["sku"] = "SI-MUG"
        as_manager.write({"normalized": json.dumps(corrected)})
        self.assertNotEqual(inbox.fingerprint, inbox.built_fingerprint)
        as_manager.action_retry()
        self.assertEqual(inbox.state, "done", inbox.error_message)
        # Done, the order is no longer corrected by hand.
        with self.assertRaises(AccessError):
            as_manager.write({"normalized": inbox.normalized})

    def test_a_retry_never_deletes_a_quotation_it_did_not_make(self):
        """The exploit: link another company's draft quotation to an order in error, Retry."""
        data = self.order_data("D1")
        data["lines"][0]["sku"] = "SI-TYPO"
        inbox = self.receive(data)
        self.run_cron()
        partner = self.env["res.partner"].create({"name": "Other customer", "company_id": self.other_company.id})
        victim = self.env["sale.order"].with_company(self.other_company).create({
            "partner_id": partner.id, "company_id": self.other_company.id,
            "order_line": [Command.create({"product_id": self.mug.id})]})
        with self.assertRaises(AccessError):
            inbox.with_user(self.user).write({"sale_order_id": victim.id, "built_fingerprint": "old"})
        # Not even our own code links a document of another company.
        with self.assertRaises(UserError):
            inbox.write({"sale_order_id": victim.id})
        # A quotation of this company that processing did not make for this order, linked all
        # the same (a bug, a script): processing leaves it alone and says why.
        quotation = self.env["sale.order"].create({
            "partner_id": self.env.user.partner_id.id, "order_line": [Command.create({"product_id": self.mug.id})]})
        inbox.write({"sale_order_id": quotation.id, "built_fingerprint": "old"})
        inbox.with_user(self.user).action_retry()
        self.assertTrue(victim.exists())
        self.assertEqual(quotation.exists().state, "draft")
        self.assertEqual((inbox.state, inbox.failed_step), ("error", "order"))
        self.assertIn(quotation.name, inbox.error_message)

    def test_an_outdated_draft_of_the_same_order_is_still_replaced(self):
        inbox = self.receive(self.order_data("D2", total=70.0))
        self.run_cron()
        self.assertEqual(inbox.state, "needs_review")
        draft = inbox.sale_order_id
        corrected = json.loads(inbox.normalized)
        corrected["total"] = 69.58
        inbox.with_user(self.manager).write({"normalized": json.dumps(corrected)})
        inbox.with_user(self.user).action_retry()
        self.assertEqual(inbox.state, "done", inbox.error_message)
        self.assertFalse(draft.exists())

    def test_a_paid_order_is_never_paid_twice(self):
        """The exploit: reset a paid order to new, clear its payment, Retry."""
        inbox = self.receive(self.order_data("P1"))
        self.run_cron()
        payment = inbox.payment_id
        self.assertTrue(payment)
        as_user = inbox.with_user(self.user)
        with self.assertRaises(AccessError):
            as_user.write({"state": "new", "payment_id": False})
        with self.assertRaises(UserError):
            as_user.action_reset_to_new()
        # Even with the link lost, processing finds the payment it made for this order.
        inbox.write({"state": "new", "payment_id": False})
        as_user.action_process()
        self.assertEqual(inbox.state, "done", inbox.error_message)
        self.assertEqual(inbox.payment_id, payment)
        self.assertEqual(self.payments_of(inbox), payment)

    def test_an_advance_is_never_paid_twice(self):
        self.channel.document_type = "order"
        inbox = self.receive(self.order_data("P2"))
        self.run_cron()
        payment = inbox.payment_id
        self.assertTrue(payment)
        inbox.write({"state": "new", "payment_id": False})
        inbox.with_user(self.user).action_process()
        self.assertEqual(inbox.state, "done", inbox.error_message)
        self.assertEqual(self.payments_of(inbox), payment)
        self.assertEqual(inbox.payment_id, payment)

    def test_an_invoice_paid_by_someone_else_gets_no_second_payment(self):
        self.channel.add_payment = False
        inbox = self.receive(self.order_data("P3"))
        self.run_cron()
        invoice = inbox.invoice_id
        self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=invoice.ids).create({"journal_id": self.bank.id})._create_payments()
        self.channel.add_payment = True
        inbox.write({"state": "new"})
        inbox.action_process()
        self.assertEqual(inbox.state, "done", inbox.error_message)
        self.assertFalse(inbox.payment_id)
        self.assertEqual(len(self.payments_of(inbox)), 1)

    def test_only_a_manager_accepts_a_difference(self):
        inbox = self.receive(self.order_data("A1", total=84.58))
        self.run_cron()
        self.assertEqual((inbox.state, inbox.failed_step), ("needs_review", "amount_check"))
        self.assertAlmostEqual(inbox.amount_difference, 15.0)
        as_user = inbox.with_user(self.user)
        with self.assertRaises(AccessError):
            as_user.action_accept_difference()
        with self.assertRaises(AccessError):
            as_user.write({"amount_accepted": True})
        as_user.action_retry()
        self.assertEqual((inbox.state, inbox.failed_step), ("needs_review", "amount_check"))
        self.assertFalse(inbox.amount_accepted)
        inbox.with_user(self.manager).action_accept_difference()
        self.assertEqual(inbox.state, "done", inbox.error_message)

    def test_a_forged_raw_payload_never_becomes_a_sales_order(self):
        kept = self.Inbox.browse(self.Inbox._keep_unreadable(
            self.channel, b"{not json", "application/json", InvalidPayload("unreadable")))
        forged = json.dumps(self.order_data("F1")).encode().decode()
        with self.assertRaises(AccessError):
            kept.with_user(self.user).write({"payload": forged, "payload_content_type": "application/json"})
        with self.assertRaises(AccessError):
            kept.with_user(self.manager).write({"payload": forged})
        kept.with_user(self.user).action_retry()
        self.assertEqual((kept.state, kept.failed_step), ("error", "parse"))
        self.assertFalse(kept.sale_order_id)

    def test_every_button_checks_the_group_first(self):
        inbox = self.receive(self.order_data("B1"))
        for method in ("action_process", "action_retry", "action_accept_difference", "action_cancel",
                       "action_reset_to_new", "action_view_sale_order"):
            with self.subTest(method=method), self.assertRaises(AccessError):
                getattr(inbox.with_user(self.salesman), method)()
        self.assertEqual(inbox.state, "new")

    def test_cancel_and_reset_stay_the_users_buttons(self):
        inbox = self.receive(self.order_data("B2"))
        self.channel.auto_process = False
        as_user = inbox.with_user(self.user)
        as_user.action_cancel()
        self.assertEqual(inbox.state, "cancelled")
        as_user.action_reset_to_new()
        self.assertEqual(inbox.state, "new")
        as_user.action_process()
        self.assertEqual(inbox.state, "done", inbox.error_message)

    def test_a_salesperson_cannot_forge_a_sales_order_link(self):
        inbox = self.receive(self.order_data("L1"))
        partner = self.env.user.partner_id.id
        SaleOrder = self.env["sale.order"].with_user(self.salesman)
        with self.assertRaises(AccessError):
            SaleOrder.create({"partner_id": partner, "inbox_order_id": inbox.id, "channel_id": self.channel.id})
        own = SaleOrder.create({"partner_id": partner})
        with self.assertRaises(AccessError):
            own.write({"inbox_order_id": inbox.id})


@tagged("post_install", "-at_install")
class TestInboxOrderCompany(_Actors, TransactionCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_actors()

    def vals(self, channel, company, external_id="K1"):
        normalized = json.loads(self.receive(self.order_data(f"{external_id}-model")).normalized)
        normalized["external_id"] = external_id
        return {"channel_id": channel.id, "company_id": company.id, "external_id": external_id,
                "name": external_id, "received_at": fields.Datetime.now(), "normalized": json.dumps(normalized)}

    def test_a_manager_of_one_company_cannot_create_an_order_on_anothers_channel(self):
        with self.assertRaises(UserError):  # any refusal: access, company or constraint
            self.Inbox.with_user(self.manager).create(self.vals(self.other_channel, self.company))
        self.assertFalse(self.Inbox.search([("external_id", "=", "K1")]))

    def test_a_manager_adds_an_order_by_hand_from_a_normalized_order_only(self):
        Inbox = self.Inbox.with_user(self.manager)
        for forged in ({"state": "done"}, {"payload": "{}"}, {"fingerprint": "forged"}, {"paid": True}):
            with self.subTest(forged=forged), self.assertRaises(AccessError):
                Inbox.create(dict(self.vals(self.channel, self.company, "H1"), **forged))
        vals = self.vals(self.channel, self.company, "H2")
        del vals["company_id"]
        inbox = Inbox.create(vals)
        self.assertEqual(inbox.company_id, self.company)
        self.assertEqual(inbox.state, "new")
        self.assertEqual(inbox.fingerprint, inbox._read_normalized().fingerprint())
        self.assertEqual((inbox.amount_total, inbox.paid), (69.58, True))

    def test_an_inbox_orders_company_is_its_channels(self):
        with self.assertRaises(ValidationError):
            self.Inbox.create(self.vals(self.other_channel, self.company, "K2"))
        inbox = self.receive(self.order_data("K3"))
        with self.assertRaises(ValidationError):
            inbox.write({"company_id": self.other_company.id})

    def test_an_inbox_order_links_no_document_of_another_company(self):
        inbox = self.receive(self.order_data("K4"))
        partner = self.env["res.partner"].create({"name": "Other", "company_id": self.other_company.id})
        other_so = self.env["sale.order"].with_company(self.other_company).create({
            "partner_id": partner.id, "company_id": self.other_company.id})
        with self.assertRaises(UserError):
            inbox.write({"sale_order_id": other_so.id})


@tagged("post_install", "-at_install")
class TestCustomerNote(_Actors, TransactionCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_actors()

    def test_html_in_a_customer_note_is_kept_as_text_never_in_the_terms(self):
        note = "<img src=x onerror=alert(1)>\nLeave it at the door"
        inbox = self.receive(self.order_data("N1", note=note))
        self.run_cron()
        so = inbox.sale_order_id
        self.assertTrue(so, inbox.error_message)
        self.assertNotIn("onerror", str(so.note or ""))
        self.assertNotIn("<img", str(so.note or ""))
        self.assertEqual(so.store_note, note)


@tagged("post_install", "-at_install")
class TestInboxOrderRpc(_Actors, HttpCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_actors()

    def test_a_user_writing_a_paid_order_over_json_rpc_gets_an_access_error(self):
        inbox = self.receive(self.order_data("R1"))
        self.run_cron()
        payment = inbox.payment_id
        self.assertTrue(payment)
        self.authenticate(self.user.login, USER_PASSWORD)
        with self.assertRaises(JsonRpcException) as caught:
            self.make_jsonrpc_request("/web/dataset/call_kw/sale.inbox.order/write", {
                "model": "sale.inbox.order", "method": "write",
                "args": [[inbox.id], {"state": "new", "payment_id": False}],
                "kwargs": {"context": {"sale_inbox_internal": True}},
            })
        self.assertEqual(str(caught.exception), "odoo.exceptions.AccessError")
        inbox.invalidate_recordset()
        self.assertEqual((inbox.state, inbox.payment_id), ("done", payment))
