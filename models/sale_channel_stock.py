"""What a channel tells its store is available, for a whole catalog in one query.

Available = on hand in the channel's warehouses
          − what confirmed sales orders still have to deliver from them
          − what store orders left as quotations (sales orders of a channel, draft or sent)
            will take from them
          − what inbox orders not yet turned into sales orders have sold,
then the channel's formula: less the reserve, 0 under the threshold, at most the cap,
never negative. Reading Odoo's ``free_qty``/``qty_available`` fields for 50,000 products
costs seconds and hundreds of queries; the same figures are one SQL aggregate.
"""
from odoo import models


class SaleChannelStock(models.AbstractModel):
    _name = "sale.channel.stock"
    _description = "Sales Channel Stock Availability"

    def _warehouses(self, channel):
        warehouses = channel.stock_warehouse_ids or channel.warehouse_id
        if not warehouses:
            warehouses = self.env["stock.warehouse"].search([("company_id", "=", channel.company_id.id)], limit=1)
        return warehouses

    @staticmethod
    def _store_warehouse_sources(store_warehouse):
        """The Odoo warehouses whose stock a store warehouse (``sale.channel.warehouse``) is
        sent: its own list, else the warehouse its orders ship from."""
        return store_warehouse.stock_warehouse_ids or store_warehouse.warehouse_id

    def _figures(self, channel, product_ids=None, warehouses=None):
        """{product id: (on hand, to deliver, in store quotations, in the inbox)} for the
        channel's warehouses (or ``warehouses``: one store warehouse's, for stores that keep
        stock per warehouse)."""
        warehouses = warehouses or self._warehouses(channel)
        if not warehouses:
            return {}
        self.env.flush_all()
        params = {
            "warehouses": warehouses.ids,
            "products": list(product_ids) if product_ids is not None else None,
        }
        # Without JIT: the statement's estimated cost (high whenever statistics are stale, as
        # after an import) makes PostgreSQL compile it with LLVM, inlined and optimised: 1.4 s
        # of the 1.7 s for 50,000 products, for hash and sort work that compiled code does not
        # speed up. SET LOCAL in the same call (no extra round trip) lasts until the end of the
        # transaction; Odoo's short queries after it gain nothing from JIT either.
        self.env.cr.execute(
            """
            SET LOCAL jit = off;
            WITH channels AS (
                -- Where each channel's orders are delivered from: its warehouse, else its
                -- company's first one (Odoo's default for the sales order); the orders a
                -- marketplace fulfils itself (Ozon FBO), from its FBO warehouse.
                SELECT c.id, c.company_id, COALESCE(c.warehouse_id, fallback.id) AS warehouse_id,
                       c.fbo_warehouse_id
                  FROM sale_channel c
                  LEFT JOIN LATERAL (
                        SELECT w.id FROM stock_warehouse w
                         WHERE w.company_id = c.company_id AND w.active
                         ORDER BY w.sequence, w.id LIMIT 1) AS fallback ON true
            ), onhand AS (
                -- The warehouses' internal locations first, as a list: joined instead, with
                -- the quants' statistics stale (after an import) the planner expects one quant
                -- and scans the locations once for every quant (2 s for 50,000 products).
                SELECT q.product_id, SUM(q.quantity) AS qty
                  FROM stock_quant q
                 WHERE q.location_id = ANY(ARRAY(
                        SELECT l.id FROM stock_location l
                         WHERE l.usage = 'internal' AND l.warehouse_id = ANY(%(warehouses)s)))
                   AND (%(products)s::int[] IS NULL OR q.product_id = ANY(%(products)s::int[]))
                 GROUP BY q.product_id
            ), to_deliver AS (
                -- The last move of each sales order line (towards the customer): counted once
                -- whatever the number of delivery steps.
                SELECT m.product_id, SUM(m.product_qty) AS qty
                  FROM stock_move m
                  JOIN stock_location src ON src.id = m.location_id
                  JOIN stock_location dst ON dst.id = m.location_dest_id
                 WHERE m.state NOT IN ('draft', 'done', 'cancel')
                   AND m.sale_line_id IS NOT NULL
                   AND dst.usage = 'customer'
                   AND src.warehouse_id = ANY(%(warehouses)s)
                   AND (%(products)s::int[] IS NULL OR m.product_id = ANY(%(products)s::int[]))
                 GROUP BY m.product_id
            ), quoted AS (
                -- A store order is sold from the moment it is in Odoo: its sales order still a
                -- quotation (held for review, or a channel that does not confirm) reserves
                -- nothing yet, so its lines count here, in the product's unit, until it is
                -- confirmed (then its moves count) or cancelled.
                SELECT l.product_id, SUM(l.product_uom_qty / line_uom.factor * product_uom.factor) AS qty
                  FROM sale_order o
                  JOIN sale_order_line l ON l.order_id = o.id
                  JOIN product_product p ON p.id = l.product_id
                  JOIN product_template t ON t.id = p.product_tmpl_id
                  JOIN uom_uom line_uom ON line_uom.id = l.product_uom
                  JOIN uom_uom product_uom ON product_uom.id = t.uom_id
                 WHERE o.channel_id IS NOT NULL AND o.state IN ('draft', 'sent')
                   -- A quotation its marketplace cancelled holds nothing once the cancellation
                   -- is applied: the goods are back (Goods Returned sets the order back to a
                   -- quotation), or it was cancelled (a person may have set it back). One
                   -- waiting for its goods, or whose cancellation failed, still holds them.
                   AND NOT EXISTS (
                        SELECT 1 FROM sale_inbox_cancellation c
                         WHERE c.sale_order_id = o.id
                           AND c.action IN ('returned', 'moved_to_fbo', 'auto_cancelled', 'nothing'))
                   AND COALESCE(l.warehouse_id, o.warehouse_id) = ANY(%(warehouses)s)
                   AND (%(products)s::int[] IS NULL OR l.product_id = ANY(%(products)s::int[]))
                 GROUP BY l.product_id
            ), inbox_skus AS MATERIALIZED (
                -- Store orders not yet sales orders, by SKU and company: read first and on
                -- their own, so that the lines of the few open orders drive the product look-up.
                -- Each counts where it will ship from, as processing chooses: the FBO warehouse
                -- for an order the marketplace fulfils (never the merchant's own stock), the
                -- Odoo warehouse its store warehouse is mapped to (not mapped yet: the ones that
                -- store warehouse's stock is taken from), else the channel's warehouse.
                SELECT c.company_id, line->>'sku' AS sku, SUM((line->>'quantity')::numeric) AS qty
                  FROM sale_inbox_order o
                  JOIN channels c ON c.id = o.channel_id
                 CROSS JOIN LATERAL (SELECT o.normalized::jsonb AS doc) AS n
                  LEFT JOIN sale_channel_warehouse sw
                         ON sw.channel_id = o.channel_id AND sw.ref = n.doc->>'warehouse_ref'
                 CROSS JOIN LATERAL jsonb_array_elements(n.doc -> 'lines') AS line
                 WHERE o.sale_order_id IS NULL
                   AND o.normalized IS NOT NULL
                   AND o.state IN ('new', 'waiting_payment', 'processing', 'error', 'needs_review')
                   AND CASE
                        WHEN n.doc->>'fulfilled_by' = 'marketplace' THEN c.fbo_warehouse_id = ANY(%(warehouses)s)
                        WHEN sw.warehouse_id IS NOT NULL THEN sw.warehouse_id = ANY(%(warehouses)s)
                        WHEN EXISTS (SELECT 1 FROM sale_channel_warehouse_stock_rel r
                                      WHERE r.channel_warehouse_id = sw.id)
                             THEN EXISTS (SELECT 1 FROM sale_channel_warehouse_stock_rel r
                                           WHERE r.channel_warehouse_id = sw.id
                                             AND r.warehouse_id = ANY(%(warehouses)s))
                        ELSE c.warehouse_id = ANY(%(warehouses)s)
                       END
                 GROUP BY c.company_id, line->>'sku'
            ), in_inbox AS (
                -- Their products as processing will find them: by SKU, of the channel's company
                -- or of none. One index look-up per SKU, whatever the statistics say of the
                -- product table (OFFSET 0 keeps the look-up from being turned into a join that
                -- scans every product for every SKU when they are off, as after an import).
                SELECT p.id AS product_id, SUM(s.qty) AS qty
                  FROM inbox_skus s
                 CROSS JOIN LATERAL (
                        SELECT pp.id FROM product_product pp
                          JOIN product_template t ON t.id = pp.product_tmpl_id
                         WHERE pp.default_code = s.sku AND pp.active
                           AND COALESCE(t.company_id, s.company_id) = s.company_id
                        OFFSET 0) AS p
                 WHERE %(products)s::int[] IS NULL OR p.id = ANY(%(products)s::int[])
                 GROUP BY p.id
            )
            SELECT product_id, COALESCE(SUM(onhand), 0), COALESCE(SUM(deliver), 0),
                   COALESCE(SUM(quoted), 0), COALESCE(SUM(inbox), 0)
              FROM (SELECT product_id, qty AS onhand, 0 AS deliver, 0 AS quoted, 0 AS inbox FROM onhand
                    UNION ALL SELECT product_id, 0, qty, 0, 0 FROM to_deliver
                    UNION ALL SELECT product_id, 0, 0, qty, 0 FROM quoted
                    UNION ALL SELECT product_id, 0, 0, 0, qty FROM in_inbox) AS figures
             GROUP BY product_id
            """,
            params,
        )
        return {pid: (float(h), float(d), float(q), float(i)) for pid, h, d, q, i in self.env.cr.fetchall()}

    def _available(self, channel, product_ids=None, warehouses=None):
        """{product id: quantity to send} (products with no stock at all are left out when
        ``product_ids`` is None: the caller sends 0 for the mapped ones it does not find);
        ``warehouses``: see ``_figures``."""
        return {pid: self._apply_formula(channel, *figures)
                for pid, figures in self._figures(channel, product_ids, warehouses).items()}

    @staticmethod
    def _apply_formula(channel, onhand, to_deliver, quoted, in_inbox):
        quantity = onhand - to_deliver - quoted - in_inbox - (channel.stock_reserve or 0)
        if quantity < (channel.stock_threshold or 0):
            quantity = 0
        if channel.stock_cap:
            quantity = min(quantity, channel.stock_cap)
        return max(0.0, quantity)

    def _explain(self, channel, product, warehouses=None):
        """The computation for one product, in words (``warehouses``: see ``_figures``)."""
        warehouses = warehouses or self._warehouses(channel)
        onhand, to_deliver, quoted, in_inbox = self._figures(channel, [product.id], warehouses).get(
            product.id, (0.0, 0.0, 0.0, 0.0))
        sent = self._apply_formula(channel, onhand, to_deliver, quoted, in_inbox)
        parts = [
            self.env._("%(qty)s on hand in %(warehouses)s", qty=onhand,
              warehouses=", ".join(warehouses.mapped("name")) or "-"),
            self.env._("− %s still to deliver for confirmed sales orders", to_deliver),
            self.env._("− %s in store orders left as quotations", quoted),
            self.env._("− %s in inbox orders not yet turned into sales orders", in_inbox),
        ]
        if channel.stock_reserve:
            parts.append(self.env._("− %s kept in reserve", channel.stock_reserve))
        rules = []
        if channel.stock_threshold:
            rules.append(self.env._("0 when under %s", channel.stock_threshold))
        if channel.stock_cap:
            rules.append(self.env._("at most %s", channel.stock_cap))
        rules.append(self.env._("never negative"))
        return self.env._("%(product)s (SKU %(sku)s): %(parts)s; %(rules)s. Sent to the store: %(sent)s.",
                 product=product.display_name, sku=product.default_code or "-",
                 parts=" ".join(parts), rules=", ".join(rules), sent=sent)
