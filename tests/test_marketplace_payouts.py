"""Payout reconciliation: the fake Ozon's settlement periods (over real HTTP) read by the job
and compared with what Odoo booked, the difference explained line by line.

The fees are made here as the fee import and the payment job would leave them (from the
fake's operations, read as the platform reads them): an order's charges deducted from its
payment (``in_payment``, the payment's entry), charges of no order booked as entries of their
own (``booked``), charges not paid yet ``waiting``."""
import json
import threading
from datetime import datetime, timedelta
from decimal import Decimal

from odoo import SUPERUSER_ID, api, fields
from odoo.exceptions import AccessError
from odoo.modules.registry import Registry
from odoo.tests import BaseCase, HttpCase, new_test_user, tagged
from odoo.tests.common import JsonRpcException, get_db_name

from odoo.addons.sale_inbox.platforms.ozon import SCHEME_KEY
from odoo.addons.sale_inbox.platforms.ozon.fake import FakeOzon
from odoo.addons.sale_inbox.platforms.ozon.fake_finance import CASH_FLOW, period_of
from odoo.addons.sale_inbox.platforms.ozon.finance import read_operation
from odoo.addons.sale_inbox.platforms.testing import FakeStore

from .common import ALLOW_PRIVATE_PARAM
from .ozon_money_common import OzonMoneyFixtures

USER = "payout_inbox_user"
MANAGER_TWO = "payout_manager_two"


def previous_month(day):
    """The first day of the month before ``day``'s."""
    return (day.replace(day=1) - timedelta(days=1)).replace(day=1)


