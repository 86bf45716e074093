"""Intake: what a store delivers is verified, read and stored first, in plain SQL; processing
comes after, in the cron.

``sale.inbox.order._intake_delivery`` is the one way in: the webhook and Connect routes and
the order poll all call it.
"""
import base64
import hashlib
import json
import logging
import traceback
from dataclasses import dataclass, field

from psycopg2 import errors as pg_errors

from odoo import api, fields, models

from ..platforms import AuthenticationError, IgnoredEvent, InvalidPayload
from ..platforms.base import FieldError, storable_text, unstorable

_logger = logging.getLogger(__name__)

#: Appended to the content type of a payload kept base64-encoded: a body that is not UTF-8
#: text, or that holds NUL bytes, cannot go into a text column as it is.
BASE64_MARK = "; sale-inbox-encoding=base64"


@dataclass
class IntakeResult:
    """What intake did with one delivery; the routes turn it into their answer.

    ``status`` is one of: ``created`` / ``known`` (stored: a new order, or a delivery of one
    already in the inbox), ``unreadable`` (authentic but unreadable: kept as an order in
    error), ``invalid`` (refused with the fields at fault, nothing stored), ``ignored`` (an
    event that says nothing about an order), ``handshake`` (a store's set-up ping),
    ``unauthorized``, ``unverifiable`` (the store's verification service did not answer),
    ``disconnected``, ``too_large``.
    """

    status: str
    order_id: int | None = None
    created: bool = False
    message: str = ""
    errors: list = field(default_factory=list)
    #: The Connect API's order resource, for what was stored.
    answer: dict | None = None


class ParserFailure(InvalidPayload):
    """The parser raised something other than InvalidPayload: a bug on our side, never a
    reason to lose the delivery."""


