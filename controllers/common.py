"""What the store routes share: their dispatch (``STORE_ROUTE``), reading a body within the
channel's limit, and the answer to an intake result. The routes only authenticate, store
(``_intake_delivery``) and acknowledge."""
from odoo.http import HttpDispatcher, request

#: The ``type`` of every store route (see ``StoreDispatcher``).
STORE_ROUTE = "sale_inbox_store"

#: Authentication of the store routes. "none", not "public", decided by measurement: on one
#: server, alternating runs of 300 requests from 8 clients, a new order was 8-16% slower with
#: "public" (medians of 6 rounds, twice) and a wrong key the same. Intake needs no user: the
#: store is authenticated by its API key or signature, and the work runs as superuser; a user
#: would only be written into create_uid/write_uid of every row intake inserts, each a
#: foreign-key check that key-share-locks that one res_users row from every request.
#: The routes that store say ``readonly=False``: Odoo runs an ``auth="none"`` route in a
#: read-only transaction first, and all over again in a read/write one at its first write, so
#: a delivery would be verified twice (for PayPal, twice the calls to PayPal).
ROUTE_AUTH = "none"

#: Where the body is kept once read: the stream can be read only once, and Odoo runs the
#: route again after a serialization failure (two deliveries of one new order racing).
BODY_KEY = "sale_inbox.body"

#: Refusals: (HTTP status, error code, message). ``too_large`` says its limit itself.
REFUSALS = {
    "invalid": (422, "invalid_order", "The order has errors; nothing was stored."),
    "unauthorized": (401, "unauthorized", "Missing or wrong signature."),
    "unverifiable": (503, "verification_unavailable", "The signature could not be checked; retry later."),
    "disconnected": (503, "channel_disconnected", "This channel is disconnected in Odoo."),
    "too_large": (413, "too_large", None),
}


def error(status, code, message, headers=None, **extra):
    return request.make_json_response({"error": code, "message": message, **extra}, status=status,
                                      headers=headers)


def push_error(status, code, message, details=""):
    """A refusal in the shape stores that push notifications expect (Ozon's):
    ``{"error": {"code", "message", "details"}}``."""
    return request.make_json_response({"error": {"code": code, "message": message, "details": details}},
                                      status=status)


class StoreDispatcher(HttpDispatcher):
    """Odoo's ``http`` dispatch for the store routes, minus what must not happen before a
    store is authenticated.

    Odoo's own dispatch reads a form body (url-encoded or multipart) whole into
    ``request.params`` before the route runs, whatever its size, chunked or not: a sender
    could make a worker read and hold any amount before the signature is checked. A store
    route reads its body itself, with ``read_body``; only the query string becomes
    parameters. It answers only the methods the route declares: Odoo adds OPTIONS to every
    route (for CORS pre-flights), which would otherwise run the route as a POST. Stores call
    server to server, so there is no CORS to answer: OPTIONS is a 405 like any other method.
    """

    routing_type = STORE_ROUTE

    def dispatch(self, endpoint, args):
        self.request.params = dict(self.request.httprequest.args, **args)
        allowed = endpoint.routing.get("methods") or []
        if self.request.httprequest.method not in allowed:
            return error(405, "method_not_allowed", f"This address takes {', '.join(allowed)} only.",
                         headers=[("Allow", ", ".join(allowed))])
        return self.request.registry["ir.http"]._dispatch(endpoint)


def read_body(limit):
    """The request body, reading at most ``limit + 1`` bytes whatever its framing (store
    routes only: ``StoreDispatcher`` leaves the body unread for it).

    ``get_data()`` reads everything: with ``Transfer-Encoding: chunked`` there is no
    Content-Length to refuse beforehand, and werkzeug 2.2 (Odoo 18 on Python 3.11) does not
    apply ``max_content_length`` to it, so a sender could make a worker hold any amount.
    One byte past the limit is enough for intake to refuse the body as too large. Odoo's
    request wrapper does not expose werkzeug's ``stream``: it is taken from the wrapped
    werkzeug request.
    """
    httprequest = getattr(request.httprequest, "_HTTPRequest__wrapped", request.httprequest)
    environ = httprequest.environ
    if BODY_KEY not in environ:
        stream = httprequest.stream
        chunks, size = [], 0
        while size <= limit:
            # A stream may return less than asked (a chunk at a time): read until the limit
            # is passed or the body ends.
            chunk = stream.read(limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        environ[BODY_KEY] = b"".join(chunks)
    return environ[BODY_KEY]


def respond(result, created_status=200):
    """The HTTP answer to an IntakeResult: the stored order's resource, or why not."""
    if result.status in REFUSALS:
        status, code, message = REFUSALS[result.status]
        extra = {"errors": [e.to_dict() for e in result.errors]} if result.errors else {}
        return error(status, code, message or result.message, **extra)
    if result.status == "ignored":
        return request.make_json_response({"status": "ignored", "message": result.message})
    if result.status == "handshake":
        return request.make_json_response({"status": "ok"})
    # Stored (an unreadable delivery too: kept in error, so the store must not send it again).
    return request.make_json_response(result.answer, status=created_status if result.created else 200)
