"""Intake: an authenticated delivery is stored first, in plain SQL, and processed after."""
import hashlib
import json
import logging

from odoo import _, api, fields, models

_logger = logging.getLogger(__name__)


class SaleInboxOrder(models.Model):
    _inherit = "sale.inbox.order"

    # ------------------------------------------------------------------
    # Intake: store first, process after
    # ------------------------------------------------------------------

    @api.model
    def _receive(self, channel, body, content_type):
        """Parse an authenticated delivery and store it; InvalidPayload when unreadable.

        Returns ``(inbox order id, created, answer)``, the answer being what the store is
        told of its order (the Connect API's order resource).
        """
        delivery = channel._platform().parse(body, content_type)
        received_at = fields.Datetime.now()
        order_id, created = self._intake(channel, delivery, body, content_type, received_at)
        if created and delivery.order:
            # Known without reading the row back: it was written a moment ago.
            answer = {
                "id": order_id,
                "external_id": delivery.external_id,
                "number": delivery.order.number or delivery.external_id,
                "status": "new",
                "failed_step": None,
                "message": None,
                "received_at": fields.Datetime.to_string(received_at),
                "processed_at": None,
                "sale_order": None,
                "invoice": None,
            }
        else:
            answer = self.browse(order_id)._api_status()
        return order_id, created, answer

    def _api_status(self):
        """What the store may know of its order (the Connect API's order resource)."""
        self.ensure_one()
        # Only these columns: the record also holds the (possibly large) payloads.
        self.fetch(["external_id", "name", "state", "failed_step", "error_message", "received_at",
                    "processed_at", "sale_order_id", "invoice_id"])
        return {
            "id": self.id,
            "external_id": self.external_id,
            "number": self.name,
            "status": self.state,
            "failed_step": self.failed_step or None,
            "message": self.error_message or None,
            "received_at": fields.Datetime.to_string(self.received_at),
            "processed_at": fields.Datetime.to_string(self.processed_at) if self.processed_at else None,
            "sale_order": self.sale_order_id.name or None,
            "invoice": self.invoice_id.name or None,
        }

    @api.model
    def _intake(self, channel, delivery, body, content_type, received_at=None):
        """Store one verified delivery; return ``(inbox order id, created)``.

        Plain SQL, so that intake costs two statements and never waits for an order that
        processing holds: a new order is inserted with its first delivery; a known order
        gets the delivery as ``pending``, or nothing when that content was seen before.
        Two requests racing on one order meet on the unique constraint: in Odoo's
        repeatable-read transactions the loser gets a serialization failure, and Odoo's
        request retry then finds the winner's row.
        """
        if delivery.order is None:
            return self._intake_patch(channel, delivery, body, content_type, received_at)
        order = delivery.order
        normalized, fingerprint = order.serialize()
        # Cached lookup; env.ref() would also query the cron to check that it exists.
        cron_id = self.env["ir.model.data"]._xmlid_to_res_id("sale_inbox.ir_cron_process_inbox")
        params = {
            "channel": channel.id,
            "company": channel.company_id.id,
            "external_id": delivery.external_id,
            "name": order.number or delivery.external_id,
            "now": received_at or fields.Datetime.now(),
            "payload": body.decode("utf-8"),
            "content_type": content_type,
            "normalized": normalized,
            "fingerprint": fingerprint,
            "customer_name": order.customer.name or order.customer.company,
            "customer_email": order.customer.email,
            "currency": order.currency,
            "total": order.total,
            "paid": order.paid,
            "method": order.payment.method_code,
            "uid": self.env.uid,
            "cron": cron_id,
            "auto": bool(channel.auto_process),
            "kind": "full",
        }
        cr = self.env.cr
        # The cron trigger row is written by the same statement: one round trip in all.
        cr.execute(
            """
            WITH new_order AS (
                INSERT INTO sale_inbox_order (
                    channel_id, company_id, external_id, name, received_at, state,
                    payload, payload_content_type, normalized, fingerprint,
                    customer_name, customer_email, currency_id, amount_total, paid,
                    payment_method_code, attempt_count,
                    create_uid, create_date, write_uid, write_date)
                VALUES (%(channel)s, %(company)s, %(external_id)s, %(name)s, %(now)s, 'new',
                        %(payload)s, %(content_type)s, %(normalized)s, %(fingerprint)s,
                        %(customer_name)s, %(customer_email)s,
                        (SELECT id FROM res_currency WHERE name = %(currency)s),
                        %(total)s, %(paid)s, %(method)s, 0,
                        %(uid)s, %(now)s, %(uid)s, %(now)s)
                ON CONFLICT (channel_id, external_id) DO NOTHING
                RETURNING id
            ), first_delivery AS (
                INSERT INTO sale_inbox_delivery (
                    order_id, channel_id, company_id, received_at, fingerprint, payload,
                    content_type, normalized, kind, state, create_uid, create_date, write_uid, write_date)
                SELECT id, %(channel)s, %(company)s, %(now)s, %(fingerprint)s, %(payload)s,
                       %(content_type)s, %(normalized)s, 'full', 'applied', %(uid)s, %(now)s, %(uid)s, %(now)s
                  FROM new_order
                RETURNING order_id
            ), trigger AS (
                INSERT INTO ir_cron_trigger (cron_id, call_at, create_uid, create_date, write_uid, write_date)
                SELECT %(cron)s, %(now)s, %(uid)s, %(now)s, %(uid)s, %(now)s
                  FROM new_order WHERE %(auto)s
            )
            SELECT order_id FROM first_delivery
            """,
            params,
        )
        row = cr.fetchone()
        if row:
            if channel.auto_process:
                self._wake_processing()
            if channel.company_id.id in self.env["sale.channel"]._push_on_change_company_ids():
                # Sold a moment ago in one store: the others hear of it now, not tomorrow.
                self.env["sale.channel.product"].sudo()._queue_push(
                    skus=[line.sku for line in order.lines if line.sku], company_id=channel.company_id.id)
            return row[0], True
        return self._record_delivery(params), False

    @api.model
    def _record_delivery(self, params):
        """Record a delivery of a known order as pending (once per content) and wake the
        cron up for it; returns the order's id."""
        self.env.cr.execute(
            """
            WITH delivery AS (
                INSERT INTO sale_inbox_delivery (
                    order_id, channel_id, company_id, received_at, fingerprint, payload,
                    content_type, normalized, kind, state, create_uid, create_date, write_uid, write_date)
                SELECT o.id, o.channel_id, o.company_id, %(now)s, %(fingerprint)s, %(payload)s,
                       %(content_type)s, %(normalized)s, %(kind)s, 'pending', %(uid)s, %(now)s, %(uid)s, %(now)s
                  FROM sale_inbox_order o
                 WHERE o.channel_id = %(channel)s AND o.external_id = %(external_id)s
                ON CONFLICT (order_id, fingerprint) DO NOTHING
                RETURNING order_id
            ), trigger AS (
                INSERT INTO ir_cron_trigger (cron_id, call_at, create_uid, create_date, write_uid, write_date)
                SELECT %(cron)s, %(now)s, %(uid)s, %(now)s, %(uid)s, %(now)s FROM delivery
            )
            SELECT id, EXISTS (SELECT 1 FROM delivery) FROM sale_inbox_order
             WHERE channel_id = %(channel)s AND external_id = %(external_id)s
            """,
            params,
        )
        order_id, recorded = self.env.cr.fetchone()
        if recorded:
            # Written in SQL: what the ORM may have cached of this order's deliveries is stale.
            self.browse(order_id).invalidate_recordset(["delivery_ids"])
            self._wake_processing()
        return order_id

    @api.model
    def _intake_patch(self, channel, delivery, body, content_type, received_at=None):
        """Store a patch (only what changed). When the order itself has not arrived yet, a
        placeholder waits for it, so that the change is applied whatever the arrival order."""
        patch = json.dumps(delivery.patch, sort_keys=True)
        params = {
            "channel": channel.id,
            "company": channel.company_id.id,
            "external_id": delivery.external_id,
            "now": received_at or fields.Datetime.now(),
            "uid": self.env.uid,
        }
        self.env.cr.execute(
            """
            INSERT INTO sale_inbox_order (
                channel_id, company_id, external_id, name, received_at, state, attempt_count,
                create_uid, create_date, write_uid, write_date)
            VALUES (%(channel)s, %(company)s, %(external_id)s, %(external_id)s, %(now)s, 'new', 0,
                    %(uid)s, %(now)s, %(uid)s, %(now)s)
            ON CONFLICT (channel_id, external_id) DO NOTHING
            RETURNING id
            """,
            params,
        )
        created = bool(self.env.cr.fetchone())
        order_id = self._record_delivery(dict(
            params,
            fingerprint=hashlib.sha256(f"patch:{patch}".encode()).hexdigest(),
            payload=body.decode("utf-8"),
            content_type=content_type,
            normalized=patch,
            kind="patch",
            cron=self.env["ir.model.data"]._xmlid_to_res_id("sale_inbox.ir_cron_process_inbox"),
        ))
        return order_id, created

    @api.model
    def _keep_unreadable(self, channel, body, content_type, error):
        """Keep an authentic delivery we cannot read, as an order in error that Retry reads
        again (after a fix, or a correction of the raw payload's parser). Returns its id."""
        digest = hashlib.sha256(body).hexdigest()
        now = fields.Datetime.now()
        self.env.cr.execute(
            """
            INSERT INTO sale_inbox_order (
                channel_id, company_id, external_id, name, received_at, state, failed_step,
                error_message, payload, payload_content_type, attempt_count,
                create_uid, create_date, write_uid, write_date)
            VALUES (%(channel)s, %(company)s, %(external_id)s, %(name)s, %(now)s, 'error', 'parse',
                    %(message)s, %(payload)s, %(content_type)s, 0, %(uid)s, %(now)s, %(uid)s, %(now)s)
            ON CONFLICT (channel_id, external_id) DO NOTHING
            RETURNING id
            """,
            {
                "channel": channel.id,
                "company": channel.company_id.id,
                "external_id": f"unreadable:{digest[:24]}",
                "name": _("Unreadable delivery"),
                "now": now,
                "message": str(error),
                "payload": body.decode("utf-8", errors="replace"),
                "content_type": content_type,
                "uid": self.env.uid,
            },
        )
        row = self.env.cr.fetchone()
        if not row:
            self.env.cr.execute(
                "SELECT id FROM sale_inbox_order WHERE channel_id = %s AND external_id = %s",
                (channel.id, f"unreadable:{digest[:24]}"),
            )
            row = self.env.cr.fetchone()
        _logger.warning("Channel %s: kept an unreadable delivery as inbox order %s: %s",
                        channel.id, row[0], error)
        return row[0]

    def _read_again(self):
        """Read the raw payload of an unreadable delivery again: it becomes this order, or,
        when the order came in meanwhile, a delivery of that order. Returns the order to go on
        with (this one, or none)."""
        self.ensure_one()
        delivery = self.channel_id._platform().parse(
            (self.payload or "").encode(), self.payload_content_type or "application/json"
        )
        existing = self.search([("channel_id", "=", self.channel_id.id),
                                ("external_id", "=", delivery.external_id)], limit=1)
        if existing:
            self._intake(self.channel_id, delivery, (self.payload or "").encode(),
                         self.payload_content_type or "application/json")
            self.with_context(sale_inbox_internal=True).write({
                "state": "cancelled", "failed_step": False, "error_message": False})
            self._message_log(body=_("Readable now: it is a delivery of order %s.", existing.name))
            return self.browse()
        normalized, fingerprint = delivery.order.serialize()
        self.with_context(sale_inbox_internal=True).write({
            "external_id": delivery.external_id,
            "name": delivery.order.number or delivery.external_id,
            "normalized": normalized,
            "fingerprint": fingerprint,
            "customer_name": delivery.order.customer.name or delivery.order.customer.company,
            "customer_email": delivery.order.customer.email,
            "amount_total": float(delivery.order.total),
            "paid": delivery.order.paid,
            "payment_method_code": delivery.order.payment.method_code,
            "currency_id": self.env["res.currency"].search(
                [("name", "=", delivery.order.currency)], limit=1).id,
        })
        return self
