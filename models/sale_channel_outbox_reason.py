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

    def _give_up(self, error):
        """A cancellation the store refused (or never took): the order is cancelled in Odoo
        but not in the store. The channel's Responsible is asked to see to it."""
        result = super()._give_up(error)
        for message in self.filtered(lambda m: m.odoo_stage == "cancelled" and m.reason_code):
            order = message.sale_order_id
            channel = message.channel_id
            person = channel.responsible_id or channel.user_id or order.user_id
            if not person.active:
                continue
            order.activity_schedule(
                "mail.mail_activity_data_todo", user_id=person.id,
                summary=self.env._("%s refused the cancellation", channel.name),
                note=self.env._("%(store)s refused to cancel %(number)s for the reason “%(reason)s”: %(error)s. "
                                "The order is cancelled in Odoo only: cancel it in the store, or settle it "
                                "with the buyer.", store=channel.name, number=message.external_id,
                                reason=message.reason_text or message.reason_code, error=error))
        return result
