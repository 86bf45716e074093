"""Ozon orders for the marketplace money tests: the fake Ozon (finance methods included) over
real HTTP, an Ozon channel that invoices its orders and pays them some days after delivery,
a marketplace journal and a commission account, and delivered orders made through the inbox."""
from datetime import timedelta

from odoo import fields

from .ozon_ship_common import OzonShipFixtures

#: Lines of the fixtures' orders: 2 mugs at 12.50 and a T-shirt at 20.00 (45.00 with tax).
PRODUCTS = (("MUG-01", 2, "12.50"), ("TSHIRT-RED-M", 1, "20.00"))


class OzonMoneyFixtures(OzonShipFixtures):

    @classmethod
    def setup_money(cls):
        cls.setup_ozon()
        company = cls.env.company
        cls.marketplace_journal = cls.env["account.journal"].create({
            "name": "Ozon Payments", "code": "OZNP", "type": "bank", "company_id": company.id})
        cls.commission_account = cls.env["account.account"].create({
            "name": "Marketplace Commissions", "code": "623900", "account_type": "expense",
            "company_ids": [(6, 0, company.ids)]})
        cls.channel.write({
            "document_type": "invoice", "auto_confirm": True, "pay_after_delivery": True, "pay_after_days": 30,
            "marketplace_journal_id": cls.marketplace_journal.id,
            "commission_account_id": cls.commission_account.id,
        })

    def delivered_order(self, number, days_ago=31, products=PRODUCTS):
        """An FBS posting made into an invoiced sales order whose delivery was done
        ``days_ago`` days ago (the invoice posted by processing, not paid)."""
        order = self.posting(number, products)
        self.validate(self.delivery(order))
        done_at = fields.Datetime.now() - timedelta(days=days_ago)
        self.delivery(order).date_done = done_at
        invoice = order.invoice_ids.filtered(lambda m: m.state == "posted")
        self.assertEqual(len(invoice), 1, "processing made and posted the invoice")
        self.assertEqual(invoice.payment_state, "not_paid")
        return order
