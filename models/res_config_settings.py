from urllib.parse import urlsplit

from odoo import api, fields, models
from odoo.exceptions import ValidationError

#: The address stores reach this Odoo at (webhooks): set by an administrator, never guessed
#: from a request (``web.base.url`` follows the Host header of an administrator's login).
PUBLIC_URL_PARAM = "sale_inbox.public_url"
#: Whether store URLs may lead to loopback and private addresses (a store on the local
#: network, the demo, the tests). Link-local addresses stay refused whatever it says.
ALLOW_PRIVATE_PARAM = "sale_inbox.allow_private_store_addresses"


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    sale_inbox_public_url = fields.Char(
        string="Public Address for Stores",
        config_parameter=PUBLIC_URL_PARAM,
        help="The address of this Odoo as the stores reach it, e.g. https://erp.example.com. "
        "Channel webhook URLs start with it, and Register Webhook sends it to the store.",
    )
    sale_inbox_allow_private_store_addresses = fields.Boolean(
        string="Allow Private Store Addresses",
        config_parameter=ALLOW_PRIVATE_PARAM,
        help="Let channels call store URLs on this server or the private network (127.0.0.1, "
        "10.x, 172.16-31.x, 192.168.x, fc00::/7). Off, such URLs are refused: whoever types a "
        "store URL could otherwise reach internal services. Link-local addresses (169.254.x, "
        "fe80::) and cloud metadata addresses (fd00:ec2::254, 100.100.100.200, ...) stay refused.",
    )

    @api.constrains("sale_inbox_public_url")
    def _check_sale_inbox_public_url(self):
        for settings in self:
            if settings.sale_inbox_public_url:
                self._sale_inbox_public_url_problem(settings.sale_inbox_public_url)

    def _sale_inbox_public_url_problem(self, url):
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValidationError(self.env._(
                "The public address for stores must be a full address starting with https:// "
                "(e.g. https://erp.example.com), not %s.", url))
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ValidationError(self.env._(
                "The public address for stores is the address of Odoo only, without a query, a "
                "fragment or a password: %s.", url))

    def set_values(self):
        if self.sale_inbox_public_url:
            self.sale_inbox_public_url = self.sale_inbox_public_url.strip().rstrip("/")
        return super().set_values()
