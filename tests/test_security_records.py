"""Issue 10, inbox orders: what a Sales Inbox User or Manager may change, tried the way an
attacker would (the ORM methods an RPC call reaches, and one real JSON-RPC call), and what
processing refuses to do with documents it did not make for the order."""
import copy
import json
import logging
import pathlib
from unittest.mock import patch

from odoo import Command, fields
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import HttpCase, TransactionCase, new_test_user, tagged
from odoo.tests.common import JsonRpcException

from ..platforms import InvalidPayload
from .common import InboxFixtures, StockFixtures, StoreChannelFixtures

DATA = pathlib.Path(__file__).resolve().parents[1] / "platforms" / "tests" / "data"

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
        # The context of the call is the caller's: it accepts nothing.
        as_user.with_context(sale_inbox_accept_difference=True).action_retry()
        self.assertEqual((inbox.state, inbox.failed_step), ("needs_review", "amount_check"))
        self.assertFalse(inbox.amount_accepted)
        inbox.with_user(self.manager).action_accept_difference()
        self.assertEqual(inbox.state, "done", inbox.error_message)
        self.assertTrue(inbox.amount_accepted)

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
        """A user with the right to change inbox orders (an access right of another group)
        but not the button's group is refused before the button does anything: without the
        group check each of these would act (or fail otherwise) on an order it fits."""
        clerks = self.env["res.groups"].create({"name": "Inbox clerks (test)"})
        self.env["ir.model.access"].create({
            "name": "inbox clerks", "model_id": self.env["ir.model"]._get_id("sale.inbox.order"),
            "group_id": clerks.id, "perm_read": True, "perm_write": True})
        clerk = new_test_user(self.env, "inbox_rec_clerk", groups="sales_team.group_sale_salesman")
        clerk.groups_id = [Command.link(clerks.id)]
        self.channel.auto_process = False
        new = self.receive(self.order_data("B1"))
        new.with_user(clerk).check_access("write")  # the right is there: only the group refuses
        errored = self.receive(self.order_data("B3"))
        errored.write({"state": "error", "failed_step": "products"})
        cancelled = self.receive(self.order_data("B4"))
        cancelled.write({"state": "cancelled"})
        done = self.receive(self.order_data("B5", total=84.58))
        done.action_process()
        self.assertEqual((done.state, done.failed_step), ("needs_review", "amount_check"))
        user_group = self.env.ref("sale_inbox.group_sale_inbox_user").full_name
        manager_group = self.env.ref("sale_inbox.group_sale_inbox_manager").full_name
        cases = [
            ("action_process", new, clerk, user_group), ("action_retry", errored, clerk, user_group),
            ("action_cancel", new, clerk, user_group), ("action_reset_to_new", cancelled, clerk, user_group),
            ("action_view_sale_order", done, clerk, user_group),
            ("action_accept_difference", done, self.user, manager_group),
            ("action_drop_foreign_documents", done, self.user, manager_group),
            # The group before ensure_one(): no other error tells a non-member anything.
            ("action_view_sale_order", self.Inbox, clerk, user_group),
            ("action_view_sale_order", new | errored, clerk, user_group),
        ]
        for method, records, actor, group in cases:
            with self.subTest(method=method, records=records.ids), self.assertRaises(AccessError) as caught:
                getattr(records.with_user(actor), method)()
            self.assertIn(group, str(caught.exception))
        self.assertEqual((new.state, errored.state, cancelled.state, done.state),
                         ("new", "error", "cancelled", "needs_review"))
        self.assertFalse(done.amount_accepted)

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
        # assertRaises (not assertRaisesRegex): Odoo's rolls back what the call wrote.
        with self.assertRaises(AccessError) as caught:
            self.Inbox.with_user(self.manager).create(self.vals(self.other_channel, self.company))
        self.assertIn("Sales Channel", str(caught.exception))
        # Nor by naming the channel only (its company would be read from it).
        vals = self.vals(self.other_channel, self.company, "K1")
        del vals["company_id"]
        with self.assertRaises(AccessError) as caught:
            self.Inbox.with_user(self.manager).create(vals)
        self.assertIn("Sales Channel", str(caught.exception))
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

    def test_the_context_gives_a_new_order_nothing_a_manager_may_not(self):
        """``default_*`` keys of the call's context are values too (the ORM adds them in
        create): outside what a manager may give, they are refused."""
        paid = self.receive(self.order_data("H3"))
        self.run_cron()
        self.assertTrue(paid.payment_id)
        Inbox = self.Inbox.with_user(self.manager)
        for forged in ({"default_state": "done"}, {"default_payment_id": paid.payment_id.id},
                       {"default_payload": "{}"}, {"default_fingerprint": "forged"}, {"default_paid": True},
                       {"default_sale_order_id": paid.sale_order_id.id}, {"default_amount_accepted": True}):
            with self.subTest(forged=forged), self.assertRaises(AccessError) as caught:
                Inbox.with_context(**forged).create(self.vals(self.channel, self.company, "H4"))
            self.assertIn("changed by processing", str(caught.exception))
        self.assertFalse(self.Inbox.search([("external_id", "=", "H4")]))
        # What a manager may give, the context may give too, and it is read as such.
        vals = self.vals(self.channel, self.company, "H5")
        inbox = Inbox.with_context(default_normalized=vals.pop("normalized")).create(vals)
        self.assertEqual(inbox.fingerprint, inbox._read_normalized().fingerprint())
        self.assertEqual((inbox.state, inbox.amount_total), ("new", 69.58))

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
class TestForeignDocuments(_Actors, TransactionCase):
    """An order stopped because it links a document processing did not make for it."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_actors()

    def stopped_on_a_foreign_quotation(self, external_id):
        data = self.order_data(external_id)
        data["lines"][0]["sku"] = "SI-TYPO"
        inbox = self.receive(data)
        self.run_cron()
        quotation = self.env["sale.order"].create({
            "partner_id": self.env.user.partner_id.id, "order_line": [Command.create({"product_id": self.mug.id})]})
        inbox.write({"sale_order_id": quotation.id, "built_fingerprint": "old"})
        corrected = json.loads(inbox.normalized)
        corrected["lines"][0]["sku"] = "SI-MUG"
        inbox.with_user(self.manager).write({"normalized": json.dumps(corrected)})
        inbox.with_user(self.user).action_retry()
        self.assertEqual((inbox.state, inbox.failed_step), ("error", "order"))
        return inbox, quotation

    def test_a_manager_drops_a_foreign_document_and_retry_goes_on(self):
        inbox, quotation = self.stopped_on_a_foreign_quotation("X1")
        with self.assertRaises(AccessError):
            inbox.with_user(self.user).action_drop_foreign_documents()
        self.assertEqual(inbox.sale_order_id, quotation)
        inbox.with_user(self.manager).action_drop_foreign_documents()
        self.assertFalse(inbox.sale_order_id)
        self.assertIn(quotation.name, inbox.message_ids[:1].body)
        inbox.with_user(self.user).action_retry()
        self.assertEqual(inbox.state, "done", inbox.error_message)
        self.assertNotEqual(inbox.sale_order_id, quotation)
        self.assertEqual(inbox.sale_order_id.inbox_order_id, inbox)
        # The document itself is left as it was.
        self.assertEqual(quotation.exists().state, "draft")
        self.assertFalse(quotation.inbox_order_id)

    def test_an_invoice_of_another_sales_order_is_dropped_too(self):
        inbox = self.receive(self.order_data("X2"))
        self.run_cron()
        self.assertEqual(inbox.state, "done", inbox.error_message)
        other = self.env["sale.order"].create({
            "partner_id": self.env.user.partner_id.id, "order_line": [Command.create({"product_id": self.mug.id})]})
        other.action_confirm()
        foreign_invoice = other._create_invoices()
        inbox.write({"state": "new", "invoice_id": foreign_invoice.id})
        inbox.action_process()
        self.assertEqual((inbox.state, inbox.failed_step), ("error", "order"))
        inbox.with_user(self.manager).action_drop_foreign_documents()
        self.assertFalse(inbox.invoice_id)
        self.assertTrue(inbox.sale_order_id, "its own sales order stays")
        self.assertIn(foreign_invoice.name, inbox.message_ids[:1].body)

    def test_an_orders_own_documents_are_never_dropped(self):
        inbox = self.receive(self.order_data("X3"))
        self.run_cron()
        documents = (inbox.sale_order_id, inbox.invoice_id)
        with self.assertRaises(UserError):
            inbox.with_user(self.manager).action_drop_foreign_documents()
        self.assertEqual((inbox.sale_order_id, inbox.invoice_id), documents)


@tagged("post_install", "-at_install")
class TestPaymentLink(_Actors, TransactionCase):
    """What proves a payment was registered for an inbox order is written by processing only."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_actors()
        cls.accountant = new_test_user(
            cls.env, "inbox_rec_accountant",
            groups="account.group_account_invoice,sale_inbox.group_sale_inbox_user")

    def payment_vals(self):
        return {"payment_type": "inbound", "partner_type": "customer", "amount": 69.58,
                "partner_id": self.env.user.partner_id.id, "journal_id": self.bank.id}

    def test_an_accountant_cannot_name_the_inbox_order_of_a_payment(self):
        inbox = self.receive(self.order_data("Y1"))
        Payment = self.env["account.payment"].with_user(self.accountant)
        with self.assertRaises(AccessError):
            Payment.create(dict(self.payment_vals(), sale_inbox_order_id=inbox.id))
        with self.assertRaises(AccessError):
            Payment.with_context(default_sale_inbox_order_id=inbox.id).create(self.payment_vals())
        payment = Payment.create(self.payment_vals())
        with self.assertRaises(AccessError):
            payment.write({"sale_inbox_order_id": inbox.id})
        self.assertFalse(self.env["account.payment"].search([("sale_inbox_order_id", "=", inbox.id)]))
        # So processing registers the order's own payment.
        self.run_cron()
        self.assertEqual(inbox.state, "done", inbox.error_message)
        self.assertNotEqual(inbox.payment_id, payment)
        self.assertEqual(inbox.payment_id.sale_inbox_order_id, inbox)


