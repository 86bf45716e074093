{
    "name": "Sales Inbox",
    "summary": "Orders from every online store and marketplace in one inbox, "
    "turned into sale orders, invoices and payments by themselves",
    "version": "18.0.1.2.0",
    "category": "Sales/Sales",
    "website": "https://github.com/sale-inbox/sale_inbox",
    "author": "sale_inbox developers",
    "license": "LGPL-3",
    "depends": ["sale_management", "sale_stock"],
    "external_dependencies": {"python": ["requests", "lxml", "tzdata"]},
    "data": [
        "security/sale_inbox_security.xml",
        "security/ir.model.access.csv",
        "data/product_data.xml",
        "data/ir_cron_data.xml",
        "views/sale_channel_import_views.xml",
        "views/sale_channel_product_views.xml",
        "views/sale_channel_outbox_views.xml",
        "views/sale_channel_views.xml",
        "views/sale_channel_address_views.xml",
        "views/sale_channel_payment_method_views.xml",
        "views/sale_channel_partner_views.xml",
        "views/sale_inbox_order_views.xml",
        "views/sale_inbox_order_list_views.xml",
        "views/sale_inbox_delivery_views.xml",
        "views/sale_order_views.xml",
        "views/sale_inbox_menus.xml",
        "views/res_config_settings_views.xml",
        "views/sale_channel_mail_views.xml",
    ],
    "assets": {
        # Globs, so that a new component or tour needs no manifest change.
        "web.assets_backend": [
            "sale_inbox/static/src/**/*",
        ],
        "web.assets_tests": [
            "sale_inbox/static/tests/tours/**/*",
        ],
    },
    "demo": [
        "demo/sale_inbox_demo.xml",
    ],
    "application": False,
    "installable": True,
}
