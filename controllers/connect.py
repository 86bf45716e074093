"""Connect API routes: authenticate, store, acknowledge. Nothing else happens here."""
from odoo import http
from odoo.http import request

from ..models.sale_channel import CONNECT_ORDERS_PATH
from ..platforms.connect import bearer_token
from .common import ROUTE_AUTH, STORE_ROUTE, error, read_body, respond


class ConnectController(http.Controller):

    def _channel(self):
        """The channel of the bearer token, or an error response to send back."""
        channel = request.env["sale.channel"].sudo()._find_by_api_key(
            bearer_token(request.httprequest.headers)
        )
        if not channel or channel.platform != "connect" or not channel.active:
            return None, error(401, "unauthorized", "Missing or wrong API key.")
        if channel.state != "connected":
            return None, error(503, "channel_disconnected", "This channel is disconnected in Odoo.")
        return channel, None

    @http.route(CONNECT_ORDERS_PATH, type=STORE_ROUTE, auth=ROUTE_AUTH, methods=["POST"], csrf=False,
                save_session=False, readonly=False)
    def post_order(self, **_kwargs):
        channel, refusal = self._channel()
        if refusal:
            return refusal
        result = request.env["sale.inbox.order"].sudo()._intake_delivery(
            channel, read_body(channel._platform().max_body_size), request.httprequest.content_type,
            verified=True, refuse_invalid=True,
        )
        return respond(result, created_status=201)

    @http.route(CONNECT_ORDERS_PATH + "/<string:external_id>", type=STORE_ROUTE, auth=ROUTE_AUTH,
                methods=["GET"], csrf=False, save_session=False)
    def get_order(self, external_id, **_kwargs):
        channel, refusal = self._channel()
        if refusal:
            return refusal
        order = request.env["sale.inbox.order"].sudo().search(
            [("channel_id", "=", channel.id), ("external_id", "=", external_id)], limit=1
        )
        if not order:
            return error(404, "not_found", "No order with this id in the inbox.")
        return request.make_json_response(order._api_status())
