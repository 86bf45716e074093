/** @odoo-module **/
/* An administrator creates a WooCommerce channel and follows its set-up steps: credentials,
   Save, Test Connection, Read Payment Methods. The store is a fake WooCommerce on 127.0.0.1
   started by tests/test_tours.py, which gives its address in the cookie below.
   Anchors are field and button names (name=...), not texts, which change. */
import { registry } from "@web/core/registry";

const CHANNEL = "Tour WooCommerce";

function storeUrl() {
    const match = document.cookie.match(/(?:^|;\s*)sale_inbox_tour_store=([^;]*)/);
    if (!match) {
        throw new Error("tests/test_tours.py sets the fake store's address in a cookie: none found");
    }
    return decodeURIComponent(match[1]);
}

function field(name, tag = "input") {
    return `.o_form_view .o_field_widget[name="${name}"] ${tag}`;
}

/** After a button: the notification it shows, and the form still on the channel just saved
 *  (not a blank new channel). */
function successAndStillOnTheChannel(what) {
    return [
        {
            content: `${what}: success is shown`,
            trigger: ".o_notification:has(.o_notification_bar.bg-success)",
            timeout: 30000,
        },
        {
            content: `${what}: the form still shows the channel`,
            trigger: `${field("name")}:value("${CHANNEL}")`,
        },
        {
            content: "Close the notification",
            trigger: ".o_notification:has(.o_notification_bar.bg-success) .o_notification_close",
            run: "click",
        },
    ];
}

registry.category("web_tour.tours").add("sale_inbox_woocommerce_setup", {
    url: "/odoo/action-sale_inbox.sale_channel_action",
    steps: () => [
        {
            content: "New channel",
            trigger: ".o_control_panel_main_buttons :is(.o_list_button_add, .o-kanban-button-new)",
            run: "click",
        },
        {
            content: "Name it",
            trigger: field("name"),
            run: `edit ${CHANNEL}`,
        },
        {
            content: "Platform: WooCommerce",
            trigger: field("platform", "select"),
            run: 'select "woocommerce"',
        },
        {
            content: "The store's address",
            trigger: field("store_url"),
            run(helpers) {
                return helpers.edit(storeUrl());
            },
        },
        {
            content: "Consumer key",
            trigger: field("api_login"),
            run: "edit ck_tour",
        },
        {
            content: "Consumer secret",
            trigger: field("api_secret"),
            run: "edit cs_tour",
        },
        {
            content: "Save",
            trigger: ".o_form_button_save",
            run: "click",
        },
        {
            content: "Saved",
            trigger: ".o_form_view .o_form_saved",
        },
        {
            content: "Test Connection",
            trigger: '.o_form_view button[name="action_test_connection"]',
            run: "click",
        },
        ...successAndStillOnTheChannel("Test Connection"),
        {
            content: "Read Payment Methods",
            trigger: '.o_form_view button[name="action_read_payment_methods"]',
            run: "click",
        },
        ...successAndStillOnTheChannel("Read Payment Methods"),
        {
            content: "Open the payments mapping",
            trigger: '.o_form_view .o_notebook a.nav-link[name="payments"]',
            run: "click",
        },
        {
            content: "The store's gateways are in the payments mapping",
            trigger: '.o_form_view .o_field_widget[name="payment_method_ids"] .o_data_row:contains("stripe")',
        },
    ],
});
