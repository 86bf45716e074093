"""A marketplace channel's money settings: reading the marketplace's fees, paying delivered
orders net of them after N days, and reading its settlement periods (payouts).

The flows live with their records: reading fees in ``sale_channel_fee``, payments and
charges in ``sale_channel_fee_booking``, payouts in ``sale_channel_payout``. Nothing here is
Ozon's: any platform that declares ``can_read_fees`` / ``can_read_payouts`` is served, and
the N-days payment works on any channel, with or without fees read.
"""
from odoo import api, fields, models
from odoo.exceptions import ValidationError


class SaleChannel(models.Model):
    _inherit = "sale.channel"

    # -- Fees ------------------------------------------------------------------------------
    read_fees = fields.Boolean(
        string="Read Marketplace Fees", default=True,
        help="Read what the marketplace charged and credited, operation by operation (commissions, "
        "logistics, storage, promotion…): each order's fees show on its sales order, and the "
        "payments after delivery deduct them.")
    fees_from = fields.Date(
        string="Read Fees From",  # noqa: W8113
        help="The first day whose operations are read (empty: the first day of the previous month, "
        "at the first read). Set earlier than Fees Read Since, the next read goes back to it.")
    fees_read_until = fields.Datetime(
        readonly=True, copy=False,
        help="Every operation booked by the marketplace up to this moment has been read.")
    fees_last_read_at = fields.Datetime(string="Fees Last Read", readonly=True, copy=False)
    fees_last_error = fields.Text(string="Fee Reading Error", readonly=True, copy=False)
    fee_ids = fields.One2many("sale.channel.fee", "channel_id", string="Marketplace Fees", readonly=True)

    # -- Payments after delivery -------------------------------------------------------------
    pay_after_delivery = fields.Boolean(
        string="Register Payments After Delivery",
        help="The marketplace pays its seller some days after each delivery, less its fees: Odoo "
        "registers that payment by itself, for the invoice amount less the fees known for the "
        "order, and books those fees as an expense (a payment with a write-off: the invoice is "
        "paid in full and the profit is right).")
    pay_after_days = fields.Integer(
        string="Days After Delivery", default=30,
        help="An order is paid this many days after its delivery was done.")
    marketplace_journal_id = fields.Many2one(
        "account.journal", check_company=True,
        domain="[('type', 'in', ('bank', 'cash'))]",
        help="The journal the marketplace's payments are registered in: it stands for the money the "
        "marketplace holds for you until it pays out.")
    commission_account_id = fields.Many2one(
        "account.account", check_company=True,
        domain="[('account_type', 'in', ('expense', 'expense_direct_cost'))]",
        help="The expense account the marketplace's commissions and charges are booked to.")

    # -- Payouts -----------------------------------------------------------------------------
    payouts_read_until = fields.Date(readonly=True, copy=False)
    payouts_last_error = fields.Text(string="Payout Reading Error", readonly=True, copy=False)
    payout_ids = fields.One2many("sale.channel.payout", "channel_id", string="Payout Periods", readonly=True)

    @api.constrains("pay_after_days")
    def _check_pay_after_days(self):
        for channel in self:
            if channel.pay_after_days < 0:
                raise ValidationError(self.env._(
                    "Days After Delivery cannot be negative (0 pays on the day of delivery)."))
