"""Store webhooks: find the channel by its URL, then intake verifies, reads and stores."""
from datetime import datetime, timezone

from odoo import http
from odoo.http import request
from odoo.modules.module import get_manifest

from ..models.sale_channel import WEBHOOK_PATH
from ..platforms import InvalidPayload
from .common import ROUTE_AUTH, STORE_ROUTE, error, push_error, read_body, respond


class WebhookController(http.Controller):

    @http.route(WEBHOOK_PATH + "/<string:token>", type=STORE_ROUTE, auth=ROUTE_AUTH, methods=["POST"],
                csrf=False, save_session=False, readonly=False)
    def receive(self, token, **_kwargs):
        channel = request.env["sale.channel"].sudo()._find_by_webhook_token(token)
        if not channel:
            return error(404, "unknown_channel", "No channel has this webhook address.")
        platform = channel._platform()
        # A form body (WooCommerce's set-up ping) is read as it came, like any other: the
        # store dispatch leaves it to read_body.
        body = read_body(platform.max_body_size)
        if getattr(platform, "rereads_pushes", False):
            return self._push(channel, platform, body)
        headers = request.httprequest.headers
        ignored = len(body) <= platform.max_body_size and platform.ignored_event(headers, body)
        if ignored:
            # An event the channel never acts on: acknowledged as intake would after
            # verifying it, without paying for the verification (PayPal's costs API calls).
            return request.make_json_response({"status": "ignored", "message": ignored})
        result = request.env["sale.inbox.order"].sudo()._intake_delivery(
            channel, body, request.httprequest.content_type, headers=headers,
        )
        return respond(result)

    def _push(self, channel, platform, body):
        """A store whose pushes are not signed (Ozon): a push only names orders to read again
        from the store's API. Their numbers are stored (one row each, whatever is pushed
        again) and the answer goes out at once: nothing here calls the store, so the answer
        stays well within the store's time limit (Ozon: 5 s) and a forged push can cause no
        more than one read of the store's API."""
        if len(body) > platform.max_body_size:
            return push_error(413, "too_large", f"The body is larger than {platform.max_body_size} bytes.")
        if channel.state != "connected":
            return push_error(503, "channel_disconnected", "This channel is disconnected in Odoo.")
        try:
            kind, refs = platform.read_push(body)
        except InvalidPayload as exc:
            return push_error(400, "invalid_notification", str(exc))
        # A number of a shape the store never gives is refused before anything is stored.
        pattern = getattr(platform, "push_ref_pattern", None)
        if pattern and any(not pattern.match(ref) for ref, _scheme in refs):
            return push_error(400, "invalid_notification", "The notification names an order number of a shape "
                                                           "the store does not give.")
        channel._note_delivery_received()
        if kind == "ping":
            now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            return request.make_json_response(platform.ping_answer(now, get_manifest("sale_inbox")["version"]))
        if refs:
            request.env["sale.channel.reread"].sudo()._queue(channel, refs)
        return request.make_json_response({"result": True})
