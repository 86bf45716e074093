"""What a merchant meets when setting up an Ozon channel: the marketplace customer keeps its own
address whatever buyers' addresses go under it, the set-up steps skip payment methods, and
reading the warehouse list too often says when to try again."""
from odoo.exceptions import UserError
from odoo.tests import TransactionCase, tagged

from .test_ozon_orders import BUYER, RFBS, OzonFixtures


@tagged("post_install", "-at_install")
class TestOzonSetup(OzonFixtures, TransactionCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_ozon()

    def setUp(self):
        super().setUp()
        self.start_ozon()

    def test_a_buyers_address_never_becomes_the_marketplaces(self):
        # Odoo gives a company without an address the address of its first contact: the
        # first rFBS buyer's, here, if the marketplace customer were made without one.
        self.ozon.add_posting(self.ozon.fbs_posting(
            "3000-0001-1", [("MUG-01", 1, "450.00")], warehouse_id=RFBS, customer=BUYER,
            addressee={"name": "Ivan Petrov", "phone": "+79001234567"}))
        self.poll()
        self.process()
        order = self.by_number("3000-0001-1")
        self.assertEqual(order.state, "done", order.error_message)
        partner = self.channel.marketplace_partner_id
        self.assertEqual(order.sale_order_id.partner_shipping_id.city, "Moskva")
        self.assertFalse(partner.street or partner.city or partner.zip,
                         "the marketplace customer keeps no buyer's address")
        self.assertEqual(partner.country_id, self.env.company.country_id or self.env.ref("base.ru"))

    def test_payment_methods_are_not_a_step_of_a_marketplace(self):
        self.channel.invalidate_recordset()
        self.assertEqual(self.channel.setup_payments, "na")

    def test_reading_the_warehouses_twice_in_a_minute_says_when_to_try_again(self):
        self.channel.action_read_warehouses()
        with self.assertRaisesRegex(UserError, "once a minute"):
            self.channel.action_read_warehouses()

    def test_test_connection_names_the_next_step_of_a_marketplace(self):
        action = self.channel.action_test_connection()
        message = action["params"]["message"]
        self.assertIn("Connection works", message)
        self.assertNotIn("payment methods", message.lower(), "a marketplace has no payment methods to map")
