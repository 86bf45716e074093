"""A marketplace channel's accounting: its marketplace journal (the money the marketplace holds
for the seller until it pays out) and its commission expense account, made by one button, and
the checks that keep the payments after delivery booked in the channel's own company."""
from odoo import api, fields, models
from odoo.exceptions import ValidationError

from .sale_channel import MANAGER, check_group_access
from .sale_inbox_order import clean_text

ACCOUNT_MANAGER = "account.group_account_manager"
MARKETPLACE_JOURNAL_TYPES = ("bank", "cash")
COMMISSION_ACCOUNT_TYPES = ("expense", "expense_direct_cost")


class SaleChannel(models.Model):
    _inherit = "sale.channel"

    charges_last_error = fields.Text(
        string="Charges Booking Error", readonly=True, copy=False,
        help="Why the marketplace's charges of no order (storage, promotion…) could not be booked; tried "
        "again at every run.")

    @api.constrains("pay_after_delivery", "marketplace_journal_id", "commission_account_id", "company_id")
    def _check_marketplace_accounting(self):
        for channel in self:
            if channel.pay_after_delivery and not (channel.marketplace_journal_id and channel.commission_account_id):
                raise ValidationError(self.env._(
                    "Channel %s registers payments after delivery: it needs a marketplace journal and a "
                    "commission account (Set Up Marketplace Accounting makes both).", channel.name))
            journal = channel.marketplace_journal_id
            if journal and journal.company_id != channel.company_id:
                raise ValidationError(self.env._(
                    "The marketplace journal of channel %s belongs to another company.", channel.name))
            account = channel.commission_account_id
            if account and channel.company_id not in account.sudo().company_ids:
                raise ValidationError(self.env._(
                    "The commission account of channel %s belongs to another company.", channel.name))
            # Enforced here, not only as the fields' domains: the job writes off on them as
            # superuser, whoever set them (over RPC too).
            if journal and journal.sudo().type not in MARKETPLACE_JOURNAL_TYPES:
                raise ValidationError(self.env._(
                    "The marketplace journal of channel %s must be a bank or cash journal.", channel.name))
            if account and (account.sudo().account_type not in COMMISSION_ACCOUNT_TYPES
                            or account.sudo().deprecated):
                raise ValidationError(self.env._(
                    "The commission account of channel %s must be an expense account in use.", channel.name))

    def _check_accounting_manager(self):
        """Sales Inbox managers and accounting managers, on channels of their companies."""
        if self.env.su:
            return
        if self.env.user.has_group(ACCOUNT_MANAGER) and not self.env.user.has_group(MANAGER):
            # An accountant who sees the channel sets up its accounting, nothing else of it.
            self.check_access("read")
            return
        check_group_access(self, MANAGER, "write")

    def action_setup_marketplace_accounting(self):
        """Make what the channel's marketplace money needs and is missing: a bank-type journal
        for the marketplace's payments and an expense account for its commissions."""
        self._check_accounting_manager()
        messages = []
        for channel in self.sudo():
            messages += channel._setup_marketplace_accounting()
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "success",
                "title": self.env._("Marketplace Accounting"),
                "message": "\n".join(messages),
                "sticky": False,
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    def _setup_marketplace_accounting(self):
        self.ensure_one()
        messages = []
        values = {}
        if self.marketplace_journal_id:
            # A journal picked by hand may name no outstanding account: with full accounting
            # its payments would have no entry.
            self._set_outstanding_account(self.marketplace_journal_id)
            messages.append(self.env._("Journal %s kept.", self.marketplace_journal_id.display_name))
        else:
            journal = self._make_marketplace_journal()
            values["marketplace_journal_id"] = journal.id
            messages.append(self.env._("Journal %(name)s (%(code)s) made.", name=journal.name, code=journal.code))
        if self.commission_account_id:
            messages.append(self.env._("Account %s kept.", self.commission_account_id.display_name))
        else:
            account = self._make_commission_account()
            values["commission_account_id"] = account.id
            messages.append(self.env._("Account %s made.", account.display_name))
        if values:
            self.write(values)
        return messages

    def _platform_label(self):
        return self._platform().label if self.platform else self.name

    def _make_marketplace_journal(self):
        Journal = self.env["account.journal"].with_company(self.company_id)
        label = self._platform_label()
        prefix = "".join(ch for ch in label.upper() if ch.isalnum())[:3] or "MKT"
        taken = set(Journal.search([("company_id", "=", self.company_id.id)]).mapped("code"))
        code = next(f"{prefix}{n}" for n in range(1, 100) if f"{prefix}{n}" not in taken)
        name = self.env._("%(platform)s Payments (%(channel)s)", platform=label, channel=self.name) \
            if label != self.name else self.env._("%s Payments", label)
        journal = Journal.create({"name": name, "code": code, "type": "bank", "company_id": self.company_id.id})
        self._set_outstanding_account(journal)
        return journal

    def _set_outstanding_account(self, journal):
        """Name the account the marketplace's money sits on on the journal's incoming payment
        methods, so that every payment has an entry (and charges booked on their own move the
        same account): the company's outstanding receipts account."""
        holding = self.env["account.payment"].with_company(self.company_id).new(
            {"company_id": self.company_id.id})._get_outstanding_account("inbound")
        journal.inbound_payment_method_line_ids.filtered(lambda line: not line.payment_account_id).write(
            {"payment_account_id": holding.id})

    def _make_commission_account(self):
        Account = self.env["account.account"].with_company(self.company_id)
        company_domain = Account._check_company_domain(self.company_id)
        start = (self.env["account.journal"].search(
            [("company_id", "=", self.company_id.id), ("type", "=", "purchase")], limit=1).default_account_id
            or Account.search([*company_domain, ("account_type", "=", "expense")], limit=1))
        code = Account._search_new_account_code(start.code if start else "600000")
        return Account.create({
            "name": self.env._("%s Commissions", self._platform_label()),
            "code": code,
            "account_type": "expense",
            "company_ids": [(6, 0, self.company_id.ids)],
        })

    def _marketplace_holding_account(self):
        """The account the marketplace's payments sit on until it pays out: the journal's
        incoming payment method's outstanding account (Odoo's default when it names none)."""
        journal = self.marketplace_journal_id
        line = journal.inbound_payment_method_line_ids.filtered("payment_account_id")[:1]
        if line:
            return line.payment_account_id
        return self.env["account.payment"].with_company(self.company_id).new(
            {"company_id": self.company_id.id})._get_outstanding_account("inbound")

    def _record_charges_error(self, error):
        self.sudo().charges_last_error = clean_text(error)
