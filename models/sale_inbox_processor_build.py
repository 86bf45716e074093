"""Processing, building the sales order: customers and their addresses, products by SKU,
currency and pricelist, then the sales orders themselves.

Each step acts on the orders that have no sales document yet and lets the others through.
The ``_prepare_*_vals`` methods are the override points for what is created."""
from collections import defaultdict

from odoo import Command, models
from odoo.osv import expression
from odoo.tools import float_round

from ..platforms.base import utc_naive

_ADDRESS_KEYS = ("name", "street", "street2", "city", "zip", "country_id", "state_id")


def _like_escape(text):
    """``text`` as a LIKE pattern matching only itself."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _to_build(orders):
    return orders.filtered(lambda o: not o.sale_order_id)


class SaleInboxProcessor(models.AbstractModel):
    _inherit = "sale.inbox.processor"

    # ------------------------------------------------------------------
    # Steps
    # ------------------------------------------------------------------

    def _step_drop_outdated_drafts(self, run, orders):
        """A draft built from older content is replaced; a confirmed one is left to a person."""
        changed = orders.filtered(lambda o: o.sale_order_id and o.built_fingerprint != o.fingerprint)
        stopped = orders.browse()
        for order in changed:
            so = order.sale_order_id
            # Deleted only when it is the draft processing made for this order: the check of
            # _step_check_documents, made again here, where it deletes.
            error = order._foreign_documents_error()
            if error:
                order._fail("order", error)
                stopped |= order
            elif so.state == "draft":
                name = so.name
                so.unlink()
                # A difference accepted was the old content's: the new one is checked afresh.
                order.write({"amount_accepted": False, "odoo_amount_total": 0.0, "amount_difference": 0.0})
                run.notes[order.id].append(self.env._("draft %s replaced, as the order changed", name))
            else:
                run.notes[order.id].append(self.env._(
                    "the order changed in the store after %s was confirmed: check it by hand", so.name))
        return orders - stopped

    def _step_customers(self, run, orders):
        """Find or create each order's customer and its invoice and delivery contacts.

        A set of searches for the whole batch: store customer ids first (they survive a
        change of e-mail), then e-mail addresses in the company, else a new contact.
        """
        todo = _to_build(orders)
        if not todo:
            return orders
        Partner = self.env["res.partner"]
        Link = self.env["sale.channel.partner"]
        channel = run.channel
        customers = {o.id: run.normalized(o).customer for o in todo}

        ext_ids = {c.external_id for c in customers.values() if c.external_id}
        by_ext = {
            link.external_id: link.partner_id
            for link in Link.search([("channel_id", "=", channel.id), ("external_id", "in", list(ext_ids))])
        }
        emails = {c.email for c in customers.values() if c.email and c.external_id not in by_ext}
        by_email = {}
        if emails:
            for partner in Partner.search(
                [("email_normalized", "in", list(emails)), ("company_id", "in", [False, run.company.id])],
                order="parent_id desc, id",
            ):
                # Prefer a top-level contact; else the company a contact belongs to.
                by_email.setdefault(partner.email_normalized, partner.commercial_partner_id)

        # One new contact per customer, however many of its orders the batch holds.
        to_create = {}
        for order in todo:
            c = customers[order.id]
            if (c.external_id and c.external_id in by_ext) or (c.email and c.email in by_email):
                continue
            key = ("ext", c.external_id) if c.external_id else ("email", c.email) if c.email else ("order", order.id)
            to_create.setdefault(key, self._prepare_partner_vals(run, run.normalized(order)))
        created = dict(zip(to_create, Partner.create(list(to_create.values())), strict=True)) if to_create else {}

        new_links = {}
        for order in todo:
            c = customers[order.id]
            partner = (
                by_ext.get(c.external_id)
                or by_email.get(c.email)
                or created.get(("ext", c.external_id))
                or created.get(("email", c.email))
                or created.get(("order", order.id))
            )
            run.partners[order.id] = partner
            if c.external_id and c.external_id not in by_ext:
                new_links[c.external_id] = partner.id
        if new_links:
            Link.create([
                {"channel_id": channel.id, "external_id": ext, "partner_id": pid}
                for ext, pid in new_links.items()
            ])
        self._resolve_addresses(run, todo)
        return orders

    def _resolve_addresses(self, run, orders):
        """Invoice and delivery contacts as children of the customer, reused when equal."""
        Partner = self.env["res.partner"]
        parents = {run.partners[o.id].id for o in orders}

        def wanted_contacts(order):
            n = run.normalized(order)
            parent = run.partners[order.id]
            for kind, address in (("invoice", n.billing_address), ("delivery", n.shipping_address)):
                if address.is_empty():
                    yield kind, None, None
                    continue
                vals = self._prepare_address_vals(run, address)
                vals["name"] = vals["name"] or parent.name
                yield kind, address, vals

        # Only the contacts that could be equal (by name): a marketplace customer has one
        # delivery contact per buyer, thousands of them, not to be read for every batch.
        names = {vals["name"].strip() for order in orders for _kind, _address, vals in wanted_contacts(order)
                 if vals is not None and vals["name"]}
        existing = {}
        if names:
            domain = [("parent_id", "in", list(parents)), ("type", "in", ("invoice", "delivery"))]
            domain += expression.OR([[("name", "=ilike", _like_escape(name))] for name in names])
            for child in Partner.search(domain):
                existing.setdefault(self._address_key(child.parent_id.id, child.type, child), child)

        wanted = {}
        for order in orders:
            parent = run.partners[order.id]
            for kind, address, vals in wanted_contacts(order):
                if vals is None:
                    continue
                key = self._address_key(parent.id, kind, vals)
                if key not in existing and key not in wanted:
                    # Odoo mails the invoice to its invoice contact: it reaches the
                    # customer unless the store gave the address its own e-mail.
                    wanted[key] = {
                        **vals, "parent_id": parent.id, "type": kind,
                        "phone": address.phone or parent.phone or False,
                        "email": address.email or parent.email or False,
                    }
        if wanted:
            existing.update(zip(wanted, Partner.create(list(wanted.values())), strict=True))
        for order in orders:
            parent = run.partners[order.id]
            run.addresses[order.id] = {
                kind: existing[self._address_key(parent.id, kind, vals)] if vals is not None else parent
                for kind, _address, vals in wanted_contacts(order)
            }

    @staticmethod
    def _address_key(parent_id, kind, values):
        def get(name):
            value = values[name]
            if hasattr(value, "id"):
                value = value.id
            return (str(value or "")).strip().lower()
        return (parent_id, kind) + tuple(get(name) for name in _ADDRESS_KEYS)

    def _step_products(self, run, orders):
        """Products by SKU = the variant's internal reference, exactly; one search."""
        todo = _to_build(orders)
        if not todo:
            return orders
        skus = {line.sku for o in todo for line in run.normalized(o).lines}
        found = defaultdict(lambda: self.env["product.product"])
        for product in self.env["product.product"].search(
            [("default_code", "in", list(skus)), ("company_id", "in", [False, run.company.id])]
        ):
            found[product.default_code] |= product
        run.products.update(found)
        channel = run.channel
        going_on = orders - todo
        for order in todo:
            n = run.normalized(order)
            nameless = [line.name or "?" for line in n.lines if not line.sku]
            if nameless:
                order._fail("products", self.env._(
                    "The store sent lines without a SKU: %s. Give the products a SKU in the store "
                    "(equal to the Odoo product's Internal Reference), or correct the order, then Retry.",
                    ", ".join(nameless)))
                continue
            unknown = sorted({line.sku for line in n.lines if line.sku not in found})
            ambiguous = sorted({line.sku for line in n.lines if len(found.get(line.sku, ())) > 1})
            if unknown:
                order._fail("products", self.env._(
                    "No product has the internal reference %s. Create it, or correct the SKU, then Retry.",
                    ", ".join(unknown)))
            elif ambiguous:
                order._fail("products", self.env._(
                    "Several products share the internal reference %s: keep one, then Retry.",
                    ", ".join(ambiguous)))
            elif any(s.price for s in n.shipping_lines) and not channel.shipping_product_id:
                order._fail("products", self.env._(
                    "The order charges shipping but the channel has no shipping product."))
            elif any(f.price for f in n.fee_lines) and not channel.fee_product_id:
                order._fail("products", self.env._(
                    "The order has other charges but the channel has no fee product."))
            else:
                going_on |= order
        return going_on

    def _step_currencies(self, run, orders):
        todo = _to_build(orders)
        if not todo:
            return orders
        codes = {run.normalized(o).currency for o in todo}
        currencies = {c.name: c for c in self.env["res.currency"].search([("name", "in", list(codes))])}
        going_on = orders - todo
        for order in todo:
            code = run.normalized(order).currency
            currency = currencies.get(code)
            if not currency:
                order._fail("currency", self.env._("Currency %s is not active in Odoo: activate it, then Retry.", code))
                continue
            if code not in run.pricelists:
                run.pricelists[code] = self._pricelist_for(run, currency)
            if not run.pricelists[code] and currency != run.company.currency_id:
                order._fail("currency", self.env._(
                    "No pricelist in %s: create one (Sales → Products → Pricelists), then Retry.", code))
                continue
            going_on |= order
        return going_on

    def _pricelist_for(self, run, currency):
        if run.channel.pricelist_id.currency_id == currency:
            return run.channel.pricelist_id
        return self.env["product.pricelist"].search(
            [("currency_id", "=", currency.id), ("company_id", "in", [False, run.company.id])], limit=1
        )

    def _step_create_sale_orders(self, run, orders):
        todo = _to_build(orders)
        if not todo:
            return orders
        sale_orders = self.env["sale.order"].create([self._prepare_sale_order_vals(run, o) for o in todo])
        sale_orders._message_log_batch({
            so.id: self.env._("Created by the Sales Inbox from %(channel)s order %(number)s.",
                     channel=run.channel.name, number=order.name)
            for order, so in zip(todo, sale_orders, strict=True)
        })
        for order, so in zip(todo, sale_orders, strict=True):
            run.notes[order.id].insert(0, self.env._("%s created", so.name))
            order.write({
                "sale_order_id": so.id,
                "partner_id": so.partner_id.id,
                "built_fingerprint": order.fingerprint,
            })
        return orders

    # ------------------------------------------------------------------
    # Override points: what is created
    # ------------------------------------------------------------------

    def _prepare_partner_vals(self, run, normalized):
        """Values of a new customer (``res.partner``) from the store's order."""
        c = normalized.customer
        billing = normalized.billing_address
        address = self._prepare_address_vals(run, billing) if not billing.is_empty() else {}
        address.pop("name", None)
        return {
            **address,
            "name": c.name or c.company or billing.name or c.email or self.env._("Store customer"),
            "email": c.email or False,
            "phone": c.phone or billing.phone or False,
            "company_name": c.company or False,
            "vat": c.vat or False,
            "company_id": run.company.id,
        }

    def _prepare_address_vals(self, run, address):
        """Address values (``res.partner`` fields) of a store address. The keys in
        ``_ADDRESS_KEYS`` decide whether an existing contact is the same address."""
        countries = self._countries(run)
        country = countries.get(address.country_code.upper()) if address.country_code else None
        state = False
        if country and address.state:
            wanted = address.state.strip().lower()
            state = next(
                (s.id for s in country.state_ids if wanted in (s.code.lower(), s.name.lower())),
                False,
            )
        return {
            "name": address.name or address.company,
            "street": address.street or False,
            "street2": address.street2 or False,
            "city": address.city or False,
            "zip": address.zip or False,
            "country_id": country.id if country else False,
            "state_id": state,
        }

    def _countries(self, run):
        if "countries" not in run.cache:
            codes = set()
            for n in run.parsed.values():
                codes.update(a.country_code.upper() for a in (n.billing_address, n.shipping_address) if a.country_code)
            run.cache["countries"] = {
                c.code: c for c in self.env["res.country"].search([("code", "in", list(codes))])
            }
        return run.cache["countries"]

    def _prepare_sale_order_vals(self, run, order):
        """Values of the sales order of one inbox order (lines included)."""
        n = run.normalized(order)
        channel = run.channel
        partner = run.partners[order.id]
        addresses = run.addresses[order.id]
        fiscal_position = self.env["account.fiscal.position"]._get_fiscal_position(
            partner, addresses["delivery"]
        )
        lines = [
            Command.create(self._prepare_sale_order_line_vals(run, order, line, fiscal_position))
            for line in n.lines
        ]
        charges = [(channel.shipping_product_id, c) for c in n.shipping_lines]
        charges += [(channel.fee_product_id, c) for c in n.fee_lines]
        lines += [
            Command.create(self._prepare_charge_line_vals(run, order, product, charge, fiscal_position))
            for product, charge in charges
        ]
        vals = {
            "partner_id": partner.id,
            "partner_invoice_id": addresses["invoice"].id,
            "partner_shipping_id": addresses["delivery"].id,
            "company_id": run.company.id,
            "fiscal_position_id": fiscal_position.id,
            "pricelist_id": run.pricelists[n.currency].id,
            "client_order_ref": n.number,
            "origin": f"{channel.name}: {n.number}",
            "channel_id": channel.id,
            "inbox_order_id": order.id,
            "external_order_number": n.number,
            "store_status": n.status or False,
            "order_line": lines,
        }
        if n.note:
            # Plain text, shown on the sales order: never the Terms & Conditions (``note``, HTML
            # printed on the quotation and the invoice).
            vals["store_note"] = n.note
        if channel.warehouse_id:
            vals["warehouse_id"] = channel.warehouse_id.id
        if channel.team_id:
            vals["team_id"] = channel.team_id.id
        # Always given: left out, the sales order would take the user running processing
        # (OdooBot, for the cron) as its salesperson.
        vals["user_id"] = (channel.user_id or channel.responsible_id).id or False
        date_order = utc_naive(n.created_at)
        if date_order:
            vals["date_order"] = date_order
        return vals

    def _prepare_sale_order_line_vals(self, run, order, line, fiscal_position):
        """Values of the sales order line of one store line (``line``: an ``OrderLine``)."""
        n = run.normalized(order)
        product = run.products[line.sku]
        amount = line.unit_price * line.quantity
        discount = float(line.discount / amount * 100) if amount and line.discount else 0.0
        taxes, price = self._taxes_and_price(run, product, fiscal_position, n.taxes_included, line.unit_price)
        return {
            "product_id": product.id,
            "product_uom_qty": float(line.quantity),
            "price_unit": price,
            "discount": discount,
            "tax_id": [Command.set(taxes.ids)],
        }

    def _prepare_charge_line_vals(self, run, order, product, charge, fiscal_position):
        """Values of a shipping or fee line (``charge``: a ``ShippingLine``)."""
        n = run.normalized(order)
        taxes, price = self._taxes_and_price(run, product, fiscal_position, n.taxes_included, charge.price)
        return {
            "product_id": product.id,
            "name": charge.name or product.display_name,
            "product_uom_qty": 1.0,
            "price_unit": price,
            "tax_id": [Command.set(taxes.ids)],
        }

    def _taxes_and_price(self, run, product, fiscal_position, taxes_included, price):
        """The product's taxes, and the unit price to give them.

        Stores tell whether their prices include tax. When Odoo's taxes for the product say
        the opposite, use a twin tax of the same rate that agrees (so totals match to the
        cent); without one, convert the price.
        """
        taxes = fiscal_position.map_tax(product.taxes_id._filter_taxes_by_company(run.company))
        price = float(price)
        mismatched = taxes.filtered(lambda t: t.amount_type == "percent" and t.price_include != taxes_included)
        if not mismatched:
            return taxes, price
        result = taxes - mismatched
        rate = 0.0
        for tax in mismatched:
            twin = self._twin_tax(run, tax, taxes_included)
            if twin:
                result |= twin
            else:
                result |= tax
                rate += tax.amount
        if rate:
            factor = 1 + rate / 100.0
            price = price / factor if taxes_included else price * factor
            digits = self.env["decimal.precision"].precision_get("Product Price")
            price = float_round(price, precision_digits=max(digits, 6))
        return result, price

    def _twin_tax(self, run, tax, price_include):
        twins = run.cache.setdefault("twin_taxes", {})
        key = (tax.id, price_include)
        if key not in twins:
            twins[key] = self.env["account.tax"].search([
                ("company_id", "=", tax.company_id.id),
                ("type_tax_use", "=", tax.type_tax_use),
                ("amount_type", "=", tax.amount_type),
                ("amount", "=", tax.amount),
                ("price_include", "=", price_include),
            ], limit=1)
        return twins[key]
