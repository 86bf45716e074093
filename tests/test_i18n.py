import re
from collections import Counter

import polib

from odoo.exceptions import ValidationError
from odoo.modules.module import get_module_path
from odoo.tests import TransactionCase, tagged

from .common import InboxFixtures

LANGS = {"ru_RU": "ru", "lv_LV": "lv"}
#: What formatting and the web client need to find again in a translation: %-style and
#: {}-style placeholders, HTML tags and entities.
PLACEHOLDER = re.compile(r"%\(\w+\)s|%[sd]|\{\w+\}|<[^<>]+>|&\w+;")


@tagged("post_install", "-at_install")
class TestTranslations(InboxFixtures, TransactionCase):
    """The Russian and Latvian translations load into a database as Odoo loads them when a
    language is installed, and reach what people see: menus, fields, selections, views,
    errors and chatter notes, placeholders filled in."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_inbox()
        for lang in LANGS:
            cls.env["res.lang"]._activate_lang(lang)
        cls.env["ir.module.module"]._load_module_terms(["sale_inbox"], list(LANGS), overwrite=True)

    def po_entries(self, code):
        path = f"{get_module_path('sale_inbox')}/i18n/{code}.po"
        return polib.pofile(path)

    def test_every_translation_keeps_its_placeholders(self):
        # A translation that loses or renames a placeholder turns a message into an English
        # fallback and a logged traceback; Odoo also loads fuzzy entries as good ones.
        faults = []
        for code in LANGS.values():
            po = self.po_entries(code)
            self.assertEqual(po.metadata.get("Language"), code)
            self.assertTrue(po.metadata.get("Plural-Forms", "").startswith("nplurals=3;"))
            for entry in po:
                if "fuzzy" in entry.flags:
                    faults.append(f"{code}: fuzzy: {entry.msgid!r}")
                elif entry.msgstr and (Counter(PLACEHOLDER.findall(entry.msgstr))
                                       != Counter(PLACEHOLDER.findall(entry.msgid))):
                    faults.append(f"{code}: placeholders differ: {entry.msgid!r} -> {entry.msgstr!r}")
        self.assertFalse(faults, "\n".join(faults))

    def test_menus_and_actions(self):
        menu = self.env.ref("sale_inbox.menu_sale_inbox_root")
        self.assertEqual(menu.with_context(lang="ru_RU").name, "Входящие заказы")
        self.assertEqual(menu.with_context(lang="lv_LV").name, "Pārdošanas iesūtne")
        action = self.env.ref("sale_inbox.sale_channel_outbox_action")
        self.assertEqual(action.with_context(lang="ru_RU").name, "Исходящие статусы")
        self.assertEqual(self.env.ref("sale_inbox.menu_sale_channel").with_context(lang="lv_LV").name, "Kanāli")

    def test_fields_and_selections(self):
        Order = self.env["sale.inbox.order"]
        states = dict(Order.with_context(lang="ru_RU").fields_get(["state"])["state"]["selection"])
        self.assertEqual(states["needs_review"], "Требует проверки")
        states = dict(Order.with_context(lang="lv_LV").fields_get(["state"])["state"]["selection"])
        self.assertEqual(states["needs_review"], "Jāpārskata")
        channel_fields = self.env["sale.channel"].with_context(lang="ru_RU").fields_get(
            ["add_payment", "wait_for_payment"], ["string", "help"])
        self.assertEqual(channel_fields["add_payment"]["string"], "Добавить платеж")
        self.assertTrue(channel_fields["wait_for_payment"]["help"].startswith("Обрабатывать заказ только"))

    def test_views(self):
        arch = self.env["sale.inbox.order"].with_context(lang="ru_RU").get_view(view_type="form")["arch"]
        self.assertIn("Принять разницу", arch)
        self.assertNotIn("Accept Difference", arch)
        arch = self.env["sale.channel"].with_context(lang="lv_LV").get_view(view_type="form")["arch"]
        self.assertIn("Krājumu sinhronizācija", arch)

    def test_an_error_names_its_value_in_the_users_language(self):
        Settings = self.env["res.config.settings"]
        with self.assertRaises(ValidationError) as caught:
            Settings.with_context(lang="ru_RU").create({"sale_inbox_public_url": "erp.example.com"})
        self.assertEqual(
            str(caught.exception),
            "Публичный адрес для магазинов должен быть полным адресом, начинающимся с https:// "
            "(например, https://erp.example.com), а не erp.example.com.")
        with self.assertRaises(ValidationError) as caught:
            Settings.with_context(lang="lv_LV").create({"sale_inbox_public_url": "erp.example.com"})
        self.assertIn("nevis erp.example.com.", str(caught.exception))

    def test_a_stopped_order_tells_why_in_the_users_language(self):
        data = self.order_data("RU1")
        data["lines"].append({"sku": "SI-NOPE", "quantity": 1, "unit_price": 1})
        inbox = self.receive(data)
        self.env["sale.inbox.order"].with_context(lang="ru_RU")._cron_process()
        self.assertEqual(inbox.state, "error")
        self.assertEqual(
            inbox.error_message,
            "Нет товара с внутренней ссылкой SI-NOPE. Создайте его или исправьте артикул, "
            "затем нажмите «Повторить».")
        notes = inbox.message_ids.mapped("body")
        self.assertTrue(any("Остановлено на шаге «Товары»: Нет товара" in str(body) for body in notes), notes)