@tagged("post_install", "-at_install")
class TestMarketplacePayouts(OzonMoneyFixtures, HttpCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_money()
        env = cls.env
        cls.Payout = env["sale.channel.payout"]
        cls.Fee = env["sale.channel.fee"]
        cls.user = new_test_user(env, USER, groups="sale_inbox.group_sale_inbox_user")
        cls.company_two = env["res.company"].create({"name": "Payout Company Two"})
        cls.manager_two = new_test_user(
            env, MANAGER_TWO, groups="sale_inbox.group_sale_inbox_manager",
            company_id=cls.company_two.id, company_ids=[(6, 0, cls.company_two.ids)])

    def setUp(self):
        super().setUp()
        self.start_ozon()
        # Ozon's statements in the channel's currency (the fixture's orders are in EUR).
        self.ozon.currency = "EUR"
        first = previous_month(fields.Date.today())
        #: A day in the first and in the second settlement period of the previous month.
        self.day1 = datetime.combine(first.replace(day=5), datetime.min.time()).replace(hour=10)
        self.day2 = datetime.combine(first.replace(day=20), datetime.min.time()).replace(hour=10)
        self.period1 = str(period_of(self.day1.date())[0])
        self.period2 = str(period_of(self.day2.date())[0])

    # ------------------------------------------------------------------
    # What the fee import and the payment job would leave
    # ------------------------------------------------------------------

    def import_fees(self):
        """The fake's operations not stored yet, as ``sale.channel.fee`` rows in the states
        the fee import gives them (``waiting``, ``nothing``, ``unmatched``)."""
        known = set(self.Fee.search([("channel_id", "=", self.channel.id)]).mapped("ref"))
        values = []
        for data in self.ozon.operations:
            operation = read_operation(self.ozon._public_operation(data))
            if operation.ref in known:
                continue
            order = self.env["sale.order"]
            if operation.order_ref:
                order = self.env["sale.order"].search(
                    [("inbox_order_id.external_id", "=", operation.order_ref)], limit=1)
            charge = operation.charges
            state = ("nothing" if not charge else "unmatched" if operation.order_ref and not order
                     else "waiting")
            values.append({
                "channel_id": self.channel.id, "currency_id": self.eur.id, "ref": operation.ref,
                "date": operation.date, "operation_type": operation.operation_type, "name": operation.name,
                "kind": operation.kind, "order_ref": operation.order_ref, "sale_order_id": order.id,
                "amount": float(operation.amount), "sale_amount": float(operation.sale_amount),
                "commission_amount": float(operation.commission_amount),
                "delivery_amount": float(operation.delivery_amount),
                "services_amount": float(operation.services_amount), "charge_amount": float(charge),
                "state": state})
        return self.Fee.create(values)

    def pay(self, order):
        """The payment after delivery: the invoice paid less the order's waiting charges,
        written off to the commission account; the charges ``in_payment``."""
        fees = self.Fee.search([("sale_order_id", "=", order.id), ("state", "=", "waiting")])
        invoice = order.invoice_ids.filtered(lambda m: m.state == "posted")
        charges = sum(fees.mapped("charge_amount"))
        wizard = self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=invoice.ids).create({
                "journal_id": self.marketplace_journal.id, "amount": invoice.amount_residual + charges,
                "payment_difference_handling": "reconcile", "writeoff_account_id": self.commission_account.id,
                "writeoff_label": "Ozon charges"})
        payment = wizard._create_payments()
        self.assertIn(invoice.payment_state, ("paid", "in_payment"))
        fees.write({"state": "in_payment", "move_id": payment.move_id.id})
        return payment

    def book(self, fees):
        """Charges booked as an expense entry of their own (late charges, charges of no order)."""
        amount = -sum(fees.mapped("charge_amount"))
        move = self.env["account.move"].create({
            "move_type": "entry", "journal_id": self.marketplace_journal.id, "line_ids": [
                (0, 0, {"name": "Ozon charges", "account_id": self.commission_account.id, "debit": amount}),
                (0, 0, {"name": "Ozon charges", "account_id": self.marketplace_journal.default_account_id.id,
                        "credit": amount}),
            ]})
        move.action_post()
        fees.write({"state": "booked", "move_id": move.id})

    def consistent_data(self):
        """Two periods: an order sold in each, invoiced and paid net of its charges; a late
        logistics charge of the first order and a storage charge, both booked."""
        self.order_a = self.delivered_order("70001-0001-1")
        self.order_b = self.delivered_order("70002-0001-1")
        self.ozon.sale_operation("70001-0001-1", "45.00", "6.75", logistics="2.00", at=self.day1)
        self.ozon.service_operation("3.00", at=self.day1 + timedelta(days=2))
        self.ozon.sale_operation("70002-0001-1", "45.00", "6.75", logistics="2.00", at=self.day2)
        self.import_fees()
        self.pay(self.order_a)
        self.pay(self.order_b)
        self.ozon.charge_operation("70001-0001-1", "1.50", at=self.day2 + timedelta(days=1))
        self.book(self.import_fees() | self.Fee.search([("order_ref", "=", ""), ("state", "=", "waiting")]))

    def read_periods(self):
        self.Payout._cron_read_payouts()
        return {p.ref: p for p in self.Payout.search([("channel_id", "=", self.channel.id)])}

    def assertAddsUp(self, period):
        """Statement total − booked in Odoo = explained + unexplained, and the lines add up."""
        self.assertAlmostEqual(period.total_amount - period.booked_amount,
                               period.explained_difference + period.unexplained_difference, places=2)
        lines = period.line_ids
        self.assertAlmostEqual(sum(lines.mapped("odoo_amount")), period.booked_amount, places=2)
        self.assertAlmostEqual(sum(lines.mapped("store_amount")), period.total_amount, places=2)
        self.assertAlmostEqual(sum(lines.filtered(lambda line: line.kind == "unexplained").mapped("difference")),
                               period.unexplained_difference, places=2)

    def line_of(self, period, order):
        line = period.line_ids.filtered(lambda line: line.sale_order_id == order)
        self.assertEqual(len(line), 1, f"one line for {order.name}")
        return line

    # ------------------------------------------------------------------
    # Reconciliation
    # ------------------------------------------------------------------

    def test_a_consistent_data_set_matches_in_both_periods(self):
        self.consistent_data()
        periods = self.read_periods()
        self.assertIn(self.period1, periods)
        self.assertIn(self.period2, periods)
        first, second = periods[self.period1], periods[self.period2]
        # Period 1: order A (45.00 − 6.75 − 2.00) and the storage (−3.00).
        self.assertAlmostEqual(first.orders_amount, 45.00, places=2)
        self.assertAlmostEqual(first.commission_amount, -6.75, places=2)
        self.assertAlmostEqual(first.total_amount, 33.25, places=2)
        self.assertAlmostEqual(first.booked_amount, 33.25, places=2)
        # Period 2: order B (36.25) and order A's late logistics (−1.50).
        self.assertAlmostEqual(second.total_amount, 34.75, places=2)
        self.assertAlmostEqual(second.booked_amount, 34.75, places=2)
        for period in (first, second):
            self.assertEqual(period.state, "matched", period.line_ids.mapped("explanation"))
            self.assertEqual(period.unexplained_difference, 0)
            self.assertEqual(period.explained_difference, 0)
            self.assertEqual(set(period.line_ids.mapped("difference")), {0.0})
            self.assertAddsUp(period)
        self.assertEqual(self.line_of(first, self.order_a).store_amount, 36.25)
        self.assertEqual(self.line_of(second, self.order_a).store_amount, -1.50)
        storage = first.line_ids.filtered(lambda line: line.kind == "charge")
        self.assertEqual((storage.operation_type, storage.store_amount, storage.odoo_amount),
                         ("OperationMarketplaceServiceStorage", -3.00, -3.00))
        # Every fee of the period is linked to it.
        self.assertEqual(len(first.fee_ids), 2)
        self.assertEqual(len(second.fee_ids), 2)
        self.assertEqual(self.channel.payouts_read_until, fields.Date.today())
        self.assertFalse(self.channel.payouts_last_error)

    def test_an_order_credited_less_than_its_invoice_is_named(self):
        self.consistent_data()
        short = self.delivered_order("70003-0001-1")
        self.ozon.sale_operation("70003-0001-1", "40.00", "6.00", at=self.day1 + timedelta(days=1))
        self.import_fees()
        self.pay(short)
        period = self.read_periods()[self.period1]
        line = self.line_of(period, short)
        self.assertIn(short.name, line.name)
        self.assertAlmostEqual(line.store_amount, 34.00, places=2)
        self.assertAlmostEqual(line.odoo_amount, 39.00, places=2)
        self.assertAlmostEqual(line.difference, -5.00, places=2)
        self.assertIn("invoice (45.00 EUR) differs from the marketplace's price (40.00 EUR)", line.explanation)
        self.assertEqual(period.state, "explained")
        self.assertAlmostEqual(period.explained_difference, -5.00, places=2)
        self.assertEqual(period.unexplained_difference, 0)
        self.assertAddsUp(period)
        # The other orders still match.
        self.assertEqual(self.line_of(period, self.order_a).difference, 0)

    def test_a_statement_difference_is_an_unexplained_line_of_its_category(self):
        self.consistent_data()
        self.ozon.statement_adjust[int(self.period2)] = {"commission_amount": Decimal("-4.20")}
        periods = self.read_periods()
        period = periods[self.period2]
        unexplained = period.line_ids.filtered(lambda line: line.kind == "unexplained")
        self.assertEqual(len(unexplained), 1)
        self.assertEqual(unexplained.category, "commission")
        self.assertAlmostEqual(unexplained.difference, -4.20, places=2)
        self.assertIn("-4.20 EUR that no operation shows", unexplained.explanation)
        self.assertAlmostEqual(period.unexplained_difference, -4.20, places=2)
        self.assertEqual(period.explained_difference, 0)
        self.assertEqual(period.state, "unexplained")
        self.assertAddsUp(period)
        self.assertEqual(periods[self.period1].state, "matched")

    def test_charges_waiting_for_the_payment_are_explained_as_waiting(self):
        self.consistent_data()
        unpaid = self.delivered_order("70004-0001-1", days_ago=3)
        self.ozon.sale_operation("70004-0001-1", "45.00", "6.75", logistics="2.00", at=self.day2)
        self.ozon.service_operation("1.00", "OperationPromotion", at=self.day2, name="Promotion")
        self.import_fees()
        period = self.read_periods()[self.period2]
        promotion = period.line_ids.filtered(lambda line: line.operation_type == "OperationPromotion")
        self.assertEqual((promotion.kind, promotion.store_amount, promotion.odoo_amount, promotion.difference),
                         ("charge", -1.00, 0.0, -1.00))
        self.assertIn("Waiting to be booked as a charge: -1.00 EUR", promotion.explanation)
        self.assertAlmostEqual(period.explained_difference, -9.75, places=2)
        line = self.line_of(period, unpaid)
        self.assertAlmostEqual(line.store_amount, 36.25, places=2)
        self.assertAlmostEqual(line.odoo_amount, 45.00, places=2)
        self.assertAlmostEqual(line.difference, -8.75, places=2)
        self.assertIn("waiting for the order's payment after delivery: -8.75 EUR", line.explanation)
        self.assertEqual(period.state, "explained")
        self.assertAddsUp(period)
        # Paid and booked since: Reconcile Again matches them.
        self.pay(unpaid)
        self.book(self.Fee.search([("operation_type", "=", "OperationPromotion")]))
        period.action_reconcile()
        self.assertEqual(self.line_of(period, unpaid).difference, 0)
        self.assertEqual(period.state, "matched")

    def test_an_order_not_in_odoo_and_a_return_not_refunded_are_explained(self):
        self.consistent_data()
        self.ozon.sale_operation("79999-0001-1", "30.00", "4.00", at=self.day1)
        self.ozon.return_operation("70001-0001-1", "45.00", commission_back="6.75", at=self.day2)
        self.import_fees()
        periods = self.read_periods()
        stranger = periods[self.period1].line_ids.filtered(lambda line: line.order_ref == "79999-0001-1")
        self.assertFalse(stranger.sale_order_id)
        self.assertAlmostEqual(stranger.difference, 26.00, places=2)
        # Not in the inbox at all: say so, and what to do.
        self.assertIn("an order the Sales Inbox never received", stranger.explanation)
        self.assertIn("Import Orders", stranger.explanation)
        returned = self.line_of(periods[self.period2], self.order_a)
        self.assertIn("Return not booked in Odoo (the refund comes later): -45.00 EUR", returned.explanation)
        for period in periods.values():
            self.assertAddsUp(period)
            self.assertEqual(period.unexplained_difference, 0)

    def test_reading_the_same_periods_again_duplicates_nothing(self):
        self.consistent_data()
        first = self.read_periods()
        lines = {ref: sorted(p.line_ids.mapped(lambda line: (line.name, line.difference))) for ref, p in first.items()}
        requests = len(self.store.calls("POST", CASH_FLOW))
        again = self.read_periods()
        self.assertEqual({ref: p.id for ref, p in again.items()}, {ref: p.id for ref, p in first.items()})
        self.assertEqual({ref: sorted(p.line_ids.mapped(lambda line: (line.name, line.difference)))
                          for ref, p in again.items()}, lines)
        # The second read starts at the third last period read: the last may have been open,
        # and closed ones still change (late operations, the amount paid out).
        asked = self.store.calls("POST", CASH_FLOW)[requests].json()["date"]["from"]
        self.assertGreater(len(first), 3)
        self.assertEqual(asked[:10], str(sorted(p.date_from for p in first.values())[-3]))
        self.assertEqual(self.Payout.search_count([("channel_id", "=", self.channel.id)]), len(first))

    def test_reconciling_takes_as_many_queries_for_many_orders_as_for_one(self):
        self.consistent_data()
        period = self.read_periods()[self.period1]

        def queries():
            self.env.flush_all()
            self.env.invalidate_all()
            before = self.env.cr.sql_log_count
            period._reconcile()
            self.env.flush_all()
            return self.env.cr.sql_log_count - before

        def sold(*numbers):
            for number in numbers:
                order = self.delivered_order(number)
                self.ozon.sale_operation(number, "45.00", "6.75", at=self.day1)
                self.import_fees()
                self.pay(order)

        # Each time an order more: the period's totals change (and are written).
        sold("70011-0001-1")
        few = queries()
        sold("70012-0001-1", "70013-0001-1", "70014-0001-1")
        self.assertEqual(queries(), few)
        self.assertEqual(len(period.line_ids.filtered(lambda line: line.kind == "order")), 5)
        # The statement (read before these sales were added to the closed period) does not
        # count them: the order lines match, the statement's categories do not.
        self.assertEqual(period.explained_difference, 0)
        self.assertAlmostEqual(period.unexplained_difference, -4 * (45.00 - 6.75), places=2)
        self.assertAddsUp(period)

    def test_a_read_starts_at_the_fees_start_then_at_the_last_period(self):
        self.channel.fees_from = self.day2.date()
        self.read_periods()
        asked = self.store.calls("POST", CASH_FLOW)[0].json()["date"]["from"]
        self.assertEqual(asked[:10], str(self.day2.date()))
        self.assertEqual(min(self.channel.payout_ids.mapped("date_from")), period_of(self.day2.date())[1])

    def backdate(self):
        """As if the periods were reconciled yesterday, and their fees written before that."""
        self.env.flush_all()
        self.env.cr.execute("UPDATE sale_channel_fee SET write_date = write_date - interval '2 days'")
        self.env.cr.execute("UPDATE account_move SET write_date = write_date - interval '2 days'")
        self.env.cr.execute("UPDATE sale_channel_payout SET reconciled_at = reconciled_at - interval '1 day'")
        self.env.invalidate_all()

    def test_periods_whose_fees_changed_are_reconciled_again(self):
        self.consistent_data()
        unpaid = self.delivered_order("70004-0001-1", days_ago=3)
        self.ozon.sale_operation("70004-0001-1", "45.00", "6.75", logistics="2.00", at=self.day2)
        self.import_fees()
        periods = self.read_periods()
        first, second = periods[self.period1], periods[self.period2]
        self.assertEqual(second.state, "explained")
        self.assertEqual(first.state, "matched")
        self.backdate()
        # Nothing changed since: nothing is reconciled again.
        self.assertFalse(self.Payout._reconcile_touched(self.channel))
        # The payment after delivery deducts the charges; a late storage charge of the first
        # period arrives (not linked to it yet).
        self.pay(unpaid)
        self.ozon.service_operation("2.00", at=self.day1 + timedelta(days=1))
        self.import_fees()
        touched = self.Payout._reconcile_touched(self.channel)
        self.assertEqual(touched, first | second)
        self.assertEqual(second.state, "matched", second.line_ids.mapped("explanation"))
        self.assertEqual(self.line_of(second, unpaid).difference, 0)
        storage = first.line_ids.filtered(lambda line: line.kind == "charge")
        self.assertAlmostEqual(sum(storage.mapped("store_amount")), -5.00, places=2)
        self.assertIn("Waiting to be booked as a charge: -2.00 EUR", " ".join(storage.mapped("explanation")))
        # Another channel's periods are not touched by this channel's call.
        self.assertFalse(self.Payout._reconcile_touched(self.env["sale.channel"].browse()))

    def test_the_daily_read_reconciles_periods_it_does_not_read_again(self):
        self.consistent_data()
        old = datetime.combine(previous_month(self.day1.date()).replace(day=3), datetime.min.time())
        self.channel.fees_from = old.date()
        periods = self.read_periods()
        oldest = periods[str(period_of(old.date())[0])]
        self.assertEqual(oldest.total_amount, 0)
        # A charge Ozon booked late in the oldest period (not read again: only the last 3 are).
        self.backdate()
        self.ozon.service_operation("4.00", at=old)
        self.import_fees()
        self.read_periods()
        charge = oldest.line_ids.filtered(lambda line: line.kind == "charge")
        self.assertAlmostEqual(charge.store_amount, -4.00, places=2)

    def test_charges_of_a_cancelled_payment_are_not_booked(self):
        self.consistent_data()
        period = self.read_periods()[self.period2]
        self.assertEqual(period.state, "matched")
        entry = self.Fee.search([("sale_order_id", "=", self.order_b.id), ("state", "=", "in_payment")]).move_id
        payment = self.env["account.payment"].search([("move_id", "=", entry.id)])
        self.assertTrue(payment)
        payment.action_draft()
        payment.action_cancel()
        period.action_reconcile()
        line = self.line_of(period, self.order_b)
        self.assertAlmostEqual(line.difference, -8.75, places=2)
        self.assertIn("waiting for the order's payment after delivery: -8.75 EUR", line.explanation)
        self.assertEqual(period.state, "explained")
        self.assertAddsUp(period)

    def test_an_order_cancelled_before_a_sales_order_is_explained(self):
        self.consistent_data()
        posting = self.ozon.fbs_posting("70009-0001-1", [("MUG-01", 1, "12.50", 11)])
        self.ozon.add_posting(posting)
        body = json.dumps(dict(self.ozon.public(posting), **{SCHEME_KEY: "fbs"})).encode()
        inbox = self.env["sale.inbox.order"].browse(self.env["sale.inbox.order"]._receive(
            self.channel, body, "application/json")[0])
        inbox.sudo().write({"state": "cancelled"})
        self.assertFalse(inbox.sale_order_id)
        self.ozon.charge_operation("70009-0001-1", "0.95", at=self.day2,
                                   operation_type="MarketplaceRedistributionOfAcquiringOperation")
        self.import_fees()
        line = self.read_periods()[self.period2].line_ids.filtered(lambda line: line.order_ref == "70009-0001-1")
        self.assertIn("Cancelled in the store before a sales order was made", line.explanation)
        self.assertIn("booked as charges of a cancelled order", line.explanation)
        self.assertNotIn("never received", line.explanation)

    def test_an_order_sold_in_two_periods_counts_its_share_of_the_invoice(self):
        self.consistent_data()
        split = self.delivered_order("70005-0001-1")
        self.ozon.sale_operation("70005-0001-1", "27.00", "4.00", at=self.day1)
        self.ozon.sale_operation("70005-0001-1", "18.00", "2.00", at=self.day2)
        self.import_fees()
        self.pay(split)
        periods = self.read_periods()
        first, second = self.line_of(periods[self.period1], split), self.line_of(periods[self.period2], split)
        self.assertAlmostEqual(first.odoo_amount, 27.00 - 4.00, places=2)
        self.assertAlmostEqual(second.odoo_amount, 18.00 - 2.00, places=2)
        self.assertEqual((first.difference, second.difference), (0.0, 0.0))
        self.assertIn("Sold in several periods: 60%", first.explanation)
        for period in periods.values():
            self.assertAddsUp(period)

    def test_a_statement_in_another_currency_is_refused(self):
        self.consistent_data()
        self.ozon.currency = "USD"
        self.Payout._cron_read_payouts()
        self.assertIn("statements are in USD", self.channel.payouts_last_error)
        self.assertIn("EUR", self.channel.payouts_last_error)
        self.assertFalse(self.channel.payout_ids)

    def test_payouts_are_read_only_for_channels_reading_their_fees(self):
        self.channel.read_fees = False
        self.Payout._cron_read_payouts()
        self.assertFalse(self.store.calls("POST", CASH_FLOW))
        self.assertFalse(self.channel.payout_ids)
        self.assertFalse(self.channel.payouts_last_error)

    def test_the_list_reconciles_selected_periods_and_shows_when(self):
        self.consistent_data()
        periods = self.read_periods()
        arch = self.Payout.get_views([(False, "list")])["views"]["list"]["arch"]
        self.assertIn('name="action_reconcile"', arch.split("<header>")[1].split("</header>")[0])
        self.assertIn('name="reconciled_at"', arch)
        chosen = periods[self.period1] | periods[self.period2]
        chosen.line_ids.sudo().unlink()
        new_test_user(self.env, "payout_list_manager", groups="sale_inbox.group_sale_inbox_manager")
        self.authenticate("payout_list_manager", "payout_list_manager")
        self.make_jsonrpc_request("/web/dataset/call_button", {
            "model": "sale.channel.payout", "method": "action_reconcile", "args": [chosen.ids], "kwargs": {}})
        chosen.invalidate_recordset()
        self.assertEqual([len(period.line_ids) for period in chosen], [2, 2])

    def test_one_period_read_is_said_in_the_singular(self):
        self.channel.fees_from = fields.Date.today()
        action = self.channel.action_read_payouts()
        self.assertEqual(len(self.channel.payout_ids), 1)
        self.assertEqual(action["params"]["message"], "1 settlement period read and reconciled.")

    # ------------------------------------------------------------------
    # One bad channel among good ones
    # ------------------------------------------------------------------

    def test_a_poisoned_channel_does_not_stop_the_others(self):
        self.consistent_data()
        html = FakeStore()
        html.start()
        self.addCleanup(html.stop)
        html.route("POST", CASH_FLOW, status=200, headers={"Content-Type": "text/html"},
                   json="<html><body>Maintenance</body></html>")
        Channel = self.env["sale.channel"]
        html_channel = Channel.create({"name": "Ozon HTML", "platform": "ozon", "api_login": "222",
                                       "api_secret": "html-key", "store_url": html.url})
        broken = Channel.create({"name": "Ozon broken", "platform": "ozon", "api_login": "333",
                                 "api_secret": "broken-key", "store_url": "http://127.0.0.1:9"})
        periods = self.read_periods()
        self.assertEqual(periods[self.period1].state, "matched")
        self.assertFalse(self.channel.payouts_last_error)
        for bad in (html_channel, broken):
            self.assertTrue(bad.payouts_last_error, bad.name)
            self.assertFalse(bad.payout_ids)
        # Ozon answers again: the next run reads the channel and clears its error.
        ozon = FakeOzon(html, client_id="222", api_key="html-key", now=self.clock)
        ozon.currency = html_channel._fee_currency().name
        self.Payout._cron_read_payouts()
        self.assertFalse(html_channel.payouts_last_error)
        self.assertTrue(html_channel.payout_ids)
        self.assertTrue(broken.payouts_last_error)

    def test_read_payouts_now_shows_the_error_on_the_channel(self):
        self.channel.store_url = "http://127.0.0.1:9"
        action = self.channel.action_read_payouts()
        self.assertEqual(action["params"]["type"], "danger")
        self.assertTrue(self.channel.payouts_last_error)
        self.channel.store_url = self.store.url
        action = self.channel.action_read_payouts()
        self.assertEqual(action["params"]["type"], "success")
        self.assertFalse(self.channel.payouts_last_error)
        self.assertTrue(self.channel.payout_ids)
        self.assertEqual(self.channel.payout_count, len(self.channel.payout_ids))

    # ------------------------------------------------------------------
    # Security
    # ------------------------------------------------------------------

    def test_a_sales_inbox_user_cannot_read_payouts_nor_press_the_buttons(self):
        self.consistent_data()
        period = self.read_periods()[self.period1]
        with self.assertRaises(AccessError):
            self.Payout.with_user(self.user).search([])
        with self.assertRaises(AccessError):
            self.env["sale.channel.payout.line"].with_user(self.user).search([])
        requests = len(self.store.requests)
        self.authenticate(USER, USER)
        for model, method, record in (("sale.channel", "action_read_payouts", self.channel),
                                      ("sale.channel.payout", "action_reconcile", period),
                                      ("sale.channel", "action_view_payouts", self.channel)):
            with self.subTest(method=method), self.assertRaises(JsonRpcException) as caught:
                self.make_jsonrpc_request("/web/dataset/call_kw", {
                    "model": model, "method": method, "args": [[record.id]], "kwargs": {}})
            self.assertEqual(caught.exception.args[0], "odoo.exceptions.AccessError")
        self.assertEqual(len(self.store.requests), requests, "a refused action must not reach the store")

    def test_another_companys_manager_sees_nothing(self):
        self.consistent_data()
        period = self.read_periods()[self.period1]
        manager = self.manager_two
        self.assertFalse(self.Payout.with_user(manager).search([]))
        self.assertFalse(self.env["sale.channel.payout.line"].with_user(manager).search([]))
        with self.assertRaises(AccessError):
            period.with_user(manager).action_reconcile()
        with self.assertRaises(AccessError):
            self.channel.with_user(manager).action_read_payouts()

    def test_an_accountant_reads_and_reconciles(self):
        self.consistent_data()
        period = self.read_periods()[self.period1]
        accountant = new_test_user(self.env, "payout_accountant",
                                   groups="account.group_account_manager,account.group_account_readonly")
        self.assertEqual(self.Payout.with_user(accountant).search([("id", "=", period.id)]), period)
        period.line_ids.sudo().unlink()
        period.with_user(accountant).action_reconcile()
        self.assertEqual(len(period.line_ids), 2, "order A and the storage")
        self.assertEqual(period.state, "matched")


