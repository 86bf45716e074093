"""Payments after delivery, net of the marketplace's charges, and the charges booked on their
own (models/sale_channel_fee_booking.py), with the channel's Set Up Marketplace Accounting.

Fees are made from the fake Ozon's operations, read as the platform reads them
(``read_operation``), and stored as the fee import stores them (state per the booking states)."""
import json
import threading
from datetime import timedelta
from unittest.mock import patch

from odoo import SUPERUSER_ID, Command, api, fields
from odoo.exceptions import AccessError, ValidationError
from odoo.modules.registry import Registry
from odoo.tests import BaseCase, HttpCase, new_test_user, tagged
from odoo.tests.common import JsonRpcException, get_db_name

from odoo.addons.sale_inbox.models.sale_channel_fee_booking import SaleChannelFee
from odoo.addons.sale_inbox.platforms.ozon.finance import read_operation

from .ozon_money_common import OzonMoneyFixtures

USER = "inbox_user_payments"
MANAGER_TWO = "inbox_manager_payments_two"


@tagged("post_install", "-at_install")
class TestMarketplacePayments(OzonMoneyFixtures, HttpCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_money()
        env = cls.env
        cls.Fee = env["sale.channel.fee"]
        cls.user = new_test_user(env, USER, groups="sale_inbox.group_sale_inbox_user")
        cls.company_two = env["res.company"].create({"name": "Payments Company Two"})
        cls.manager_two = new_test_user(
            env, MANAGER_TWO, groups="sale_inbox.group_sale_inbox_manager,account.group_account_manager",
            company_id=cls.company_two.id, company_ids=[Command.set(cls.company_two.ids)])

    def setUp(self):
        super().setUp()
        self.start_ozon()

    # ------------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------------

    def store_fee(self, operation, channel=None):
        """Keep one of the fake's operations as the fee import keeps it."""
        channel = channel or self.channel
        op = read_operation(operation)
        so = self.env["sale.order"].search(
            [("channel_id", "=", channel.id), ("external_order_number", "=", op.order_ref)], limit=1) \
            if op.order_ref else self.env["sale.order"]
        charges = op.charges
        if not charges:
            state = "nothing"
        elif op.order_ref and not so:
            state = "unmatched"
        else:
            state = "waiting"
        return self.Fee.sudo().create({
            "channel_id": channel.id, "currency_id": self.eur.id, "ref": op.ref, "date": op.date,
            "operation_type": op.operation_type, "name": op.name, "kind": op.kind, "order_ref": op.order_ref,
            "sale_order_id": so.id, "amount": float(op.amount), "sale_amount": float(op.sale_amount),
            "commission_amount": float(op.commission_amount), "delivery_amount": float(op.delivery_amount),
            "services_amount": float(op.services_amount), "charge_amount": float(charges), "state": state,
        })

    def sold(self, order, commission, logistics=0.0):
        """Ozon's delivery operation of the order (45.00 credited, its commission charged) and,
        if any, a logistics charge of its own."""
        number = order.external_order_number
        fees = self.store_fee(self.ozon.sale_operation(number, "45.00", commission))
        if logistics:
            fees |= self.store_fee(self.ozon.charge_operation(number, logistics))
        return fees

    def run_job(self):
        return self.Fee._cron_pay_and_book()

    def payments_of(self, order):
        return self.env["account.payment"].sudo().search([("sale_inbox_order_id", "=", order.inbox_order_id.id)])

    def invoice_of(self, order):
        return order.invoice_ids.filtered(lambda m: m.state == "posted")

    def holding_account(self):
        return self.channel._marketplace_holding_account()

    def balances(self, move):
        """{account: balance} of an entry's lines."""
        result = {}
        for line in move.line_ids:
            result[line.account_id] = round(result.get(line.account_id, 0.0) + line.balance, 2)
        return result

    # ------------------------------------------------------------------
    # (a) Payments after delivery
    # ------------------------------------------------------------------

    def test_order_delivered_31_days_ago_is_paid_net_of_its_charges(self):
        due = self.delivered_order("70001-0001-1", days_ago=31)
        fees = self.sold(due, commission="6.75", logistics="3.00")
        self.assertEqual(sorted(fees.mapped("charge_amount")), [-6.75, -3.0])
        early = self.delivered_order("70001-0002-1", days_ago=29)
        early_fees = self.sold(early, commission="6.75")

        self.run_job()

        payment = self.payments_of(due)
        self.assertEqual(len(payment), 1)
        self.assertEqual(payment.amount, 35.25, "45.00 less 6.75 and 3.00")
        self.assertEqual(payment.journal_id, self.marketplace_journal)
        self.assertIn("Ozon", payment.memo)
        self.assertIn(due.name, payment.memo)
        writeoff = payment.move_id.line_ids.filtered(lambda line: line.account_id == self.commission_account)
        self.assertEqual(sum(writeoff.mapped("debit")), 9.75)
        invoice = self.invoice_of(due)
        self.assertEqual(invoice.amount_residual, 0.0)
        self.assertIn(invoice.payment_state, ("paid", "in_payment"))
        self.assertEqual(invoice.amount_total, 45.0, "the invoice is never edited")
        self.assertEqual(set(fees.mapped("state")), {"in_payment"})
        self.assertEqual(fees.move_id, payment.move_id)
        self.assertEqual(due.inbox_order_id.payment_id, payment)
        # Delivered 29 days ago: not yet.
        self.assertFalse(self.payments_of(early))
        self.assertEqual(self.invoice_of(early).payment_state, "not_paid")
        self.assertEqual(early_fees.state, "waiting")

        # Run again: no second payment, and the order's charges are not booked twice either.
        self.run_job()
        self.assertEqual(self.payments_of(due), payment)
        self.assertEqual(set(fees.mapped("state")), {"in_payment"})
        # Even with the link on the inbox order lost, the payment that names it counts.
        due.inbox_order_id.sudo().payment_id = False
        self.run_job()
        self.assertEqual(self.payments_of(due), payment)

    def test_order_without_fees_is_paid_in_full(self):
        order = self.delivered_order("70002-0001-1", days_ago=31)
        self.run_job()
        payment = self.payments_of(order)
        self.assertEqual(payment.amount, 45.0)
        self.assertFalse(payment.move_id.line_ids.filtered(lambda line: line.account_id == self.commission_account))
        self.assertEqual(self.invoice_of(order).amount_residual, 0.0)

    def test_a_delivery_not_done_holds_the_payment(self):
        order = self.delivered_order("70003-0001-1", days_ago=31)
        delivered = self.delivery(order)
        backorder = delivered.copy({"move_ids": False, "sale_id": order.id})
        backorder.write({"state": "assigned"})
        self.assertEqual(backorder.sale_id, order)
        self.run_job()
        self.assertFalse(self.payments_of(order))

    # ------------------------------------------------------------------
    # (b) Charges booked on their own
    # ------------------------------------------------------------------

    def test_commission_after_the_payment_is_booked_on_its_own_entry(self):
        order = self.delivered_order("70004-0001-1", days_ago=31)
        self.sold(order, commission="6.75")
        self.run_job()
        payment = self.payments_of(order)
        self.assertEqual(payment.amount, 38.25)

        late = self.store_fee(self.ozon.charge_operation(order.external_order_number, "1.20",
                                                         operation_type="MarketplaceRedistributionOfAcquiringOperation"))
        self.assertEqual(late.state, "waiting")
        self.run_job()

        self.assertEqual(self.payments_of(order), payment, "no second payment")
        self.assertEqual(late.state, "booked")
        move = late.move_id
        self.assertEqual(move.state, "posted")
        self.assertEqual(move.journal_id, self.marketplace_journal)
        self.assertIn(order.name, move.ref)
        self.assertEqual(self.balances(move), {self.commission_account: 1.2, self.holding_account(): -1.2})
        self.assertEqual(order.marketplace_charge_move_ids, move)
        self.assertEqual(order.marketplace_charge_move_count, 1)
        # Booked once.
        self.run_job()
        self.assertEqual(self.env["account.move"].search_count([("ref", "=", move.ref)]), 1)

    def test_cancelled_order_with_a_commission_gets_an_entry_and_no_payment(self):
        order = self.delivered_order("70005-0001-1", days_ago=40)
        order.sudo()._action_cancel()
        self.assertEqual(order.state, "cancel")
        fee = self.store_fee(self.ozon.charge_operation(order.external_order_number, "2.50",
                                                        operation_type="MarketplaceServiceItemReturnFlowLogistic"))
        self.run_job()
        self.assertFalse(self.payments_of(order))
        self.assertEqual(fee.state, "booked")
        self.assertEqual(self.balances(fee.move_id), {self.commission_account: 2.5, self.holding_account(): -2.5})

    def test_commission_given_back_is_booked_the_other_way_round(self):
        order = self.delivered_order("70006-0001-1", days_ago=31)
        self.run_job()
        back = self.store_fee(self.ozon.add_operation("OperationMarketplaceCompensation", "4.00",
                                                      posting_number=order.external_order_number,
                                                      name="Compensation"))
        self.assertEqual(back.charge_amount, 4.0)
        self.run_job()
        self.assertEqual(back.state, "booked")
        self.assertEqual(self.balances(back.move_id), {self.commission_account: -4.0, self.holding_account(): 4.0})

    def test_storage_fees_of_no_order_get_one_entry_per_day(self):
        yesterday = self.clock.moment - timedelta(days=1)
        storage = self.store_fee(self.ozon.service_operation("12.00", at=yesterday))
        promotion = self.store_fee(self.ozon.service_operation(
            "3.50", operation_type="OperationMarketplacePromotion", at=yesterday))
        today = self.store_fee(self.ozon.service_operation("1.00"))
        self.assertFalse(storage.sale_order_id)
        self.run_job()
        self.assertEqual(set((storage | promotion | today).mapped("state")), {"booked"})
        self.assertEqual(storage.move_id, promotion.move_id, "one entry per channel and day")
        self.assertNotEqual(storage.move_id, today.move_id)
        self.assertEqual(self.balances(storage.move_id),
                         {self.commission_account: 15.5, self.holding_account(): -15.5})
        self.assertEqual(storage.move_id.date, yesterday.date())
        self.assertEqual(len(storage.move_id.line_ids), 3, "a line per fee and the marketplace's side")

    def test_fees_of_an_order_not_in_odoo_wait_for_a_person(self):
        unmatched = self.store_fee(self.ozon.charge_operation("99999-0001-1", "2.00"))
        self.assertEqual(unmatched.state, "unmatched")
        self.run_job()
        self.assertEqual(unmatched.state, "unmatched")
        self.assertFalse(unmatched.move_id)

    # ------------------------------------------------------------------
    # (c) Book as Charges
    # ------------------------------------------------------------------

    def press_book_as_charges(self, user, fees):
        """Book as Charges as the web client presses it for ``user``: the button is in the fee
        list the user is shown, and pressing it goes over HTTP (a server action bound to the
        fees would be refused: nobody may write a fee)."""
        arch = self.env["sale.channel.fee"].with_user(user).get_views([(False, "list")])["views"]["list"]["arch"]
        self.assertIn('name="action_book_as_charges"', arch)
        self.authenticate(user.login, user.login)
        self.make_jsonrpc_request("/web/dataset/call_button/sale.channel.fee/action_book_as_charges", {
            "model": "sale.channel.fee", "method": "action_book_as_charges", "args": [fees.ids], "kwargs": {}})
        fees.invalidate_recordset()

    def test_manager_books_selected_fees_as_charges(self):
        manager = new_test_user(self.env, "inbox_manager_payments", groups="sale_inbox.group_sale_inbox_manager")
        order = self.delivered_order("70007-0001-1", days_ago=3)
        waiting = self.sold(order, commission="6.75")
        unmatched = self.store_fee(self.ozon.charge_operation("99999-0002-1", "2.00"))
        self.press_book_as_charges(manager, waiting | unmatched)
        self.assertEqual(set((waiting | unmatched).mapped("state")), {"booked"})
        self.assertNotEqual(waiting.move_id, unmatched.move_id)
        self.assertIn("99999-0002-1", unmatched.move_id.ref)
        self.assertIn(order.name, waiting.move_id.ref)
        self.assertEqual(self.balances(waiting.move_id), {self.commission_account: 6.75, self.holding_account(): -6.75})
        # Booked: its order is later paid in full (the charge is not deducted twice).
        self.delivery(order).date_done = fields.Datetime.now() - timedelta(days=31)
        self.run_job()
        self.assertEqual(self.payments_of(order).amount, 45.0)

    def test_accounting_manager_books_charges_too(self):
        accountant = new_test_user(self.env, "accountant_payments",
                                    groups="account.group_account_manager,account.group_account_readonly")
        storage = self.store_fee(self.ozon.service_operation("7.00"))
        self.press_book_as_charges(accountant, storage)
        self.assertEqual(storage.state, "booked")
        self.assertEqual(self.balances(storage.move_id), {self.commission_account: 7.0, self.holding_account(): -7.0})

    def test_order_paid_by_a_person_gets_its_charges_booked_and_no_payment(self):
        order = self.delivered_order("70012-0001-1", days_ago=31)
        fee = self.sold(order, commission="6.75")
        self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=self.invoice_of(order).ids,
        ).create({"journal_id": self.bank.id})._create_payments()
        self.run_job()
        self.assertFalse(self.payments_of(order), "the job registers nothing")
        self.assertEqual(fee.state, "booked")
        self.assertEqual(self.balances(fee.move_id), {self.commission_account: 6.75, self.holding_account(): -6.75})

    # ------------------------------------------------------------------
    # Any channel: not only marketplaces
    # ------------------------------------------------------------------

    def test_connect_channel_paying_after_delivery_is_paid_in_full(self):
        journal = self.env["account.journal"].create({"name": "Shop payouts", "code": "SHPO", "type": "bank"})
        shop = self.env["sale.channel"].create({
            "name": "Connect shop", "platform": "connect", "api_key": "connect-pay-after-9f3c",
            "auto_process": True, "document_type": "invoice", "auto_confirm": True, "add_payment": False,
            "pricelist_id": self.pricelist.id, "pay_after_delivery": True, "pay_after_days": 7,
            "marketplace_journal_id": journal.id, "commission_account_id": self.commission_account.id,
        })
        self.assertFalse(shop.is_marketplace)
        body = json.dumps({
            "id": "C-7001", "currency": "EUR", "taxes_included": True, "total": 45.0,
            "customer": {"name": "Anna"}, "lines": [
                {"sku": "MUG-01", "quantity": 2, "unit_price": 12.5},
                {"sku": "TSHIRT-RED-M", "quantity": 1, "unit_price": 20}],
        }).encode()
        self.Inbox._receive(shop, body, "application/json")
        self.process()
        inbox = self.Inbox.search([("channel_id", "=", shop.id)])
        self.assertEqual(inbox.state, "done", inbox.error_message)
        order = inbox.sale_order_id
        self.validate(self.delivery(order))
        self.delivery(order).date_done = fields.Datetime.now() - timedelta(days=6)
        self.run_job()
        self.assertFalse(self.payments_of(order), "6 days after delivery: not yet")
        self.delivery(order).date_done = fields.Datetime.now() - timedelta(days=8)
        self.run_job()
        payment = self.payments_of(order)
        self.assertEqual(payment.amount, self.invoice_of(order).amount_total)
        self.assertEqual(payment.journal_id, journal)
        self.assertEqual(self.invoice_of(order).amount_residual, 0.0)

    # ------------------------------------------------------------------
    # One bad order holds up nothing
    # ------------------------------------------------------------------

    def test_charges_over_the_invoice_stop_that_order_only(self):
        first = self.delivered_order("70008-0001-1", days_ago=31)
        bad = self.delivered_order("70008-0002-1", days_ago=31)
        last = self.delivered_order("70008-0003-1", days_ago=31)
        self.sold(first, commission="6.75")
        self.sold(bad, commission="50.00")
        self.sold(last, commission="6.75")

        self.run_job()

        self.assertEqual(self.payments_of(first).amount, 38.25)
        self.assertEqual(self.payments_of(last).amount, 38.25)
        self.assertFalse(self.payments_of(bad))
        self.assertEqual(self.invoice_of(bad).payment_state, "not_paid")
        self.assertIn("not less than its invoice", bad.marketplace_payment_error)
        failed = self.env["sale.order"].search([("marketplace_payment_error", "!=", False)])
        self.assertEqual(failed, bad, "the filter finds it")
        said = bad.message_ids.filtered(lambda m: "Marketplace payment or charges failed" in (m.body or ""))
        self.assertEqual(len(said), 1)
        # Tried again at every run, said once.
        self.run_job()
        said = bad.message_ids.filtered(lambda m: "Marketplace payment or charges failed" in (m.body or ""))
        self.assertEqual(len(said), 1)

        # The marketplace gives 10.00 back: the order's charges are 40.00, it is paid.
        self.store_fee(self.ozon.add_operation("OperationMarketplaceCompensation", "10.00",
                                               posting_number=bad.external_order_number, name="Correction"))
        self.run_job()
        self.assertEqual(self.payments_of(bad).amount, 5.0)
        self.assertFalse(bad.marketplace_payment_error)

    def test_an_unexpected_error_on_one_order_holds_up_nothing(self):
        orders = [self.delivered_order(f"70009-000{n}-1", days_ago=31) for n in (1, 2, 3)]
        poisoned = orders[1]
        original = SaleChannelFee._payment_register_vals

        def poison(fee_model, channel, so, amount, charges):
            if so == poisoned:
                raise KeyError("broken")
            return original(fee_model, channel, so, amount, charges)

        with patch.object(SaleChannelFee, "_payment_register_vals", poison):
            self.run_job()
        self.assertEqual(self.payments_of(orders[0]).amount, 45.0)
        self.assertEqual(self.payments_of(orders[2]).amount, 45.0)
        self.assertFalse(self.payments_of(poisoned))
        self.assertEqual(poisoned.marketplace_payment_error, "KeyError: 'broken'")
        self.run_job()
        self.assertEqual(self.payments_of(poisoned).amount, 45.0)
        self.assertFalse(poisoned.marketplace_payment_error)

    def test_one_bad_unit_of_charges_holds_up_nothing(self):
        paid = self.delivered_order("70013-0001-1", days_ago=31)
        cancelled = self.delivered_order("70013-0002-1", days_ago=31)
        cancelled.sudo()._action_cancel()
        self.run_job()
        late = self.store_fee(self.ozon.charge_operation(paid.external_order_number, "1.20"))
        on_cancelled = self.store_fee(self.ozon.charge_operation(cancelled.external_order_number, "2.50"))
        storage = self.store_fee(self.ozon.service_operation("12.00"))
        original = SaleChannelFee._charges_ref

        def poison(fee_model, channel, so, day, order_ref=""):
            if so == cancelled or not so:
                raise KeyError("broken")
            return original(fee_model, channel, so, day, order_ref)

        with patch.object(SaleChannelFee, "_charges_ref", poison):
            self.run_job()
        self.assertEqual(late.state, "booked")
        self.assertEqual((on_cancelled | storage).mapped("state"), ["waiting", "waiting"])
        self.assertFalse((on_cancelled | storage).move_id)
        self.assertEqual(cancelled.marketplace_payment_error, "KeyError: 'broken'")
        self.assertIn("KeyError: 'broken'", self.channel.charges_last_error)
        # Tried again at the next run.
        self.run_job()
        self.assertEqual((on_cancelled | storage).mapped("state"), ["booked", "booked"])
        self.assertFalse(cancelled.marketplace_payment_error)
        self.assertFalse(self.channel.charges_last_error)

    def test_a_refunded_order_is_not_paid(self):
        order = self.delivered_order("70010-0001-1", days_ago=31)
        self.sold(order, commission="6.75")
        self.store_fee(self.ozon.return_operation(order.external_order_number, "45.00", commission_back="6.75"))
        self.run_job()
        self.assertFalse(self.payments_of(order))
        self.assertIn("refunded", order.marketplace_payment_error)

    # ------------------------------------------------------------------
    # Review 13 (B1, M0, M1, m0, M3, M4, M7, m3, m5, cancelled before a sales order)
    # ------------------------------------------------------------------

    def test_with_full_accounting_a_journal_without_outstanding_account_is_refused_then_set_up(self):
        """B1: with account_accountant, a payment method naming no outstanding account makes a
        payment without entry: refused with words, and Set Up Marketplace Accounting mends it."""
        order = self.delivered_order("70020-0001-1", days_ago=31)
        fees = self.sold(order, commission="6.75")
        self.marketplace_journal.inbound_payment_method_line_ids.payment_account_id = False
        move_class = type(self.env["account.move"])
        with patch.object(move_class, "_get_invoice_in_payment_state", lambda self: "in_payment"):
            self.run_job()
            self.assertFalse(self.payments_of(order))
            self.assertIn("outstanding account", order.marketplace_payment_error)
            self.assertEqual(fees.state, "waiting")
            self.channel.action_setup_marketplace_accounting()
            self.assertTrue(self.marketplace_journal.inbound_payment_method_line_ids[:1].payment_account_id)
            self.run_job()
        payment = self.payments_of(order)
        self.assertEqual(payment.amount, 38.25)
        self.assertTrue(payment.move_id)
        self.assertEqual(fees.move_id, payment.move_id)
        self.assertFalse(order.marketplace_payment_error)

    def test_orders_that_fail_do_not_hold_up_the_others(self):
        """M0: a refused order (lower id) comes after the good ones, and the job reports the
        true remainder."""
        bad = self.delivered_order("70021-0001-1", days_ago=31)
        self.store_fee(self.ozon.return_operation(bad.external_order_number, "45.00"))
        good = self.delivered_order("70021-0002-1", days_ago=31)
        self.assertLess(bad.id, good.id)
        self.Fee._cron_pay_and_book(pay_limit=1)
        self.assertTrue(bad.marketplace_payment_error)
        self.assertFalse(self.payments_of(good))
        self.Fee._cron_pay_and_book(pay_limit=1)
        self.assertEqual(self.payments_of(good).amount, 45.0, "the good order first, once the bad one failed")
        # Two due (a new one and the refused one), a batch of one: the runner is told one is left.
        later = self.delivered_order("70021-0003-1", days_ago=31)
        payments, left = self.Fee._pay_delivered_orders(limit=1)
        self.assertEqual(payments, self.payments_of(later))
        self.assertEqual(left, 1)

    def test_charges_in_a_foreign_currency_balance_to_the_cent(self):
        """M1: three charges of 0.01 at rate 2.0: the entry balances (each line rounded)."""
        gbp = self.env.ref("base.GBP")
        gbp.active = True
        company = self.env.company
        foreign = gbp if company.currency_id != gbp else self.env.ref("base.CHF")
        foreign.active = True
        self.env["res.currency.rate"].create({"currency_id": foreign.id, "rate": 2.0, "company_id": company.id,
                                             "name": fields.Date.today() - timedelta(days=400)})
        fees = self.Fee
        for _n in range(3):
            fee = self.store_fee(self.ozon.service_operation("0.01"))
            fee.currency_id = foreign
            fees |= fee
        self.run_job()
        self.assertEqual(set(fees.mapped("state")), {"booked"})
        move = fees.move_id
        self.assertEqual(len(move), 1)
        self.assertEqual(move.state, "posted")
        self.assertEqual(round(sum(move.line_ids.mapped("balance")), 2), 0.0)
        self.assertFalse(self.channel.charges_last_error)

    def test_a_journal_in_another_currency_is_refused_in_words(self):
        """m0: no IndexError: the order says which currencies differ."""
        order = self.delivered_order("70022-0001-1", days_ago=31)
        gbp = self.env.ref("base.GBP")
        gbp.active = True
        self.marketplace_journal.currency_id = gbp if self.invoice_of(order).currency_id != gbp \
            else self.env.ref("base.USD")
        self.run_job()
        self.assertFalse(self.payments_of(order))
        self.assertIn("marketplace journal", order.marketplace_payment_error)
        self.assertNotIn("IndexError", order.marketplace_payment_error)

    def test_charges_of_an_order_with_a_full_credit_note_are_booked(self):
        """M3: the order's invoice is reversed (a return credited): nothing will deduct its
        charges, they are booked and the stale error goes."""
        order = self.delivered_order("70023-0001-1", days_ago=31)
        fees = self.sold(order, commission="6.75")
        self.store_fee(self.ozon.return_operation(order.external_order_number, "45.00"))
        self.run_job()
        self.assertIn("refunded", order.marketplace_payment_error)
        invoice = self.invoice_of(order)
        reversal = self.env["account.move.reversal"].with_context(
            active_model="account.move", active_ids=invoice.ids).create({"journal_id": invoice.journal_id.id})
        reversal.refund_moves()
        refund = order.invoice_ids.filtered(lambda m: m.move_type == "out_refund")
        if refund.state == "draft":
            refund.action_post()
        self.assertEqual(invoice.payment_state, "reversed")
        self.run_job()
        self.assertFalse(self.payments_of(order))
        self.assertEqual(fees.state, "booked")
        self.assertFalse(order.marketplace_payment_error)

    def test_a_stale_error_goes_once_a_credit_note_settles_the_order(self):
        """M3: a returned order without charges, refused, then credited in full: its error goes."""
        order = self.delivered_order("70029-0001-1", days_ago=31)
        self.store_fee(self.ozon.return_operation(order.external_order_number, "45.00"))
        self.run_job()
        self.assertIn("refunded", order.marketplace_payment_error)
        invoice = self.invoice_of(order)
        self.env["account.move.reversal"].with_context(
            active_model="account.move", active_ids=invoice.ids).create(
            {"journal_id": invoice.journal_id.id}).modify_moves()
        self.assertEqual(invoice.payment_state, "reversed")
        self.run_job()
        self.assertFalse(self.payments_of(order))
        self.assertFalse(order.marketplace_payment_error)

    def test_charges_of_an_order_partly_paid_by_a_person_are_booked(self):
        """M3: a person registered part of the payment: nothing will deduct the charges."""
        order = self.delivered_order("70024-0001-1", days_ago=31)
        fees = self.sold(order, commission="6.75")
        invoice = self.invoice_of(order)
        self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=invoice.ids).create({"amount": 20.0})._create_payments()
        self.assertEqual(invoice.payment_state, "partial")
        self.run_job()
        self.assertEqual(fees.state, "booked")
        self.assertEqual(self.balances(fees.move_id)[self.commission_account], 6.75)

    def test_a_cancelled_payment_gives_its_charges_back_to_the_next_one(self):
        """M4: the job's payment is cancelled: the next payment deducts the same charges."""
        order = self.delivered_order("70025-0001-1", days_ago=31)
        fees = self.sold(order, commission="6.75")
        self.run_job()
        first = self.payments_of(order)
        self.assertEqual(first.amount, 38.25)
        first.action_draft()
        first.action_cancel()
        self.run_job()
        second = self.payments_of(order).filtered(lambda p: p.state != "canceled")
        self.assertEqual(len(second), 1)
        self.assertEqual(second.amount, 38.25, "the charges are deducted again")
        self.assertEqual(fees.state, "in_payment")
        self.assertEqual(fees.move_id, second.move_id)

    def test_charges_whose_entry_was_deleted_are_booked_again(self):
        """M4: a booked fee whose entry is reset and deleted waits again and gets a new entry."""
        fee = self.store_fee(self.ozon.service_operation("4.00"))
        self.run_job()
        move = fee.move_id
        self.assertEqual(fee.state, "booked")
        move.button_draft()
        move.unlink()
        self.run_job()
        self.assertEqual(fee.state, "booked")
        self.assertTrue(fee.move_id)
        self.assertEqual(fee.move_id.state, "posted")

    def test_an_order_returned_to_the_warehouse_is_not_paid(self):
        """M7: the goods came back (return validated) before the marketplace said so: no
        payment, and the order says to make the credit note."""
        order = self.delivered_order("70026-0001-1", days_ago=31)
        picking = self.delivery(order)
        wizard = self.env["stock.return.picking"].with_context(
            active_id=picking.id, active_ids=picking.ids, active_model="stock.picking").create({})
        for line in wizard.product_return_moves:
            line.quantity = line.move_id.quantity
        returned = wizard._create_return()
        self.validate(returned)
        self.assertLess(order.order_line.filtered("product_id")[:1].qty_delivered,
                        order.order_line.filtered("product_id")[:1].qty_invoiced)
        self.run_job()
        self.assertFalse(self.payments_of(order))
        self.assertIn("credit note", order.marketplace_payment_error)

    def test_a_failing_day_of_charges_stays_visible_when_another_day_books(self):
        """m3: day D fails, day D+1 books: the channel keeps day D's error."""
        now = fields.Datetime.now()
        bad = self.store_fee(self.ozon.service_operation("3.00", at=now - timedelta(days=3)))
        good = self.store_fee(self.ozon.service_operation("2.00", at=now - timedelta(days=2)))
        original = SaleChannelFee._charges_ref

        def poison(fee_model, channel, so, day, order_ref=""):
            if day == bad.date.date():
                raise KeyError("broken")
            return original(fee_model, channel, so, day, order_ref)

        with patch.object(SaleChannelFee, "_charges_ref", poison):
            self.run_job()
        self.assertEqual(good.state, "booked")
        self.assertEqual(bad.state, "waiting")
        self.assertIn("KeyError", self.channel.charges_last_error)
        self.assertIn(fields.Date.to_string(bad.date.date()), self.channel.charges_last_error)
        self.run_job()
        self.assertEqual(bad.state, "booked")
        self.assertFalse(self.channel.charges_last_error)

    def test_charges_of_an_order_cancelled_before_a_sales_order_are_booked(self):
        """The store cancelled the order before a sales order was made: its fees are
        'waiting' with an order ref and no sales order; one entry per order ref."""
        fees = self.store_fee(self.ozon.charge_operation("70027-0001-1", "0.95",
                                                         operation_type="MarketplaceRedistributionOfAcquiringOperation"))
        fees |= self.store_fee(self.ozon.charge_operation("70027-0001-1", "0.50"))
        other = self.store_fee(self.ozon.charge_operation("70027-0002-1", "1.00"))
        (fees | other).write({"state": "waiting"})
        self.run_job()
        self.assertEqual(set((fees | other).mapped("state")), {"booked"})
        self.assertEqual(len(fees.move_id), 1)
        self.assertNotEqual(fees.move_id, other.move_id)
        self.assertEqual(self.balances(fees.move_id)[self.commission_account], 1.45)
        self.assertIn("70027-0001-1", fees.move_id.ref)
        # An order not in Odoo at all stays for a person.
        unmatched = self.store_fee(self.ozon.charge_operation("70027-0003-1", "2.00"))
        self.assertEqual(unmatched.state, "unmatched")
        self.run_job()
        self.assertEqual(unmatched.state, "unmatched")

    def test_the_job_reconciles_the_payout_periods_it_touched(self):
        """The job calls the payouts' _reconcile_touched; its failure undoes nothing."""
        order = self.delivered_order("70028-0001-1", days_ago=31)
        Payout = type(self.env["sale.channel.payout"])
        calls = []

        def touched(payout_model, channels=None):
            calls.append(channels)
            raise KeyError("broken")

        with patch.object(Payout, "_reconcile_touched", touched):
            self.run_job()
        self.assertEqual(len(calls), 1)
        self.assertEqual(self.payments_of(order).amount, 45.0)

    def test_commission_account_and_journal_types_are_enforced(self):
        """m5: an income account or a sale journal is refused, over the ORM as over RPC."""
        income = self.env["account.account"].create({
            "name": "Not an expense", "code": "700900", "account_type": "income",
            "company_ids": [Command.set(self.env.company.ids)]})
        with self.assertRaises(ValidationError):
            self.channel.commission_account_id = income
        sale_journal = self.env["account.journal"].search(
            [("type", "=", "sale"), ("company_id", "=", self.env.company.id)], limit=1)
        with self.assertRaises(ValidationError):
            self.channel.marketplace_journal_id = sale_journal

    # ------------------------------------------------------------------
    # Set Up Marketplace Accounting and the checks
    # ------------------------------------------------------------------

    def test_set_up_marketplace_accounting_makes_what_is_missing_once(self):
        channel = self.env["sale.channel"].create({"name": "Ozon Two", "platform": "ozon"})
        channel.action_setup_marketplace_accounting()
        journal, account = channel.marketplace_journal_id, channel.commission_account_id
        self.assertEqual(journal.type, "bank")
        self.assertIn("Ozon", journal.name)
        self.assertIn("Ozon Two", journal.name)
        self.assertEqual(account.name, "Ozon Commissions")
        self.assertEqual(account.account_type, "expense")
        self.assertTrue(journal.inbound_payment_method_line_ids.payment_account_id)
        channel.action_setup_marketplace_accounting()
        self.assertEqual(channel.marketplace_journal_id, journal)
        self.assertEqual(self.env["account.account"].search_count([("name", "=", "Ozon Commissions")]), 1)
        # A second channel of the platform gets its own journal, with a free code.
        other = self.env["sale.channel"].create({"name": "Ozon Three", "platform": "ozon"})
        other.action_setup_marketplace_accounting()
        self.assertNotEqual(other.marketplace_journal_id.code, journal.code)
        self.assertNotEqual(other.commission_account_id.code, account.code)

    def test_pay_after_delivery_needs_journal_and_account_of_the_company(self):
        with self.assertRaises(ValidationError):
            self.channel.commission_account_id = False
        foreign = self.env["account.journal"].create({
            "name": "Other's", "code": "OTH", "type": "bank", "company_id": self.company_two.id})
        with self.assertRaises(ValidationError):
            self.channel.marketplace_journal_id = foreign

    # ------------------------------------------------------------------
    # Security
    # ------------------------------------------------------------------

    def test_user_cannot_book_charges_or_set_up_accounting_over_rpc(self):
        fee = self.store_fee(self.ozon.service_operation("5.00"))
        self.authenticate(USER, USER)
        for model, method, ids in (("sale.channel.fee", "action_book_as_charges", fee.ids),
                                   ("sale.channel", "action_setup_marketplace_accounting", self.channel.ids)):
            with self.subTest(method=method), self.assertRaises(JsonRpcException) as caught:
                self.make_jsonrpc_request("/web/dataset/call_kw", {
                    "model": model, "method": method, "args": [ids], "kwargs": {}})
            self.assertEqual(caught.exception.args[0], "odoo.exceptions.AccessError")
        self.assertEqual(fee.state, "waiting")
        self.assertFalse(fee.move_id)

    def test_other_company_sees_nothing_and_cannot_act(self):
        order = self.delivered_order("70011-0001-1", days_ago=31)
        fee = self.sold(order, commission="6.75")
        self.run_job()
        two = self.manager_two
        self.assertFalse(self.Fee.with_user(two).search([("id", "=", fee.id)]))
        self.assertFalse(self.env["sale.order"].with_user(two).search([("marketplace_payment_error", "=", False),
                                                                       ("id", "=", order.id)]))
        with self.assertRaises(AccessError):
            fee.with_user(two).action_book_as_charges()
        with self.assertRaises(AccessError):
            self.channel.with_user(two).action_setup_marketplace_accounting()


