"""Store webhooks: find the channel by its URL, let the platform verify, store, acknowledge."""
import logging
from urllib.parse import urlencode

from odoo import http
from odoo.http import request

from ..models.sale_channel import WEBHOOK_PATH
from ..platforms import AuthenticationError, IgnoredEvent, InvalidPayload
from ..platforms.http import ApiError
from .connect import _error

_logger = logging.getLogger(__name__)


class WebhookController(http.Controller):

    @http.route(WEBHOOK_PATH + "/<string:token>", type="http", auth="none", methods=["POST"],
                csrf=False, save_session=False)
    def receive(self, token, **_kwargs):
        channel = request.env["sale.channel"].sudo()._find_by_webhook_token(token)
        if not channel:
            return _error(404, "unknown_channel", "No channel has this webhook address.")
        platform = channel._platform()
        length = request.httprequest.content_length
        if length and length > platform.max_body_size:
            return _error(413, "too_large", f"The body is larger than {platform.max_body_size} bytes.")
        body = request.httprequest.get_data(cache=True)
        if not body and request.httprequest.form:
            # Odoo has parsed a form body before this handler runs (WooCommerce's set-up
            # ping is one); no signed delivery comes as a form, so rebuilding it is enough.
            body = urlencode(list(request.httprequest.form.items(multi=True))).encode()
        headers = request.httprequest.headers
        if platform.is_handshake(headers, body):
            # The store checks the address works; there is nothing to sign, store or process.
            return request.make_json_response({"status": "ok"})
        try:
            platform.verify(headers, body, channel._credentials())
        except AuthenticationError as exc:
            _logger.info("Channel %s refused a webhook: %s", channel.id, exc)
            return _error(401, "unauthorized", "Missing or wrong signature.")
        except ApiError as exc:
            # The store's own verification service did not answer: nothing is stored, and
            # the store, told to come back, delivers again.
            _logger.warning("Channel %s could not verify a webhook: %s", channel.id, exc)
            return _error(503, "verification_unavailable", "The signature could not be checked; retry later.")
        if channel.state != "connected":
            return _error(503, "channel_disconnected", "This channel is disconnected in Odoo.")
        content_type = request.httprequest.content_type or "application/json"
        Inbox = request.env["sale.inbox.order"].sudo()
        try:
            _inbox_id, _created, answer = Inbox._receive(channel, body, content_type)
        except IgnoredEvent as exc:
            return request.make_json_response({"status": "ignored", "message": str(exc)})
        except InvalidPayload as exc:
            # Authentic but unreadable: kept with its error for a person to see and retry,
            # and acknowledged, since the store sending it again would not make it readable.
            inbox_id = Inbox._keep_unreadable(channel, body, content_type, exc)
            return request.make_json_response({"id": inbox_id, "status": "error", "message": str(exc)})
        return request.make_json_response(answer)
