from odoo import fields, models


class SaleInboxDelivery(models.Model):
    """One request a store made for an order, kept as received.

    The first delivery of an order creates its inbox record; a later delivery with other
    content (the order was paid, changed or cancelled in the store) waits here as
    ``pending`` until processing applies it, so that intake never waits for the lock of an
    order being processed. The same content delivered again is recorded once.
    """

    _name = "sale.inbox.delivery"
    _description = "Sales Inbox Delivery"
    _order = "id desc"
    _rec_name = "received_at"
    _check_company_auto = True

    order_id = fields.Many2one("sale.inbox.order", required=True, ondelete="cascade", index=True, check_company=True)
    channel_id = fields.Many2one("sale.channel", required=True, ondelete="cascade", check_company=True)
    company_id = fields.Many2one("res.company", required=True)
    received_at = fields.Datetime(required=True, readonly=True)
    fingerprint = fields.Char(required=True, readonly=True)
    payload = fields.Text(readonly=True, help="The body exactly as received.")
    content_type = fields.Char(readonly=True)
    normalized = fields.Text(string="Normalized Order", readonly=True)
    kind = fields.Selection(
        [("full", "Whole order"), ("patch", "Changes only")],
        required=True,
        default="full",
        readonly=True,
        help="Some stores send only what changed (a payment, a cancellation): such a patch is "
        "merged into the order's latest whole content.",
    )
    state = fields.Selection(
        [("pending", "Pending"), ("applied", "Applied"), ("superseded", "Superseded")],
        required=True,
        default="pending",
        readonly=True,
    )

    _sql_constraints = [
        (
            "fingerprint_unique",
            "unique(order_id, fingerprint)",
            "The same content of an order is recorded once.",
        ),
    ]

    def _auto_init(self):
        res = super()._auto_init()
        self.env.cr.execute(
            "CREATE INDEX IF NOT EXISTS sale_inbox_delivery_pending_idx "
            "ON sale_inbox_delivery (order_id) WHERE state = 'pending'"
        )
        return res