@tagged("post_install", "-at_install")
class TestMarketplacePaymentRace(BaseCase):
    """Two runners of the job at the same moment, on committed data (each its own cursor):
    one payment. The test transaction cannot see what they commit: this test commits its own
    order and removes everything it made afterwards."""

    def setUp(self):
        super().setUp()
        self.registry = Registry(get_db_name())
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            company = env.company
            journal = env["account.journal"].create({
                "name": "Race marketplace", "code": "RACEM", "type": "cash", "company_id": company.id})
            account = env["account.account"].create({
                "name": "Race commissions", "code": "623977", "account_type": "expense",
                "company_ids": [Command.set(company.ids)]})
            channel = env["sale.channel"].create({
                "name": "Race payments", "api_key": "race-pay-7c41", "auto_process": False,
                "document_type": "invoice", "pay_after_delivery": True, "pay_after_days": 30,
                "marketplace_journal_id": journal.id, "commission_account_id": account.id,
            })
            partner = env["res.partner"].create({"name": "Race buyer"})
            so = env["sale.order"].create({
                "partner_id": partner.id, "channel_id": channel.id,
                "order_line": [Command.create({
                    "product_id": env.ref("sale_inbox.product_shipping").id, "price_unit": 45.0,
                    "tax_id": [Command.clear()]})],
            })
            so.action_confirm()
            invoice = so._create_invoices()
            invoice.action_post()
            inbox = env["sale.inbox.order"].create({
                "name": "RACE-1", "channel_id": channel.id, "company_id": company.id, "external_id": "RACE-1",
                "received_at": fields.Datetime.now(), "state": "done", "sale_order_id": so.id,
                "invoice_id": invoice.id})
            so.inbox_order_id = inbox
            warehouse = env["stock.warehouse"].search([("company_id", "=", company.id)], limit=1)
            picking = env["stock.picking"].create({
                "picking_type_id": warehouse.out_type_id.id, "location_id": warehouse.lot_stock_id.id,
                "location_dest_id": env.ref("stock.stock_location_customers").id, "sale_id": so.id,
                "partner_id": partner.id})
            env.flush_all()
            # Delivered 31 days ago (no goods move: only the delivery's state and date count).
            cr.execute("UPDATE stock_picking SET state = 'done', date_done = %s WHERE id = %s",
                       (fields.Datetime.now() - timedelta(days=31), picking.id))
            self.made = {"journal": journal.id, "account": account.id, "channel": channel.id,
                         "partner": partner.id, "so": so.id, "invoice": invoice.id, "inbox": inbox.id,
                         "picking": picking.id, "group": so.procurement_group_id.id or picking.group_id.id}
        self.addCleanup(self._cleanup)

    def _cleanup(self):
        made = self.made
        with self.registry.cursor() as cr:
            cr.execute("UPDATE sale_order SET inbox_order_id = NULL WHERE id = %s", (made["so"],))
            cr.execute("SELECT id, move_id FROM account_payment WHERE journal_id = %s", (made["journal"],))
            rows = cr.fetchall()
            moves = [made["invoice"]] + [move for _pay, move in rows if move]
            cr.execute("DELETE FROM sale_inbox_order WHERE id = %s", (made["inbox"],))
            cr.execute("SELECT id, full_reconcile_id FROM account_move_line WHERE move_id = ANY(%s)", (moves,))
            lines = cr.fetchall()
            line_ids = [line for line, _full in lines]
            cr.execute("DELETE FROM account_partial_reconcile WHERE debit_move_id = ANY(%s) "
                       "OR credit_move_id = ANY(%s)", (line_ids, line_ids))
            cr.execute("DELETE FROM account_payment WHERE journal_id = %s", (made["journal"],))
            # The payment wizard's records (transient) too.
            cr.execute("DELETE FROM account_payment_register WHERE journal_id = %s OR partner_id = %s",
                       (made["journal"], made["partner"]))
            cr.execute("DELETE FROM account_move WHERE id = ANY(%s)", (moves,))
            cr.execute("DELETE FROM account_full_reconcile WHERE id = ANY(%s)",
                       ([full for _line, full in lines if full],))
            cr.execute("DELETE FROM stock_picking WHERE id = %s", (made["picking"],))
            cr.execute("DELETE FROM sale_order WHERE id = %s", (made["so"],))
            if made["group"]:
                cr.execute("DELETE FROM procurement_group WHERE id = %s", (made["group"],))
            cr.execute("DELETE FROM sale_channel WHERE id = %s", (made["channel"],))
            cr.execute("SELECT default_account_id FROM account_journal WHERE id = %s", (made["journal"],))
            journal_account = cr.fetchone()[0]
            cr.execute("DELETE FROM account_journal WHERE id = %s", (made["journal"],))
            cr.execute("DELETE FROM account_account WHERE id = ANY(%s)", ([made["account"], journal_account],))
            cr.execute("DELETE FROM res_partner WHERE id = %s", (made["partner"],))

    def _payments(self):
        with self.registry.cursor() as cr:
            cr.execute("SELECT id, amount FROM account_payment WHERE sale_inbox_order_id = %s AND state != 'canceled'",
                       (self.made["inbox"],))
            return cr.fetchall()

    def test_a_runner_skips_the_order_another_holds(self):
        with self.registry.cursor() as cr_a, self.registry.cursor() as cr_b:
            env_a = api.Environment(cr_a, SUPERUSER_ID, {})
            env_b = api.Environment(cr_b, SUPERUSER_ID, {})
            # Runner A pays and holds the order's lock (under tests a job does not commit).
            paid_a, _left = env_a["sale.channel.fee"]._pay_delivered_orders()
            self.assertEqual(paid_a.sale_inbox_order_id.ids, [self.made["inbox"]])
            # Runner B sees the order due but locked: it leaves it.
            paid_b, _left = env_b["sale.channel.fee"]._pay_delivered_orders()
            self.assertFalse(paid_b.filtered(lambda p: p.sale_inbox_order_id.id == self.made["inbox"]))
            cr_a.commit()
            cr_b.rollback()
            # And after A's commit, B finds nothing to pay.
            paid_b, _left = env_b["sale.channel.fee"]._pay_delivered_orders()
            self.assertFalse(paid_b.filtered(lambda p: p.sale_inbox_order_id.id == self.made["inbox"]))
            cr_b.rollback()
        self.assertEqual([amount for _id, amount in self._payments()], [45.0])

    def test_two_runners_at_the_same_moment_make_one_payment(self):
        barrier = threading.Barrier(2, timeout=30)
        failures = []

        def run():
            try:
                with self.registry.cursor() as cr:
                    env = api.Environment(cr, SUPERUSER_ID, {})
                    cr.execute("SELECT 1")
                    barrier.wait()
                    env["sale.channel.fee"]._pay_delivered_orders()
            except Exception as exc:  # noqa: BLE001
                failures.append(exc)

        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        self.assertFalse(failures, failures)
        self.assertEqual([amount for _id, amount in self._payments()], [45.0])
