"""The marketplace's money end to end, through the three jobs as they run in production: the
fee import reads the fake Ozon's finance transactions (real HTTP), the payment job pays
delivered orders net of those fees and books the other charges, the payout job reads Ozon's
settlement periods and reconciles them with what was booked. Nothing is made by hand but the
orders and what Ozon books."""
from datetime import datetime, timedelta

from odoo import fields
from odoo.tests import TransactionCase, tagged

from odoo.addons.sale_inbox.platforms.ozon.fake_finance import period_of

from .ozon_money_common import OzonMoneyFixtures


@tagged("post_install", "-at_install")
class TestMarketplaceMoneyFlow(OzonMoneyFixtures, TransactionCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_money()
        cls.Fee = cls.env["sale.channel.fee"]
        cls.Payout = cls.env["sale.channel.payout"]

    def setUp(self):
        super().setUp()
        self.start_ozon()
        # Ozon's statements in the channel's currency (a statement in another is refused).
        self.ozon.currency = self.channel._fee_currency().name
        # Operations booked by Ozon in the last weeks, all within what the fee import reads
        # (from the first day of the previous month).
        now = datetime.now().replace(microsecond=0)
        self.days_ago = lambda days: now - timedelta(days=days)

    def read_fees(self):
        self.Fee._cron_read_fees()
        self.channel.invalidate_recordset()
        self.assertFalse(self.channel.fees_last_error)

    def pay_and_book(self):
        self.Fee._cron_pay_and_book()
        self.env.invalidate_all()

    def read_payouts(self):
        self.Payout._cron_read_payouts()
        self.channel.invalidate_recordset()
        self.assertFalse(self.channel.payouts_last_error)
        return self.Payout.search([("channel_id", "=", self.channel.id)])

    def marketplace_payments(self, order):
        return self.env["account.payment"].search([
            ("journal_id", "=", self.marketplace_journal.id), ("state", "!=", "canceled"),
            ("memo", "ilike", order.name)])

    def commission_balance(self, moves):
        lines = moves.line_ids.filtered(lambda line: line.account_id == self.commission_account)
        return sum(lines.mapped("balance"))

    def test_fees_pay_orders_net_book_late_charges_and_reconcile_to_zero(self):
        paid = self.delivered_order("3000-0001-1", days_ago=31)
        young = self.delivered_order("3000-0002-1", days_ago=29)
        cancelled = self.delivered_order("3000-0003-1", days_ago=40)
        cancelled.sudo()._action_cancel()
        self.ozon.sale_operation("3000-0001-1", "45.00", "6.75", logistics="3.00", at=self.days_ago(12))
        self.ozon.sale_operation("3000-0002-1", "45.00", "6.75", at=self.days_ago(11))
        self.ozon.charge_operation("3000-0003-1", "2.50", at=self.days_ago(10),
                                   operation_type="MarketplaceRedistributionOfAcquiringOperation")
        self.ozon.service_operation("12.00", at=self.days_ago(9))

        self.read_fees()
        self.pay_and_book()

        # Day N: one payment for the invoice less the fees known, the fees written off as commission.
        payment = self.marketplace_payments(paid)
        self.assertEqual(len(payment), 1)
        self.assertAlmostEqual(payment.amount, 35.25)
        self.assertAlmostEqual(self.commission_balance(payment.move_id), 9.75, msg="write-off on the commission")
        self.assertEqual(paid.invoice_ids.payment_state in ("paid", "in_payment"), True)
        self.assertEqual(set(paid.fee_ids.mapped("state")), {"in_payment"})
        # Before day N: nothing.
        self.assertFalse(self.marketplace_payments(young))
        self.assertEqual(young.invoice_ids.payment_state, "not_paid")
        self.assertEqual(set(young.fee_ids.mapped("state")), {"waiting"})
        # A cancelled order's charge and a charge of no order: entries of their own, no payment.
        self.assertFalse(self.marketplace_payments(cancelled))
        self.assertEqual(cancelled.fee_ids.state, "booked")
        self.assertAlmostEqual(self.commission_balance(cancelled.fee_ids.move_id), 2.50)
        storage = self.Fee.search([("channel_id", "=", self.channel.id), ("order_ref", "=", False)])
        self.assertEqual(storage.state, "booked")
        self.assertAlmostEqual(self.commission_balance(storage.move_id), 12.00)

        # A commission Ozon books after the payment: an expense of its own, linked to the order.
        self.ozon.charge_operation("3000-0001-1", "1.20", at=self.days_ago(1),
                                   operation_type="MarketplaceServiceItemReturnFlowLogistic")
        self.read_fees()
        self.pay_and_book()
        late = paid.fee_ids.filtered(lambda fee: fee.state == "booked")
        self.assertEqual(len(late), 1)
        self.assertAlmostEqual(self.commission_balance(late.move_id), 1.20)
        self.assertNotEqual(late.move_id, payment.move_id)
        self.assertEqual(self.marketplace_payments(paid), payment, "still one payment")

        # Ozon's settlement periods against what Odoo booked: nothing unexplained; the only
        # difference is the young order's charges, waiting for its day N, named.
        payouts = self.read_payouts()
        self.assertTrue(payouts)
        for payout in payouts:
            self.assertEqual(payout.unexplained_difference, 0.0, payout.name)
            self.assertAlmostEqual(payout.total_amount - payout.booked_amount,
                                   payout.explained_difference + payout.unexplained_difference, places=2)
        lines = payouts.line_ids
        differing = lines.filtered(lambda line: line.difference)
        self.assertEqual(differing.sale_order_id, young)
        self.assertAlmostEqual(sum(differing.mapped("difference")), -6.75)
        self.assertIn("waiting for the order's payment", differing.explanation)
        self.assertEqual(lines.filtered(lambda line: line.sale_order_id == paid).mapped("difference"),
                         [0.0] * len(lines.filtered(lambda line: line.sale_order_id == paid)))

        # Once day N has come for the young order, every period matches.
        self.delivery(young).date_done = fields.Datetime.now() - timedelta(days=31)
        self.pay_and_book()
        self.assertAlmostEqual(self.marketplace_payments(young).amount, 38.25)
        payouts = self.read_payouts()
        self.assertEqual(set(payouts.mapped("state")), {"matched"})

    def test_planted_differences_are_named(self):
        underpaid = self.delivered_order("3100-0001-1", days_ago=31)
        fine = self.delivered_order("3100-0002-1", days_ago=31)
        # Ozon credited 40.00 for an order invoiced 45.00 (a price changed on one side only).
        sale = self.ozon.sale_operation("3100-0001-1", "40.00", "6.00", at=self.days_ago(8))
        self.ozon.sale_operation("3100-0002-1", "45.00", "6.75", at=self.days_ago(8))
        # And its statement counts 4.20 of commission that no operation shows.
        period = period_of(sale["_at"].date())[0]
        self.ozon.statement_adjust[period] = {"commission_amount": "-4.20"}
        self.read_fees()
        self.pay_and_book()
        self.assertAlmostEqual(self.marketplace_payments(fine).amount, 38.25)
        self.assertAlmostEqual(self.marketplace_payments(underpaid).amount, 39.00)

        payout = self.read_payouts().filtered(lambda p: p.ref == str(period))
        self.assertEqual(payout.state, "unexplained")
        order_line = payout.line_ids.filtered(lambda line: line.difference and line.kind == "order")
        self.assertEqual(order_line.sale_order_id, underpaid, "the order behind the difference is named")
        self.assertIn(underpaid.name, order_line.name)
        self.assertAlmostEqual(order_line.difference, -5.00)
        self.assertIn("differs from the marketplace's price", order_line.explanation)
        unexplained = payout.line_ids.filtered(lambda line: line.kind == "unexplained")
        self.assertAlmostEqual(unexplained.difference, -4.20)
        self.assertAlmostEqual(payout.unexplained_difference, -4.20)
        self.assertAlmostEqual(payout.total_amount - payout.booked_amount,
                               payout.explained_difference + payout.unexplained_difference, places=2)

    def test_an_operation_booked_with_an_old_date_is_found_by_the_first_read_of_a_day(self):
        self.ozon.service_operation("1.00", at=self.days_ago(1))
        self.read_fees()
        # Ozon books a charge dated five days back, after that read: beyond the overlap of
        # the reads of the same day…
        self.ozon.service_operation("2.00", at=self.days_ago(5))
        self.read_fees()
        fees = self.Fee.search([("channel_id", "=", self.channel.id)])
        self.assertEqual(fees.mapped("amount"), [-1.0])
        # …but the first read of the next day goes back to the previous month's first day.
        self.channel.sudo().fees_read_until -= timedelta(days=1)
        self.read_fees()
        fees = self.Fee.search([("channel_id", "=", self.channel.id)])
        self.assertEqual(sorted(fees.mapped("amount")), [-2.0, -1.0])

    def test_refused_credentials_say_what_to_check_for_payouts_too(self):
        self.channel.sudo().api_secret = "not-the-key"
        self.Payout._cron_read_payouts()
        self.channel.invalidate_recordset()
        error = self.channel.payouts_last_error
        self.assertIn("Ozon refused the credentials while reading the settlement periods", error)
        self.assertIn("Finance role", error)
        self.assertIn("Reading the marketplace's money failed: Ozon refused the credentials",
                      self.channel.health_reason)
