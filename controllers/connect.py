"""Connect API routes: authenticate, store, acknowledge. Nothing else happens here."""
import logging

from odoo import http
from odoo.http import request

from ..models.sale_channel import CONNECT_ORDERS_PATH
from ..platforms import InvalidPayload
from ..platforms.connect import bearer_token

_logger = logging.getLogger(__name__)


def _error(status, code, message, **extra):
    return request.make_json_response({"error": code, "message": message, **extra}, status=status)


class ConnectController(http.Controller):

    def _channel(self):
        """The channel of the bearer token, or an error response to send back."""
        channel = request.env["sale.channel"].sudo()._find_by_api_key(
            bearer_token(request.httprequest.headers)
        )
        if not channel or channel.platform != "connect" or not channel.active:
            return None, _error(401, "unauthorized", "Missing or wrong API key.")
        if channel.state != "connected":
            return None, _error(503, "channel_disconnected", "This channel is disconnected in Odoo.")
        return channel, None

    @http.route(CONNECT_ORDERS_PATH, type="http", auth="none", methods=["POST"], csrf=False,
                save_session=False)
    def post_order(self, **_kwargs):
        channel, refusal = self._channel()
        if refusal:
            return refusal
        platform = channel._platform()
        length = request.httprequest.content_length
        if length and length > platform.max_body_size:
            return _error(413, "too_large", f"The body is larger than {platform.max_body_size} bytes.")
        body = request.httprequest.get_data(cache=True)
        if len(body) > platform.max_body_size:
            return _error(413, "too_large", f"The body is larger than {platform.max_body_size} bytes.")
        try:
            _inbox_id, created, answer = request.env["sale.inbox.order"].sudo()._receive(
                channel, body, request.httprequest.content_type or "application/json"
            )
        except InvalidPayload as exc:
            _logger.info("Connect channel %s refused an order: %s", channel.id, exc)
            return _error(422, "invalid_order", "The order has errors; nothing was stored.",
                          errors=[e.to_dict() for e in exc.errors])
        return request.make_json_response(answer, status=201 if created else 200)

    @http.route(CONNECT_ORDERS_PATH + "/<string:external_id>", type="http", auth="none",
                methods=["GET"], csrf=False, save_session=False)
    def get_order(self, external_id, **_kwargs):
        channel, refusal = self._channel()
        if refusal:
            return refusal
        order = request.env["sale.inbox.order"].sudo().search(
            [("channel_id", "=", channel.id), ("external_id", "=", external_id)], limit=1
        )
        if not order:
            return _error(404, "not_found", "No order with this id in the inbox.")
        return request.make_json_response(order._api_status())
