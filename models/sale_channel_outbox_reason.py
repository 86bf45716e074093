"""The reason a cancellation is sent with, for stores that ask for one (Ozon): chosen by a
person in the Cancel wizard (``wizards/sale_order_store_cancel.py``), kept on the message and
passed to the store's client with the status."""
import dataclasses

from odoo import fields, models


class SaleChannelOutbox(models.Model):
    _inherit = "sale.channel.outbox"

    reason_code = fields.Char(readonly=True,
                              help="The store's id of the cancellation reason chosen.")
    reason_text = fields.Char(string="Reason", readonly=True,
                              help="The reason's name, and the person's message where the reason needs one.")
    reason_message = fields.Char(readonly=True,
                                 help="What the person wrote for the store, where the reason needs it.")

    def _status_update(self):
        update = super()._status_update()
        return dataclasses.replace(update, reason_code=self.reason_code or "",
                                   reason_text=self.reason_message or "")
