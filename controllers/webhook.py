"""Store webhooks: find the channel by its URL, then intake verifies, reads and stores."""
from urllib.parse import urlencode

from odoo import http
from odoo.http import request

from ..models.sale_channel import WEBHOOK_PATH
from .common import ROUTE_AUTH, error, read_body, respond


class WebhookController(http.Controller):

    @http.route(WEBHOOK_PATH + "/<string:token>", type="http", auth=ROUTE_AUTH, methods=["POST"],
                csrf=False, save_session=False)
    def receive(self, token, **_kwargs):
        channel = request.env["sale.channel"].sudo()._find_by_webhook_token(token)
        if not channel:
            return error(404, "unknown_channel", "No channel has this webhook address.")
        body = read_body(channel._platform().max_body_size)
        if not body and request.httprequest.form:
            # Odoo has parsed a form body before this handler runs (WooCommerce's set-up
            # ping is one); no signed delivery comes as a form, so rebuilding it is enough.
            body = urlencode(list(request.httprequest.form.items(multi=True))).encode()
        result = request.env["sale.inbox.order"].sudo()._intake_delivery(
            channel, body, request.httprequest.content_type, headers=request.httprequest.headers,
        )
        return respond(result)