@tagged("post_install", "-at_install")
class TestConcurrentPayoutReads(BaseCase):
    """Two workers and one channel, on committed data and separate cursors: a channel being
    read is skipped by the other worker, and reading it again or at once keeps each period once."""

    def setUp(self):
        super().setUp()
        self.registry = Registry(get_db_name())
        store = FakeStore()
        store.start()
        self.addCleanup(store.stop)
        self.store = store
        ozon = FakeOzon(store, client_id="race-77", api_key="race-ozon-key")
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            # The fake Ozon is on 127.0.0.1: allowed for this test, as it was before it.
            allowed = env["ir.config_parameter"].get_param(ALLOW_PRIVATE_PARAM)
            self.addCleanup(self._set_param, ALLOW_PRIVATE_PARAM, allowed)
            env["ir.config_parameter"].set_param(ALLOW_PRIVATE_PARAM, "True")
            channel = env["sale.channel"].create({
                "name": "Race Ozon", "platform": "ozon", "api_login": "race-77", "api_secret": "race-ozon-key",
                "store_url": store.url, "auto_process": False})
            self.channel_id = channel.id
            # Statements in the channel's currency.
            ozon.currency = channel._fee_currency().name
        self.addCleanup(self._cleanup)

    def _set_param(self, key, value):
        with self.registry.cursor() as cr:
            api.Environment(cr, SUPERUSER_ID, {})["ir.config_parameter"].set_param(key, value or False)

    def _cleanup(self):
        with self.registry.cursor() as cr:
            cr.execute("DELETE FROM sale_channel_payout WHERE channel_id = %s", (self.channel_id,))
            cr.execute("DELETE FROM sale_channel WHERE id = %s", (self.channel_id,))

    def _read(self):
        with self.registry.cursor() as cr:
            # A read that waited for the other worker's lock would wait for ever here: it fails.
            cr.execute("SET LOCAL lock_timeout = '5s'")
            env = api.Environment(cr, SUPERUSER_ID, {})
            return env["sale.channel.payout"]._read_channel_isolated(env["sale.channel"].browse(self.channel_id))

    def _count(self):
        with self.registry.cursor() as cr:
            cr.execute("SELECT count(*), count(DISTINCT ref) FROM sale_channel_payout WHERE channel_id = %s",
                       (self.channel_id,))
            return cr.fetchone()

    def test_a_channel_being_read_is_skipped_and_its_periods_kept_once(self):
        with self.registry.cursor() as busy:
            # Another worker reads the channel's payouts (the job's advisory lock).
            busy.execute("SELECT pg_advisory_xact_lock(1350102, %s)", (self.channel_id,))
            self.assertEqual(self._read(), (True, None))
            self.assertEqual(self.store.calls("POST", CASH_FLOW), [], "a channel being read is not read twice")
        with self.registry.cursor() as busy:
            # The fee read of the channel (its own key) does not stop the payout read.
            busy.execute("SELECT pg_advisory_xact_lock(1350101, %s)", (self.channel_id,))
            ok, periods = self._read()
            self.assertTrue(ok and periods, periods)
        ok, periods = self._read()
        self.assertTrue(ok, periods)
        count, distinct = self._count()
        self.assertTrue(count)
        # Two workers at once, then again: each period is kept once.
        results = []
        threads = [threading.Thread(target=lambda: results.append(self._read())) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual(len(results), 2)
        self.assertTrue(all(ok for ok, _result in results), results)
        self.assertEqual(self._count(), (count, distinct))
        self.assertEqual(count, distinct)