def storable_payload(body, content_type):
    """``(text, content type)`` to keep a body in a text column: the body itself when it is
    UTF-8 text without NUL characters, else its base64 form with BASE64_MARK on the content
    type, so that the exact bytes can always be recovered (``payload_bytes``)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and "\x00" not in text:
        return text, content_type
    return base64.b64encode(body).decode("ascii"), content_type + BASE64_MARK


def payload_bytes(text, content_type):
    """The bytes and content type of a payload stored by ``storable_payload``."""
    content_type = content_type or "application/json"
    if content_type.endswith(BASE64_MARK):
        return base64.b64decode(text or ""), content_type[: -len(BASE64_MARK)]
    return (text or "").encode(), content_type


class SaleInboxOrder(models.Model):
    _inherit = "sale.inbox.order"

    # ------------------------------------------------------------------
    # The one entry point
    # ------------------------------------------------------------------

    @api.model
    def _intake_delivery(self, channel, body, content_type, headers=None, verified=False,
                         refuse_invalid=False):
        """Take one delivery of ``channel``: check its size, verify it, read it, store it.

        Whatever the sender sent, the answer is an IntakeResult, never an exception; only the
        database's concurrency errors go up (Odoo retries the request; the poll reads the
        page again). ``verified``: the caller authenticated the delivery already (the Connect
        route by its API key, the poll by reading the store's API), so ``headers`` are not
        needed. ``refuse_invalid``: an order with errors is refused with them (the Connect
        API: the shop is told at once and sends it again corrected) instead of being kept
        unreadable; what the parser could not even judge is kept either way.
        """
        platform = channel._platform()
        content_type = content_type or "application/json"
        if len(body) > platform.max_body_size:
            return IntakeResult("too_large", message=f"The body is larger than {platform.max_body_size} bytes.")
        if not verified:
            refusal = self._verify_delivery(channel, body, headers or {})
            if refusal:
                return refusal
        if channel.state != "connected":
            return IntakeResult("disconnected", message="This channel is disconnected in Odoo.")
        if not body.strip():
            # Nothing to keep, nor to read again later: refused, whoever signed it.
            error = InvalidPayload("the body is empty")
            return IntakeResult("invalid", message=str(error), errors=error.errors)
        try:
            delivery = self._parse_delivery(channel, body, content_type)
        except IgnoredEvent as exc:
            return IntakeResult("ignored", message=str(exc))
        except InvalidPayload as exc:
            if refuse_invalid and not isinstance(exc, ParserFailure):
                _logger.info("Channel %s refused a delivery; fields at fault: %r", channel.id,
                             ", ".join(error.path or "body" for error in exc.errors))
                return IntakeResult("invalid", message=str(exc), errors=exc.errors)
            order_id, created = self._store_unreadable(channel, body, content_type, exc)
            return IntakeResult("unreadable", order_id, created, message=str(exc),
                                answer=self.browse(order_id)._api_status())
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
        return IntakeResult("created" if created else "known", order_id, created, answer=answer)

    @api.model
    def _verify_delivery(self, channel, body, headers):
        """None when the delivery is authentic, else the IntakeResult refusing it."""
        platform = channel._platform()
        if platform.is_handshake(headers, body):
            # The store checks the address works: nothing to sign, store or process.
            return IntakeResult("handshake")
        credentials = channel._credentials()
        try:
            platform.verify(headers, body, credentials)
        except AuthenticationError as exc:
            _logger.info("Channel %s refused a delivery: %r", channel.id, str(exc))
            return IntakeResult("unauthorized", message="Missing or wrong signature.")
        except Exception as exc:  # noqa: BLE001 -- authenticity unknown, whatever the reason
            # The store's verification service did not answer (ApiError), or verifying failed
            # in a way nobody foresaw: nothing is stored, and the store, told to come back,
            # delivers again.
            _logger.warning("Channel %s could not verify a delivery: %s", channel.id, _where(exc))
            return IntakeResult("unverifiable", message="The signature could not be checked; retry later.")
        return None

    @api.model
    def _parse_delivery(self, channel, body, content_type):
        """The delivery ``body`` carries, checked for what the database can store.

        Raises IgnoredEvent, or InvalidPayload whatever went wrong: a ParserFailure when the
        parser itself broke (a RecursionError, an AttributeError on a type nobody expected),
        so that an authentic delivery is kept with its error instead of being lost to a 500.
        """
        platform = channel._platform()
        try:
            delivery = platform.parse(body, content_type)
            delivery.check()
        except InvalidPayload as exc:
            if any(unstorable(error.path) or unstorable(error.message) for error in exc.errors):
                # A parser's message may quote the payload: written out so that it can be stored.
                raise InvalidPayload([FieldError(storable_text(error.path), storable_text(error.message))
                                      for error in exc.errors]) from exc
            raise
        except IgnoredEvent:
            raise
        except Exception as exc:  # whatever a parser raises, the delivery is kept
            _logger.warning("Channel %s: the %s parser failed: %s", channel.id, platform.code, _where(exc))
            # Its message may quote the payload: written out so that the database can store it.
            message = f"the {platform.label} parser failed: {type(exc).__name__}: {exc}"
            raise ParserFailure(storable_text(message)) from exc
        return delivery

    @api.model
    def _receive(self, channel, body, content_type):
        """Intake of a delivery authenticated by the caller, for tests and scripts:
        ``(inbox order id, created, answer)``; InvalidPayload when it cannot be stored."""
        result = self._intake_delivery(channel, body, content_type, verified=True, refuse_invalid=True)
        if result.status == "ignored":
            raise IgnoredEvent(result.message)
        if result.status not in ("created", "known", "unreadable"):
            raise InvalidPayload(result.errors or result.message)
        return result.order_id, result.created, result.answer

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

    # ------------------------------------------------------------------
    # Storing: one statement, no lock of processing waited for
    # ------------------------------------------------------------------

    @api.model
    def _intake(self, channel, delivery, body, content_type, received_at=None):
        """Store one verified, readable delivery; return ``(inbox order id, created)``.

        One statement, which never waits for an order that processing holds:

        * the order is looked up first, in the transaction's snapshot. A known order gets the
          delivery as ``pending`` (nothing when that content was recorded before, also seen
          in the snapshot) and its own row is not touched: an ``INSERT … ON CONFLICT`` on a
          row that processing has updated would wait for processing to commit, and so would
          the insert of a delivery whose twin processing is marking applied;
        * the delivery's foreign key takes a key-share lock on its order, which the
          processing claim (``FOR NO KEY UPDATE``) and processing's writes let through;
        * a new order is inserted with its first delivery; a patch of an order that has not
          arrived yet makes a placeholder, the patch waiting as ``pending`` for the order.

        Two requests racing on one new order meet on the unique index: in Odoo's
        repeatable-read transactions the loser gets a serialization failure, raised without
        logging the statement (it holds the customer's name and address): Odoo retries the
        request, and the retry finds the winner's order.
        """
        now = received_at or fields.Datetime.now()
        payload, stored_type = storable_payload(body, content_type)
        params = {
            "channel": channel.id,
            "company": channel.company_id.id,
            "external_id": delivery.external_id,
            "now": now,
            "uid": self.env.uid,
            "payload": payload,
            "content_type": stored_type,
            # Cached look-up; env.ref() would also query the cron to check that it exists.
            "cron": self.env["ir.model.data"]._xmlid_to_res_id("sale_inbox.ir_cron_process_inbox"),
            "auto": bool(channel.auto_process),
        }
        order = delivery.order
        if order is not None:
            normalized, fingerprint = order.serialize()
            params.update(self._content_params(order), kind="full", name=order.number or delivery.external_id,
                          order_payload=payload, order_content_type=stored_type, normalized=normalized,
                          fingerprint=fingerprint, delivery_normalized=normalized, delivery_fingerprint=fingerprint)
        else:
            patch = json.dumps(delivery.patch, sort_keys=True)
            params.update(dict.fromkeys(("customer_name", "customer_email", "currency", "total", "paid", "method",
                                         "order_payload", "order_content_type", "normalized", "fingerprint")),
                          kind="patch", name=delivery.external_id, delivery_normalized=patch,
                          delivery_fingerprint=hashlib.sha256(f"patch:{patch}".encode()).hexdigest())
        for _attempt in range(2):
            new_id, known_id, recorded = self._store_delivery(params)
            if new_id or known_id:
                break
            # Only under READ COMMITTED: the order was committed between the look-up and the
            # insert. A second statement sees it.
        if new_id and order is not None:
            if channel.auto_process:
                self._wake_processing()
            if channel.company_id.id in self.env["sale.channel"]._push_on_change_company_ids():
                self._queue_stock_push(channel, [line.sku for line in order.lines if line.sku])
        if recorded:
            # Written in SQL: what the ORM may have cached of this order's deliveries is stale.
            self.browse(new_id or known_id).invalidate_recordset(["delivery_ids"])
            self._wake_processing()
        return new_id or known_id, bool(new_id)

    @api.model
    def _queue_stock_push(self, channel, skus):
        """Sold a moment ago in one store: the other stores of the company hear of it now.

        ``sale.channel.product._queue_push`` does the same but waits for rows another
        transaction holds: processing queues the same rows when it confirms orders (the stock
        moves do) and holds them until its batch commits; the push job holds the rows it is
        sending. Intake skips such rows (SKIP LOCKED): they are being queued or sent right
        now, and processing queues them again when it confirms this order. The conditions are
        ``_queue_push``'s: keep them in step.
        """
        if not skus:
            return
        self.env["sale.channel.product"].flush_model(["push_queued", "state", "sku", "channel_id"])
        self.env["sale.channel"].flush_model(["push_on_change", "active", "state", "company_id"])
        try:
            with self.env.cr.savepoint(flush=False):
                self.env.cr.execute(
                    """
                    UPDATE sale_channel_product SET push_queued = true
                     WHERE id IN (SELECT p.id
                                    FROM sale_channel_product p
                                    JOIN sale_channel c ON c.id = p.channel_id
                                   WHERE c.push_on_change AND c.active AND c.state = 'connected'
                                     AND c.company_id = %s AND p.state = 'mapped'
                                     AND p.push_queued IS NOT TRUE AND p.sku = ANY(%s)
                                     FOR NO KEY UPDATE OF p SKIP LOCKED)
                    """,
                    (channel.company_id.id, list(skus)),
                    log_exceptions=False,  # a serialization failure is expected, see below
                )
                queued = self.env.cr.rowcount
        except pg_errors.SerializationFailure:
            # A row was changed since this transaction began, by whoever queues or sends it.
            return
        if queued:
            self.env["sale.channel.product"].invalidate_model(["push_queued"])
            self._trigger_job("sale_inbox.ir_cron_push_stock")

    @api.model
    def _content_params(self, order):
        """The inbox order's columns that summarize a normalized order."""
        return {
            "customer_name": order.customer.name or order.customer.company,
            "customer_email": order.customer.email,
            "currency": order.currency,
            "total": order.total,
            "paid": order.paid,
            "method": order.payment.method_code,
        }

    @api.model
    def _store_delivery(self, params):
        """``(new order id, known order id, pending delivery recorded)``; see ``_intake``."""
        self.env.cr.execute(
            """
            WITH known AS (
                SELECT id FROM sale_inbox_order
                 WHERE channel_id = %(channel)s AND external_id = %(external_id)s
            ), new_order AS (
                INSERT INTO sale_inbox_order (
                    channel_id, company_id, external_id, name, received_at, state,
                    payload, payload_content_type, normalized, fingerprint,
                    customer_name, customer_email, currency_id, amount_total, paid,
                    payment_method_code, attempt_count,
                    create_uid, create_date, write_uid, write_date)
                SELECT %(channel)s, %(company)s, %(external_id)s, %(name)s, %(now)s, 'new',
                       %(order_payload)s, %(order_content_type)s, %(normalized)s, %(fingerprint)s,
                       %(customer_name)s, %(customer_email)s,
                       (SELECT id FROM res_currency WHERE name = %(currency)s),
                       %(total)s, %(paid)s, %(method)s, 0,
                       %(uid)s, %(now)s, %(uid)s, %(now)s
                 WHERE NOT EXISTS (SELECT 1 FROM known)
                ON CONFLICT (channel_id, external_id) DO NOTHING
                RETURNING id
            ), delivery AS (
                INSERT INTO sale_inbox_delivery (
                    order_id, channel_id, company_id, received_at, fingerprint, payload,
                    content_type, normalized, kind, state, create_uid, create_date, write_uid, write_date)
                SELECT o.id, %(channel)s, %(company)s, %(now)s, %(delivery_fingerprint)s, %(payload)s,
                       %(content_type)s, %(delivery_normalized)s, %(kind)s,
                       CASE WHEN o.new AND %(kind)s = 'full' THEN 'applied' ELSE 'pending' END,
                       %(uid)s, %(now)s, %(uid)s, %(now)s
                  FROM (SELECT id, true AS new FROM new_order
                        UNION ALL SELECT id, false FROM known) o
                 WHERE o.new OR NOT EXISTS (SELECT 1 FROM sale_inbox_delivery d
                                             WHERE d.order_id = o.id
                                               AND d.fingerprint = %(delivery_fingerprint)s)
                ON CONFLICT (order_id, fingerprint) DO NOTHING
                RETURNING state
            ), trigger AS (
                -- The cron trigger row in the same statement: one round trip in all.
                INSERT INTO ir_cron_trigger (cron_id, call_at, create_uid, create_date, write_uid, write_date)
                SELECT %(cron)s, %(now)s, %(uid)s, %(now)s, %(uid)s, %(now)s
                 WHERE EXISTS (SELECT 1 FROM delivery WHERE state = 'pending')
                    OR (%(auto)s AND %(kind)s = 'full' AND EXISTS (SELECT 1 FROM new_order))
            )
            SELECT (SELECT id FROM new_order), (SELECT id FROM known),
                   EXISTS (SELECT 1 FROM delivery WHERE state = 'pending')
            """,
            params,
            log_exceptions=False,  # the statement holds personal data; failures are retried
        )
        return self.env.cr.fetchone()

    # ------------------------------------------------------------------
    # Unreadable deliveries: kept, visible, retryable
    # ------------------------------------------------------------------

    @api.model
    def _store_unreadable(self, channel, body, content_type, error):
        """Keep an authentic delivery that cannot be read, as an order in error that Retry
        reads again (after a fix of the parser, or of what the store sends); the same body
        again is the same record. Returns ``(its id, created)``."""
        digest = hashlib.sha256(body).hexdigest()
        payload, stored_type = storable_payload(body, content_type)
        message = storable_text(str(error))
        if stored_type != content_type:
            message += " " + self.env._("(The body is not UTF-8 text, or holds NUL characters: the raw payload is "
                               "kept base64-encoded, its content type marked %s.)", BASE64_MARK.strip("; "))
        now = fields.Datetime.now()
        self.env.cr.execute(
            """
            WITH known AS (
                SELECT id FROM sale_inbox_order
                 WHERE channel_id = %(channel)s AND external_id = %(external_id)s
            ), new_order AS (
                INSERT INTO sale_inbox_order (
                    channel_id, company_id, external_id, name, received_at, state, failed_step,
                    error_message, payload, payload_content_type, attempt_count,
                    create_uid, create_date, write_uid, write_date)
                SELECT %(channel)s, %(company)s, %(external_id)s, %(name)s, %(now)s, 'error', 'parse',
                       %(message)s, %(payload)s, %(content_type)s, 0, %(uid)s, %(now)s, %(uid)s, %(now)s
                 WHERE NOT EXISTS (SELECT 1 FROM known)
                ON CONFLICT (channel_id, external_id) DO NOTHING
                RETURNING id
            )
            SELECT (SELECT id FROM new_order), (SELECT id FROM known)
            """,
            {
                "channel": channel.id,
                "company": channel.company_id.id,
                "external_id": f"unreadable:{digest[:24]}",
                "name": self.env._("Unreadable delivery"),
                "now": now,
                "message": message,
                "payload": payload,
                "content_type": stored_type,
                "uid": self.env.uid,
            },
            log_exceptions=False,  # the payload may hold personal data
        )
        new_id, known_id = self.env.cr.fetchone()
        # The error itself is not logged: it may quote the payload.
        _logger.warning("Channel %s: kept an unreadable delivery as inbox order %s", channel.id, new_id or known_id)
        return new_id or known_id, bool(new_id)

    @api.model
    def _keep_unreadable(self, channel, body, content_type, error):
        """``_store_unreadable``, returning the id only."""
        return self._store_unreadable(channel, body, content_type, error)[0]

    def _read_again(self):
        """Read the raw payload of an unreadable delivery again (Retry). It becomes this
        order; or, when it is a delivery of an order the inbox holds, or a change of one (a
        patch: Mozello and PayPal send them), it goes to that order and this record is
        cancelled. Returns the order to go on with (this one, or none); raises
        InvalidPayload when it still cannot be read."""
        self.ensure_one()
        channel = self.channel_id
        body, content_type = payload_bytes(self.payload, self.payload_content_type)
        try:
            delivery = self._parse_delivery(channel, body, content_type)
        except IgnoredEvent as exc:
            self._close_unreadable(self.env._("Readable now, and nothing to keep: %s", exc))
            return self.browse()
        existing = self.search([("channel_id", "=", channel.id), ("external_id", "=", delivery.external_id)],
                               limit=1)
        if existing or delivery.order is None:
            self._intake(channel, delivery, body, content_type)
            if existing:
                note = self.env._("Readable now: it is a delivery of order %s.", existing.name)
            else:
                note = self.env._("Readable now: it is a change of order %s, kept until the order itself arrives.",
                         delivery.external_id)
            self._close_unreadable(note)
            return self.browse()
        order = delivery.order
        normalized, fingerprint = order.serialize()
        content = self._content_params(order)
        self.sudo().with_context(sale_inbox_internal=True).write({
            "external_id": delivery.external_id,
            "name": order.number or delivery.external_id,
            "normalized": normalized,
            "fingerprint": fingerprint,
            "customer_name": content["customer_name"],
            "customer_email": content["customer_email"],
            "amount_total": float(order.total),
            "paid": order.paid,
            "payment_method_code": content["method"],
            "currency_id": self.env["res.currency"].search([("name", "=", order.currency)], limit=1).id,
        })
        # Its first delivery, as intake records it, so that the same content sent again is
        # recognised.
        self.env["sale.inbox.delivery"].sudo().create({
            "order_id": self.id, "channel_id": channel.id, "company_id": self.company_id.id,
            "received_at": self.received_at, "fingerprint": fingerprint, "payload": self.payload,
            "content_type": self.payload_content_type, "normalized": normalized, "kind": "full",
            "state": "applied",
        })
        return self

    def _close_unreadable(self, note):
        self.sudo().with_context(sale_inbox_internal=True).write(
            {"state": "cancelled", "failed_step": False, "error_message": False})
        self._message_log(body=note)


def _where(exc):
    """An exception's type and the line that raised it, for the log: its message may quote
    the payload, hence personal data."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return type(exc).__name__
    return f"{type(exc).__name__} at {frames[-1].filename}:{frames[-1].lineno}"
