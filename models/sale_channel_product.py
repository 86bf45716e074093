from odoo import fields, models


class SaleChannelProduct(models.Model):
    """What a store knows a product by, and the last quantity it accepted for it."""

    _name = "sale.channel.product"
    _description = "Store Product"
    _order = "channel_id, sku"
    _rec_name = "sku"

    channel_id = fields.Many2one("sale.channel", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="channel_id.company_id", store=True, index=True)
    product_id = fields.Many2one("product.product", required=True, ondelete="cascade", index=True)
    sku = fields.Char(string="SKU", required=True)
    state = fields.Selection(
        [("mapped", "In the store"), ("not_in_store", "Not in the store")],
        required=True, default="mapped",
        help="SKUs the store does not know are listed here, not guessed; they are looked up again "
        "at each sync.",
    )
    remote_id = fields.Char(string="Store ID", readonly=True)
    remote_parent_id = fields.Char(string="Store Parent ID", readonly=True,
                                   help="The product a variation belongs to, in the store.")
    last_quantity = fields.Float(string="Last Quantity Accepted", readonly=True,
                                 digits="Product Unit of Measure")
    last_price = fields.Float(string="Last Price Accepted", readonly=True, digits="Product Price")
    last_sync_at = fields.Datetime(string="Accepted On", readonly=True)
    last_error = fields.Char(readonly=True)

    _sql_constraints = [
        ("product_unique", "unique(channel_id, product_id)", "A product is mapped once per channel."),
    ]
