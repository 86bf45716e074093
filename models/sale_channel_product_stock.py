"""A store product's stock at one of the store's own warehouses (marketplaces: Ozon).

Stores that keep stock per warehouse of their own (the channel's store warehouses) are sent
one quantity per product and warehouse. Each pair remembers what the store last accepted and
when it was last sent, so that only changes are sent and no pair is sent again within the
store's minimum interval (Ozon: 30 s per product and warehouse).
"""
from odoo import api, fields, models

from .sale_channel import MANAGER, check_group_access


class SaleChannelProductStock(models.Model):
    _name = "sale.channel.product.stock"
    _inherit = ["channel.owned.mixin"]
    _description = "Store Product Stock per Warehouse"
    _order = "product_row_id, store_warehouse_id"
    _rec_name = "sku"

    product_row_id = fields.Many2one("sale.channel.product", string="Store Product", required=True,
                                     ondelete="cascade", index=True, readonly=True)
    channel_id = fields.Many2one("sale.channel", required=True, ondelete="cascade", index=True, readonly=True)
    company_id = fields.Many2one("res.company", required=True, index=True, readonly=True)
    store_warehouse_id = fields.Many2one("sale.channel.warehouse", required=True, ondelete="cascade",
                                         index=True, readonly=True)
    sku = fields.Char(related="product_row_id.sku", string="SKU")
    product_id = fields.Many2one(related="product_row_id.product_id")
    state = fields.Selection(
        [("sent", "Accepted"), ("waiting", "Waiting"), ("refused", "Refused")], readonly=True,
        help="Waiting: the store asked for time (a pair is taken at most every 30 s); a later run "
        "sends it. Refused: see the error.")
    last_quantity = fields.Float(string="Last Quantity Accepted", readonly=True, digits="Product Unit of Measure")
    last_sync_at = fields.Datetime(string="Accepted On", readonly=True)
    last_sent_at = fields.Datetime(string="Sent On", readonly=True,
                                   help="When the quantity was last sent, accepted or not.")
    last_error = fields.Char(readonly=True)
    # Reconciliation: the store's figures at this warehouse against Odoo's.
    store_present = fields.Float(string="Present", readonly=True, digits="Product Unit of Measure")
    store_reserved = fields.Float(string="Reserved", readonly=True, digits="Product Unit of Measure")
    store_quantity = fields.Float(string="In the Store", readonly=True, digits="Product Unit of Measure",
                                  help="What can be sold there: present less reserved.")
    odoo_quantity = fields.Float(string="Odoo Would Send", readonly=True, digits="Product Unit of Measure")
    reconciled_at = fields.Datetime(string="Compared On", readonly=True)
    differs = fields.Boolean(readonly=True, index=True)

    _sql_constraints = [
        ("pair_unique", "unique(product_row_id, store_warehouse_id)",
         "A product has one stock per store warehouse."),
    ]

    @api.model
    def _states(self, rows, store_warehouses):
        """{(row id, store warehouse id): (last quantity, accepted on, sent on)} in one query."""
        self.flush_model()
        self.env.cr.execute(
            """SELECT product_row_id, store_warehouse_id, last_quantity, last_sync_at, last_sent_at
                 FROM sale_channel_product_stock
                WHERE product_row_id = ANY(%s) AND store_warehouse_id = ANY(%s)""",
            (rows.ids, store_warehouses.ids))
        return {(r, w): (q, synced, sent) for r, w, q, synced, sent in self.env.cr.fetchall()}

    @api.model
    def _record_answers(self, channel, answers):
        """[(row id, store warehouse id, quantity, state, error)] of one request, in one
        statement: an accepted pair's quantity becomes both figures of the report; a waiting or
        refused one keeps what was accepted before, and is still a change to send."""
        if not answers:
            return
        self.flush_model()
        columns = list(zip(*answers, strict=True))
        self.env.cr.execute(
            """
            INSERT INTO sale_channel_product_stock AS s
                   (product_row_id, store_warehouse_id, channel_id, company_id, state, last_quantity,
                    last_sync_at, last_sent_at, last_error, store_quantity, odoo_quantity, differs,
                    create_uid, create_date, write_uid, write_date)
            SELECT v.row_id, v.wh_id, %(channel)s, %(company)s, v.state,
                   CASE WHEN v.state = 'sent' THEN v.qty ELSE 0 END,
                   CASE WHEN v.state = 'sent' THEN %(now)s END, %(now)s, NULLIF(v.error, ''),
                   CASE WHEN v.state = 'sent' THEN v.qty ELSE 0 END,
                   CASE WHEN v.state = 'sent' THEN v.qty ELSE 0 END, false,
                   %(uid)s, %(now)s, %(uid)s, %(now)s
              FROM unnest(%(rows)s::int[], %(whs)s::int[], %(qtys)s::float[], %(states)s::varchar[],
                          %(errors)s::varchar[]) AS v(row_id, wh_id, qty, state, error)
            ON CONFLICT (product_row_id, store_warehouse_id) DO UPDATE SET
                   state = EXCLUDED.state, last_sent_at = EXCLUDED.last_sent_at, last_error = EXCLUDED.last_error,
                   last_quantity = CASE WHEN EXCLUDED.state = 'sent' THEN EXCLUDED.last_quantity
                                        ELSE s.last_quantity END,
                   last_sync_at = COALESCE(EXCLUDED.last_sync_at, s.last_sync_at),
                   store_quantity = CASE WHEN EXCLUDED.state = 'sent' THEN EXCLUDED.store_quantity
                                         ELSE s.store_quantity END,
                   odoo_quantity = CASE WHEN EXCLUDED.state = 'sent' THEN EXCLUDED.odoo_quantity
                                        ELSE s.odoo_quantity END,
                   differs = CASE WHEN EXCLUDED.state = 'sent' THEN false ELSE s.differs END,
                   write_uid = EXCLUDED.write_uid, write_date = EXCLUDED.write_date
            """,
            {"channel": channel.id, "company": channel.company_id.id, "now": fields.Datetime.now(),
             "uid": self.env.uid, "rows": list(columns[0]), "whs": list(columns[1]),
             "qtys": [float(q) for q in columns[2]], "states": list(columns[3]),
             "errors": [(e or "")[:250] for e in columns[4]]})
        self.invalidate_model()

    @api.model
    def _reconcile(self, channel, rows, items):
        """The store's stock per warehouse against Odoo's, for the mapped ``rows``, from the
        catalog's items ({SKU: item with ``warehouses``}); the rows get the sums. Returns how
        many rows differ."""
        store_warehouses = channel._stock_store_warehouses()
        Stock = self.env["sale.channel.stock"]
        available = {w.id: Stock._available(channel, rows.product_id.ids, warehouses=Stock._store_warehouse_sources(w))
                     for w in store_warehouses}
        figures = []
        for row in rows:
            item = items.get(row.sku)
            per_warehouse = getattr(item, "warehouses", None) or {}
            for warehouse in store_warehouses:
                present, reserved = per_warehouse.get(warehouse.ref, (0, 0))
                store, odoo = float(present) - float(reserved), available[warehouse.id].get(row.product_id.id, 0.0)
                figures.append((row.id, warehouse.id, float(present), float(reserved), store, odoo,
                                item is None or store != odoo))
        if not figures:
            return 0
        self.flush_model()
        columns = list(zip(*figures, strict=True))
        now = fields.Datetime.now()
        self.env.cr.execute(
            """
            INSERT INTO sale_channel_product_stock AS s
                   (product_row_id, store_warehouse_id, channel_id, company_id, store_present, store_reserved,
                    store_quantity, odoo_quantity, differs, reconciled_at, create_uid, create_date, write_uid,
                    write_date)
            SELECT v.row_id, v.wh_id, %(channel)s, %(company)s, v.present, v.reserved, v.store, v.odoo, v.differs,
                   %(now)s, %(uid)s, %(now)s, %(uid)s, %(now)s
              FROM unnest(%(rows)s::int[], %(whs)s::int[], %(present)s::float[], %(reserved)s::float[],
                          %(store)s::float[], %(odoo)s::float[], %(differs)s::bool[])
                   AS v(row_id, wh_id, present, reserved, store, odoo, differs)
            ON CONFLICT (product_row_id, store_warehouse_id) DO UPDATE SET
                   store_present = EXCLUDED.store_present, store_reserved = EXCLUDED.store_reserved,
                   store_quantity = EXCLUDED.store_quantity, odoo_quantity = EXCLUDED.odoo_quantity,
                   differs = EXCLUDED.differs, reconciled_at = EXCLUDED.reconciled_at,
                   write_uid = EXCLUDED.write_uid, write_date = EXCLUDED.write_date
            """,
            {"channel": channel.id, "company": channel.company_id.id, "now": now, "uid": self.env.uid,
             "rows": list(columns[0]), "whs": list(columns[1]), "present": list(columns[2]),
             "reserved": list(columns[3]), "store": list(columns[4]), "odoo": list(columns[5]),
             "differs": list(columns[6])})
        self.env.cr.execute(
            """
            UPDATE sale_channel_product AS row
               SET store_quantity = agg.store, odoo_quantity = agg.odoo, differs = agg.differs,
                   store_tracks_stock = true, reconciled_at = %s
              FROM (SELECT product_row_id, SUM(store_quantity) AS store, SUM(odoo_quantity) AS odoo,
                           bool_or(differs) AS differs
                      FROM sale_channel_product_stock
                     WHERE product_row_id = ANY(%s) AND store_warehouse_id = ANY(%s)
                     GROUP BY product_row_id) AS agg
             WHERE row.id = agg.product_row_id
            RETURNING row.differs
            """,
            (now, rows.ids, store_warehouses.ids))
        differing = sum(1 for (differs,) in self.env.cr.fetchall() if differs)
        self.env.invalidate_all()
        return differing

    def action_push_odoo_quantity(self):
        """Send Odoo's figure for these pairs' products now (their other warehouses too)."""
        check_group_access(self, MANAGER, "write")
        return self.product_row_id.action_push_odoo_quantity()
