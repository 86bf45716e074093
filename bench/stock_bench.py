"""Availability of a whole catalog: sale_inbox's SQL aggregate beside Odoo's stock fields.

    stock_bench.py --config C --db D [--sizes 1000,10000,50000]

Builds N storable products with stock in the channel's warehouse, a pending delivery for one
product in ten, store orders for one in ten (sales orders of the channel, one in five of them
still a quotation, each with its processed inbox order) and an inbox order not yet processed
for one in twenty (written in SQL: the set-up is not what is measured), then prints for
each N: the time and queries of ``sale.channel.stock._available`` for the whole catalog, and
of reading ``qty_available``/``free_qty``/``outgoing_qty`` for the same products.
Everything is rolled back at the end.
"""
import argparse
import json
import os
import sys
import time


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--sizes", default="1000,10000,50000")
    args = parser.parse_args(argv)

    import odoo
    from odoo import SUPERUSER_ID, api
    from odoo.modules.registry import Registry

    odoo.tools.config.parse_config(["-c", args.config, "-d", args.db, "--log-level=warn"])
    registry = Registry(args.db)
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        warehouse = env["stock.warehouse"].search([], limit=1)
        channel = env["sale.channel"].create({"name": "Stock bench", "warehouse_id": warehouse.id})
        made = 0
        for size in sorted(int(n) for n in args.sizes.split(",")):
            _add_products(env, warehouse, made, size - made)
            _add_store_orders(env, channel, made, size - made)
            made = size
            env.invalidate_all()
            products = env["product.product"].search([("default_code", "=like", "SB-%")])
            before, began = cr.sql_log_count, time.perf_counter()
            figures = env["sale.channel.stock"]._available(channel)
            ours = time.perf_counter() - began
            our_queries = cr.sql_log_count - before
            if os.environ.get("EXPLAIN"):
                _explain(env, channel, size)

            env.invalidate_all()
            before, began = cr.sql_log_count, time.perf_counter()
            products.with_context(warehouse_id=warehouse.id).read(["qty_available", "free_qty", "outgoing_qty"])
            odoo_seconds = time.perf_counter() - began
            odoo_queries = cr.sql_log_count - before
            print(f"{size:>6} SKUs: availability in {ours:.3f} s, {our_queries} queries "
                  f"({len(figures)} products with figures) | Odoo's stock fields: {odoo_seconds:.2f} s, "
                  f"{odoo_queries} queries", flush=True)
            _sync_calls(env, warehouse, size)
        cr.rollback()
    return 0


def _explain(env, channel, size):
    """EXPLAIN ANALYZE of the availability query into EXPLAIN-<size>.txt (EXPLAIN=1): the
    plan the figure above was made with, statistics as they were."""
    cursor_class = type(env.cr)
    execute = cursor_class.execute
    seen = []

    def spy(cr, query, params=None, log_exceptions=True):
        if "inbox_skus" in str(query):
            seen.append((query, params))
        return execute(cr, query, params, log_exceptions)

    cursor_class.execute = spy
    try:
        env["sale.channel.stock"]._figures(channel)
    finally:
        cursor_class.execute = execute
    query, params = seen[-1]
    env.cr.execute("EXPLAIN (ANALYZE, BUFFERS) " + query, params)
    with open(f"EXPLAIN-{size}.txt", "w", encoding="utf-8") as out:
        out.write("\n".join(row[0] for row in env.cr.fetchall()) + "\n")


