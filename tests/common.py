import copy
import json

from odoo import Command

CONNECT_PATH = "/sale_inbox/connect/v1/orders"
API_KEY = "test-key-7c1e0c6f"
#: The public address for stores the tests set (Settings): channels' webhook URLs start with it.
PUBLIC_URL = "https://odoo.example.com"
ALLOW_PRIVATE_PARAM = "sale_inbox.allow_private_store_addresses"
PUBLIC_URL_PARAM = "sale_inbox.public_url"


def allow_local_stores(env):
    """The settings every test runs with: the fake stores listen on 127.0.0.1, which channels
    refuse to reach unless an administrator allows private store addresses; and a public
    address for stores, without which no channel has a webhook URL."""
    params = env["ir.config_parameter"].sudo()
    params.set_param(ALLOW_PRIVATE_PARAM, "True")
    params.set_param(PUBLIC_URL_PARAM, PUBLIC_URL)


class InboxFixtures:
    """Products, taxes, a bank journal and a Connect channel, shared by the Odoo tests.

    Prices are chosen so that the store's totals can be worked out by hand: 21% tax on
    everything, excluded from prices unless a test says otherwise.
    """

    @classmethod
    def setup_inbox(cls):
        env = cls.env
        allow_local_stores(env)
        cls.company = env.company
        cls.currency = cls.company.currency_id
        cls.bank = env["account.journal"].search(
            [("type", "=", "bank"), ("company_id", "=", cls.company.id)], limit=1
        )
        cls.tax = env["account.tax"].create({
            "name": "Inbox VAT 21%",
            "amount": 21.0,
            "amount_type": "percent",
            "type_tax_use": "sale",
            "price_include_override": "tax_excluded",
            "company_id": cls.company.id,
        })
        Product = env["product.product"]
        cls.mug = Product.create({
            "name": "Enamel Mug", "default_code": "SI-MUG", "list_price": 12.5,
            "taxes_id": [Command.set(cls.tax.ids)], "invoice_policy": "order",
        })
        cls.tee = Product.create({
            "name": "Linen T-shirt", "default_code": "SI-TEE", "list_price": 30.0,
            "taxes_id": [Command.set(cls.tax.ids)], "invoice_policy": "order",
        })
        cls.shipping = env.ref("sale_inbox.product_shipping")
        cls.shipping.taxes_id = [Command.set(cls.tax.ids)]
        cls.channel = env["sale.channel"].create({
            "name": "Test shop",
            "platform": "connect",
            "api_key": API_KEY,
            "auto_process": True,
            "document_type": "invoice",
            "auto_confirm": True,
            "add_payment": True,
        })
        cls.card = env["sale.channel.payment.method"].create({
            "channel_id": cls.channel.id, "code": "card", "name": "Card", "journal_id": cls.bank.id,
        })

    def order_data(self, external_id="1001", **changes):
        """A Connect order: 2 mugs at 12.50 less 2.50, a T-shirt at 30, shipping 5.

        Net 57.50; 21% tax per line 4.73 + 6.30 + 1.05 = 12.08; total 69.58.
        """
        data = {
            "id": external_id,
            "number": f"#{external_id}",
            "created_at": "2026-11-20T10:15:00Z",
            "currency": self.currency.name,
            "taxes_included": False,
            "customer": {"id": "cust-17", "email": "anna.berzina@example.com", "name": "Anna Berzina"},
            "billing_address": {"name": "Anna Berzina", "street": "Brivibas iela 1", "city": "Riga",
                                "zip": "LV-1010", "country": "LV"},
            "shipping_address": {"name": "Anna Berzina", "street": "Skolas iela 5", "city": "Riga",
                                 "zip": "LV-1011", "country": "LV"},
            "lines": [
                {"sku": "SI-MUG", "name": "Enamel mug", "quantity": 2, "unit_price": 12.5, "discount": 2.5},
                {"sku": "SI-TEE", "name": "Linen T-shirt", "quantity": 1, "unit_price": 30},
            ],
            "shipping": {"name": "Courier", "price": 5},
            "payment": {"method": "card", "method_name": "Card", "status": "paid", "amount": 69.58,
                        "transaction_id": "ch_1"},
            "total": 69.58,
        }
        data = copy.deepcopy(data)
        data.update(changes)
        return data

    def receive(self, data, channel=None):
        """Intake as the controller does it, without HTTP: returns the inbox record."""
        channel = channel or self.channel
        body = json.dumps(data).encode()
        inbox_id, _created, _answer = self.env["sale.inbox.order"].sudo()._receive(channel, body, "application/json")
        return self.env["sale.inbox.order"].browse(inbox_id)

    def run_cron(self):
        return self.env["sale.inbox.order"]._cron_process()


class StockFixtures(InboxFixtures):
    """The inbox fixtures with stock: 20 mugs and 5 T-shirts in the company's warehouse, and a
    fake store server started for each test."""

    @classmethod
    def setup_stock(cls):
        cls.setup_inbox()
        cls.warehouse = cls.env["stock.warehouse"].search([("company_id", "=", cls.company.id)], limit=1)
        for product, quantity in ((cls.mug, 20), (cls.tee, 5)):
            product.is_storable = True
            cls.env["stock.quant"]._update_available_quantity(product, cls.warehouse.lot_stock_id, quantity)

    def start_store(self):
        from odoo.addons.sale_inbox.platforms.testing import FakeStore
        store = FakeStore()
        store.start()
        self.addCleanup(store.stop)
        return store


class StoreChannelFixtures:
    """A euro store whose prices include 21% VAT, selling TSHIRT-RED-M and MUG-01 (the SKUs
    of the example orders in platforms/tests/data)."""

    @classmethod
    def setup_store(cls, platform, **channel_values):
        env = cls.env
        allow_local_stores(env)
        company = env.company
        cls.eur = env.ref("base.EUR")
        cls.eur.active = True
        cls.pricelist = env["product.pricelist"].create({"name": "EUR shop", "currency_id": cls.eur.id})
        cls.tax = env["account.tax"].create({
            "name": "PVN 21% incl.", "amount": 21.0, "type_tax_use": "sale",
            "price_include_override": "tax_included", "company_id": company.id,
        })
        for sku, name in (("TSHIRT-RED-M", "T-shirt Red M"), ("MUG-01", "Mug")):
            env["product.product"].create({
                "name": name, "default_code": sku, "taxes_id": [Command.set(cls.tax.ids)],
                "invoice_policy": "order", "is_storable": True,
            })
        env.ref("sale_inbox.product_shipping").taxes_id = [Command.set(cls.tax.ids)]
        cls.bank = env["account.journal"].search(
            [("type", "=", "bank"), ("company_id", "=", company.id)], limit=1)
        cls.channel = env["sale.channel"].create({
            "platform": platform, "auto_process": True, "document_type": "order",
            "auto_confirm": True, "add_payment": True, "pricelist_id": cls.pricelist.id,
            **channel_values,
        })
        cls.Inbox = env["sale.inbox.order"]

    def inbox(self):
        return self.Inbox.search([("channel_id", "=", self.channel.id)])

    def process(self):
        self.Inbox._cron_process()
