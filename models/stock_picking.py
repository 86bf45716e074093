from odoo import models


class StockPicking(models.Model):
    _inherit = "stock.picking"

    def _action_done(self):
        result = super()._action_done()
        # A delivery done is a stage of its sales order that its store may have to hear of.
        self.sale_id._sale_inbox_stage_changed()
        # After the status mapping: "assembled" it queued already is not queued twice.
        self._store_assembled_on_validate()
        return result

    def _send_confirmation_email(self):
        """Odoo's delivery confirmation (and its text message) goes only to customers in the
        countries their channel e-mails; the delivery's chatter says why one was not sent."""
        held = self.browse()
        # As superuser: whoever validates a delivery (a warehouse worker) may not read the
        # sales order or its channel.
        for picking in self.sudo().filtered(lambda p: p.sale_id.channel_id and p.picking_type_code == "outgoing"):
            refusal = picking.sale_id.channel_id._customer_email_refusal(picking.partner_id)
            if refusal:
                held |= picking
                picking._message_log(body=self.env._("Delivery confirmation: %s.", refusal))
        return super(StockPicking, self - held)._send_confirmation_email()