def _sync_calls(env, warehouse, size):
    """API calls of a first full sync, then of a sync where 1% of the quantities changed, to a
    fake WooCommerce and a fake Shopify on 127.0.0.1 that know every SKU."""
    import pathlib
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
    from platforms.testing import FakeShopifyAdmin, FakeStore

    def woo_products(request):
        skus = request.query["sku"][0].split(",")
        return 200, {"X-WP-TotalPages": "1"}, [{"id": abs(hash(s)) % 10**9, "sku": s, "parent_id": 0} for s in skus]

    env.cr.execute("SELECT default_code FROM product_product WHERE default_code LIKE 'SB-%%'")
    skus = [row[0] for row in env.cr.fetchall()]
    for platform, batch in (("woocommerce", 100), ("shopify", 250)):
        with FakeStore() as store:
            values = {}
            if platform == "woocommerce":
                store.route("GET", "/wp-json/wc/v3/products", handler=woo_products)
                store.route("POST", "/wp-json/wc/v3/products/batch",
                            handler=lambda r: (200, {}, {"update": r.json()["update"]}))
                values = {"api_login": "k"}
            else:
                FakeShopifyAdmin(store, [
                    {"sku": sku, "id": f"gid://shopify/ProductVariant/{n}", "product": f"gid://shopify/Product/{n}",
                     "item": f"gid://shopify/InventoryItem/{n}", "price": "1.00", "available": 0}
                    for n, sku in enumerate(skus)])
                values = {"store_location": FakeShopifyAdmin.LOCATION}
            # The fake stores listen on 127.0.0.1, which channels reach only when allowed.
            env["ir.config_parameter"].sudo().set_param("sale_inbox.allow_private_store_addresses", "True")
            channel = env["sale.channel"].create({
                "name": f"Sync bench {platform} {size}", "platform": platform, "warehouse_id": warehouse.id,
                "store_url": store.url, "api_secret": "s", **values})
            began = time.perf_counter()
            first = channel._sync_stock()
            first_seconds = time.perf_counter() - began
            env.cr.execute("SAVEPOINT one_percent")
            env.cr.execute("""
                UPDATE stock_quant SET quantity = quantity + 1
                 WHERE product_id IN (SELECT id FROM product_product WHERE default_code LIKE 'SB-%%'
                                       ORDER BY id LIMIT %s)""", (max(1, size // 100),))
            env.invalidate_all()
            began = time.perf_counter()
            again = channel._sync_stock("daily")
            again_seconds = time.perf_counter() - began
            line = (f"{'':>6}       {platform}: first sync {first.changed} sent with {first.api_calls} API calls "
                    f"(look-ups, batches of {batch}) in {first_seconds:.1f} s | 1% changed: {again.changed} "
                    f"sent with {again.api_calls} API calls in {again_seconds:.1f} s")
            # The next platform starts from the same stock.
            env.cr.execute("ROLLBACK TO SAVEPOINT one_percent")
            env.invalidate_all()
        print(line, flush=True)


def _add_products(env, warehouse, start, count):
    """count products SB-<n> with stock, and a pending delivery for one in ten, in bulk."""
    if count <= 0:
        return
    cr = env.cr
    uom = env.ref("uom.product_uom_unit").id
    templates = env["product.template"].with_context(tracking_disable=True).create([
        {"name": f"Stock bench {n}", "default_code": f"SB-{n}", "is_storable": True, "uom_id": uom,
         "uom_po_id": uom}
        for n in range(start, start + count)
    ])
    env.flush_all()
    customers = env.ref("stock.stock_location_customers").id
    stock = warehouse.lot_stock_id.id
    company = warehouse.company_id.id
    cr.execute(
        """
        INSERT INTO stock_quant (product_id, location_id, company_id, quantity, reserved_quantity, in_date)
        SELECT p.id, %s, %s, 10 + (p.id %% 50), 0, now()
          FROM product_product p WHERE p.product_tmpl_id = ANY(%s)
        """,
        (stock, company, templates.ids),
    )
    # A sales order line per product in ten, waiting to be delivered.
    line = env["sale.order.line"].search([], limit=1)
    if not line:
        partner = env["res.partner"].create({"name": "Stock bench customer"})
        product = env["product.product"].search([("product_tmpl_id", "in", templates.ids)], limit=1)
        line = env["sale.order"].create({"partner_id": partner.id, "order_line": [
            (0, 0, {"product_id": product.id, "product_uom_qty": 1})]}).order_line
    cr.execute(
        """
        INSERT INTO stock_move (company_id, product_id, product_uom, location_id, location_dest_id, name,
                                procure_method, product_uom_qty, product_qty, date, state, sale_line_id,
                                warehouse_id)
        SELECT %s, p.id, %s, %s, %s, 'bench', 'make_to_stock', 3, 3, now(), 'confirmed', %s, %s
          FROM product_product p WHERE p.product_tmpl_id = ANY(%s) AND p.id %% 10 = 0
        """,
        (company, uom, stock, customers, line.id or None, warehouse.id, templates.ids),
    )


def _add_store_orders(env, channel, start, count):
    """Store orders for products SB-<start>… in bulk, copied in SQL from one sales order and one
    inbox order made by the ORM: a sales order of the channel for one product in ten (one in
    five a quotation: the others confirmed, their deliveries being what ``_add_products``
    writes), each with its inbox order, and an inbox order waiting for one product in twenty."""
    if count <= 0:
        return
    cr = env.cr
    codes = [f"SB-{n}" for n in range(start, start + count)]
    product = env["product.product"].search([("default_code", "=", codes[0])])
    partner = env["res.partner"].create({"name": "Stock bench store buyer"})
    order = env["sale.order"].create({"partner_id": partner.id, "channel_id": channel.id,
                                      "warehouse_id": channel.warehouse_id.id, "order_line": [
                                          (0, 0, {"product_id": product.id, "product_uom_qty": 2})]})
    body = json.dumps({"id": f"SB-TEMPLATE-{start}", "currency": env.company.currency_id.name,
                       "customer": {"email": "bench@example.com", "name": "Bench"},
                       "lines": [{"sku": codes[0], "name": "Bench", "quantity": 2, "unit_price": 1}],
                       "total": 2}).encode()
    inbox_id, _created, _answer = env["sale.inbox.order"]._receive(channel, body, "application/json")
    env.flush_all()

    def columns(table, *left_out):
        cr.execute("SELECT column_name FROM information_schema.columns WHERE table_name = %s", (table,))
        return [name for (name,) in cr.fetchall() if name not in ("id", *left_out)]

    so_columns = columns("sale_order", "name", "state")
    cr.execute(
        f"""
        INSERT INTO sale_order ({", ".join(so_columns)}, name, state)
        SELECT {", ".join(f"t.{c}" for c in so_columns)}, 'SBO-' || p.id,
               CASE WHEN p.id %% 50 = 5 THEN 'draft' ELSE 'sale' END
          FROM sale_order t, product_product p
         WHERE t.id = %s AND p.default_code = ANY(%s) AND p.id %% 10 = 5
        """,
        (order.id, codes),
    )
    line_columns = columns("sale_order_line", "order_id", "product_id", "state", "name")
    cr.execute(
        f"""
        INSERT INTO sale_order_line ({", ".join(line_columns)}, order_id, product_id, state, name)
        SELECT {", ".join(f"t.{c}" for c in line_columns)}, o.id, p.id, o.state, 'bench'
          FROM sale_order_line t, product_product p
          JOIN sale_order o ON o.name = 'SBO-' || p.id
         WHERE t.order_id = %s AND p.default_code = ANY(%s) AND p.id %% 10 = 5
        """,
        (order.id, codes),
    )
    inbox_columns = columns("sale_inbox_order", "external_id", "name", "state", "sale_order_id", "normalized")
    cr.execute(
        f"""
        INSERT INTO sale_inbox_order ({", ".join(inbox_columns)}, external_id, name, state, sale_order_id,
                                      normalized)
        SELECT {", ".join(f"t.{c}" for c in inbox_columns)}, 'SB-' || p.id, 'SB-' || p.id,
               CASE WHEN o.id IS NULL THEN 'new' WHEN o.state = 'draft' THEN 'needs_review' ELSE 'done' END,
               o.id,
               jsonb_set(t.normalized::jsonb, '{{lines}}',
                         jsonb_build_array(jsonb_build_object('sku', p.default_code, 'quantity', 2)))::text
          FROM sale_inbox_order t, product_product p
          LEFT JOIN sale_order o ON o.name = 'SBO-' || p.id
         WHERE t.id = %s AND p.default_code = ANY(%s) AND (p.id %% 10 = 5 OR p.id %% 20 = 7)
        """,
        (inbox_id, codes),
    )
    cr.execute("ANALYZE sale_order; ANALYZE sale_order_line; ANALYZE sale_inbox_order")


if __name__ == "__main__":
    sys.exit(main())