@tagged("post_install", "-at_install")
class TestStatusSyncLinks(StoreChannelFixtures, StockFixtures, TransactionCase):
    """Status sync tells the store what a sales order of that store order went through: a
    salesperson can neither make a sales order pass for a store order, nor silence it."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_store("woocommerce", name="Woo (records)", api_login="ck", api_secret="cs")
        cls.env["sale.channel.payment.method"].create(
            {"channel_id": cls.channel.id, "code": "stripe", "name": "Card", "journal_id": cls.bank.id})
        warehouse = cls.env["stock.warehouse"].search([("company_id", "=", cls.env.company.id)], limit=1)
        for sku in ("TSHIRT-RED-M", "MUG-01"):
            product = cls.env["product.product"].search([("default_code", "=", sku)])
            cls.env["stock.quant"]._update_available_quantity(product, warehouse.lot_stock_id, 50)
        cls.order_json = json.loads((DATA / "woocommerce_order.json").read_text())
        cls.salesman = new_test_user(cls.env, "inbox_rec_sync_salesman", groups="sales_team.group_sale_salesman")

    def setUp(self):
        super().setUp()
        store = self.start_store()
        self.channel.write({"store_url": store.url, "status_sync": "to_store"})
        self.Inbox._receive(self.channel, json.dumps(copy.deepcopy(self.order_json)).encode(), "application/json")
        self.process()
        self.inbox_order = self.inbox()
        self.assertEqual(self.inbox_order.state, "done", self.inbox_order.error_message)

    def queued(self):
        return self.env["sale.channel.outbox"].search(
            [("channel_id", "=", self.channel.id), ("external_id", "=", self.inbox_order.external_id)])

    def test_context_defaults_link_no_sales_order_to_a_store_order(self):
        """The exploit: create a sales order with the store order in ``default_*`` keys of the
        context, cancel it: the store order would be cancelled."""
        SaleOrder = self.env["sale.order"].with_user(self.salesman)
        partner = self.salesman.partner_id.id
        for defaults in ({"default_channel_id": self.channel.id, "default_inbox_order_id": self.inbox_order.id},
                         {"default_inbox_order_id": self.inbox_order.id},
                         {"default_external_order_number": self.inbox_order.external_id}):
            with self.subTest(defaults=defaults), self.assertRaises(AccessError) as caught:
                SaleOrder.with_context(**defaults).create({"partner_id": partner})
            self.assertIn("Only the Sales Inbox", str(caught.exception))
        self.assertFalse(self.queued())

    def test_a_sales_order_its_store_order_does_not_link_back_to_tells_the_store_nothing(self):
        stray = self.env["sale.order"].create({
            "partner_id": self.salesman.partner_id.id, "user_id": self.salesman.id,
            "channel_id": self.channel.id, "inbox_order_id": self.inbox_order.id})
        stray.with_user(self.salesman).action_cancel()
        self.assertEqual(stray.state, "cancel")
        self.assertFalse(self.queued())
        self.assertFalse(stray.store_stages)

    def test_a_caller_cannot_pass_a_change_for_the_stores_own(self):
        so = self.inbox_order.sale_order_id
        so.user_id = self.salesman
        so.with_user(self.salesman).with_context(
            sale_inbox_from_store=True, disable_cancel_warning=True).action_cancel()
        self.assertEqual(so.state, "cancel")
        self.assertEqual(self.queued().mapped("store_status"), ["cancelled"])


@tagged("post_install", "-at_install")
class TestNoForgedLogLines(_Actors, TransactionCase):
    """An unexpected error's text can hold store data (line breaks included): the log gets
    the error's type and where it happened, never the text as lines of its own."""

    FORGED = "FORGED 2026-01-01 00:00:00,000 1 CRITICAL db odoo: all is lost"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_actors()

    def poison(self, method, bad):
        """The method of processing raises, for the ``bad`` order only, an error whose text
        has a line break and a fake log line (as a store's text could)."""
        Processor = type(self.env["sale.inbox.processor"])
        original = getattr(Processor, method)
        forged = self.FORGED

        def poisoned(processor, *args, **kwargs):
            if any(bad in arg for arg in args if hasattr(arg, "_name") and arg._name == "sale.inbox.order"):
                raise ValueError(f"customer said\n{forged}")
            return original(processor, *args, **kwargs)
        return patch.object(Processor, method, poisoned)

    def assert_no_forged_line(self, output):
        lines = "\n".join(output).splitlines()
        self.assertFalse([line for line in lines if line.startswith("FORGED")], lines)
        self.assertTrue(any("ValueError" in line for line in lines), lines)

    def test_an_unexpected_error_in_a_step_logs_no_store_text(self):
        good, bad = self.receive(self.order_data("G1")), self.receive(self.order_data("G2"))
        with self.poison("_step_customers", bad), self.assertLogs(
                "odoo.addons.sale_inbox.models.sale_inbox_processor", logging.ERROR) as logs:
            self.run_cron()
        self.assert_no_forged_line(logs.output)
        self.assertEqual(good.state, "done", good.error_message)
        self.assertEqual((bad.state, bad.failed_step), ("error", "customer"))
        self.assertIn(self.FORGED, bad.error_message)

    def test_a_crash_logs_no_store_text(self):
        good, bad = self.receive(self.order_data("G3")), self.receive(self.order_data("G4"))
        with self.poison("_process", bad), self.assertLogs(
                "odoo.addons.sale_inbox.models.sale_inbox_order", logging.ERROR) as logs:
            (good | bad)._process_isolated(automatic=False)
        self.assert_no_forged_line(logs.output)
        self.assertEqual(good.state, "done", good.error_message)
        self.assertEqual((bad.state, bad.failed_step), ("error", "process"))
        self.assertIn(self.FORGED, bad.error_message)


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
