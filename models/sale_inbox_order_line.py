"""The store's lines of an inbox order, as the review screen shows them.

A read-only model over a SQL view of the normalized JSON, not a table filled when the order
arrives: intake is the inbox's hot path (benchmarked, one statement per order) and a stored
line model would add an insert per order there, plus a rewrite on every new version of the
order, for a table that people read only when they open an order. The view costs nothing
until an order is opened; then it reads that order's JSON (``jsonb_array_elements``) and
looks each SKU up in one lateral subquery, exactly as the products step finds it (the
variant's Internal Reference, active, of no company or the order's company).

Every read names its orders: the form reads the lines of one order (``order_id`` is the
order's own id, so PostgreSQL filters the orders before it parses any JSON), and a read by
id (a button on a line) is narrowed to the orders the ids belong to (``_fetch_query``),
since a line's id is computed (``order id * LINE_KEY + position``) and a filter on it alone
would parse every order's JSON.
"""
from odoo import api, fields, models, tools
from odoo.tools import SQL

#: A line's id is its order's id times this plus its position in the order (from 1).
LINE_KEY = 1_000_000

PRODUCT_STATES = [
    ("found", "Found"),
    ("missing", "Not in Odoo"),
    ("ambiguous", "Several products"),
    ("no_sku", "No SKU"),
]


class SaleInboxOrderLine(models.Model):
    _name = "sale.inbox.order.line"
    _description = "Sales Inbox Order Line (from the store)"
    _auto = False
    _order = "order_id, sequence"
    _rec_name = "sku"
    # What the view reads: flushed before it is queried (a SKU just linked shows at once).
    _depends = {
        "sale.inbox.order": ["normalized", "company_id", "channel_id"],
        "product.product": ["default_code", "active", "product_tmpl_id"],
        "product.template": ["company_id"],
    }

    order_id = fields.Many2one("sale.inbox.order", readonly=True)
    company_id = fields.Many2one("res.company", readonly=True)
    channel_id = fields.Many2one("sale.channel", readonly=True)
    sequence = fields.Integer(readonly=True)
    sku = fields.Char(string="SKU", readonly=True)
    name = fields.Char(string="Description", readonly=True)
    quantity = fields.Float(readonly=True, digits="Product Unit of Measure")
    unit_price = fields.Float(readonly=True, digits="Product Price")
    discount = fields.Float(readonly=True, digits="Product Price",
                            help="The store's discount on the whole line, as an amount.")
    tax_rate = fields.Float(string="Store Tax %", readonly=True,
                            help="The tax rate the store gave for the line, when it gave one (informative: "
                            "Odoo applies the product's own taxes).")
    has_tax_rate = fields.Boolean(readonly=True)
    product_id = fields.Many2one("product.product", string="Odoo Product", readonly=True)
    product_state = fields.Selection(PRODUCT_STATES, string="Product", readonly=True)

    def init(self):
        tools.drop_view_if_exists(self.env.cr, self._table)
        self.env.cr.execute(SQL(
            """
            CREATE VIEW %(table)s AS (
                SELECT o.id::bigint * %(key)s + l.position AS id,
                       o.id AS order_id, o.company_id, o.channel_id, l.position::int AS sequence,
                       l.line->>'sku' AS sku,
                       l.line->>'name' AS name,
                       %(quantity)s AS quantity,
                       %(unit_price)s AS unit_price,
                       %(discount)s AS discount,
                       %(tax_rate)s AS tax_rate,
                       jsonb_typeof(l.line->'tax_rate') = 'number' AS has_tax_rate,
                       CASE WHEN p.found = 1 THEN p.product_id END AS product_id,
                       CASE WHEN coalesce(l.line->>'sku', '') = '' THEN 'no_sku'
                            WHEN p.found = 0 THEN 'missing'
                            WHEN p.found > 1 THEN 'ambiguous'
                            ELSE 'found' END AS product_state
                  FROM sale_inbox_order o
                 CROSS JOIN LATERAL jsonb_array_elements(
                           CASE WHEN jsonb_typeof(o.normalized::jsonb->'lines') = 'array'
                                THEN o.normalized::jsonb->'lines' ELSE '[]'::jsonb END
                       ) WITH ORDINALITY AS l(line, position)
                  LEFT JOIN LATERAL (
                       -- As the products step finds a SKU: sale.inbox.processor._step_products
                       SELECT count(*) AS found, min(pp.id) AS product_id
                         FROM product_product pp
                         JOIN product_template pt ON pt.id = pp.product_tmpl_id
                        WHERE pp.default_code = l.line->>'sku' AND pp.active
                          AND (pt.company_id IS NULL OR pt.company_id = o.company_id)
                       ) p ON TRUE
                 WHERE o.normalized IS NOT NULL
            )
            """,
            table=SQL.identifier(self._table),
            key=LINE_KEY,
            quantity=_number("quantity"),
            unit_price=_number("unit_price"),
            discount=_number("discount"),
            tax_rate=_number("tax_rate"),
        ))

    def _fetch_query(self, query, fields):
        # Narrowed to the lines' orders: see the module's docstring.
        order_ids = tuple({record_id // LINE_KEY for record_id in self._ids if isinstance(record_id, int)})
        if order_ids:
            query.add_where(SQL("%s IN %s", SQL.identifier(self._table, "order_id"), order_ids))
        return super()._fetch_query(query, fields)

    @api.depends("sku", "name")
    def _compute_display_name(self):
        for line in self:
            line.display_name = " ".join(filter(None, [f"[{line.sku}]" if line.sku else "", line.name]))

    # ------------------------------------------------------------------
    # Buttons (each checks its rights in the order's methods)
    # ------------------------------------------------------------------

    def action_link_product(self):
        self.ensure_one()
        return self.order_id.action_open_link_product(self.sku)

    def action_create_product(self):
        self.ensure_one()
        return self.order_id.action_create_product_for_sku(self.sku)


def _number(key):
    """A number of the line's JSON, NULL when it is not one (a hand-corrected order may hold
    anything the reading of the order accepts)."""
    return SQL(
        "CASE WHEN jsonb_typeof(l.line->%(key)s) = 'number' THEN (l.line->>%(key)s)::numeric END",
        key=key,
    )
