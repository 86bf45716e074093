"""Store webhooks: find the channel by its URL, then intake verifies, reads and stores."""
from odoo import http
from odoo.http import request

from ..models.sale_channel import WEBHOOK_PATH
from .common import ROUTE_AUTH, STORE_ROUTE, error, read_body, respond


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
