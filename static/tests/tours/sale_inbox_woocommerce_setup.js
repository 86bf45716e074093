/** @odoo-module **/
/* An administrator creates a WooCommerce channel and follows its set-up steps panel: fills the
   credentials, saves, and the panel says what is next; presses Test Connection in the panel
   (the step turns Done), Read Payment Methods, maps the card method to a journal in the
   Payments Mapping tab (that step turns Done). The store is a fake WooCommerce on 127.0.0.1
   started by tests/test_tours.py, which gives its address in the cookie below.

   Anchors are names (name=...) of fields, buttons and the panel's rows, and data the test
   made (method codes, the journal's name), not labels, which change with the language. A
   step's state is its badge's colour: green (text-bg-success) Done, amber (text-bg-warning)
   To Do. */
import { registry } from "@web/core/registry";

const CHANNEL = "Tour WooCommerce";
const JOURNAL = "Tour Bank";
const PANEL = '.o_form_view div[name="setup_steps"]';

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

/** The panel's row of a step (setup_test, setup_payments, ...). */
function stepRow(step) {
    return `${PANEL} tr[name="${step}"]`;
}

function stepIs(step, state, timeout) {
    const badge = { done: "text-bg-success", todo: "text-bg-warning" }[state];
    return {
        content: `Set-up step ${step}: ${state}`,
        trigger: `${stepRow(step)} .o_field_widget[name="${step}"] .badge.${badge}`,
        ...(timeout ? { timeout } : {}),
    };
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
        // The panel: credentials done, Test Connection next, the payment methods still to do.
        stepIs("setup_credentials", "done"),
        stepIs("setup_test", "todo"),
        stepIs("setup_payments", "todo"),
        {
            content: "Not tested yet: the health light is not green",
            trigger: '.o_form_view div[name="health_light"] .o_field_widget[name="health"] .badge:not(.text-bg-success)',
        },
        {
            content: "Test Connection, from its step",
            trigger: `${stepRow("setup_test")} button[name="action_test_connection"]`,
            run: "click",
        },
        ...successAndStillOnTheChannel("Test Connection"),
        stepIs("setup_test", "done"),
        {
            content: "Tested: the health light is not red",
            trigger: '.o_form_view div[name="health_light"] .o_field_widget[name="health"] .badge:not(.text-bg-danger)',
        },
        {
            content: "Read Payment Methods, from its step",
            trigger: `${stepRow("setup_payments")} button[name="action_read_payment_methods"]`,
            run: "click",
        },
        ...successAndStillOnTheChannel("Read Payment Methods"),
        {
            content: "Open the payments mapping",
            trigger: '.o_form_view .o_notebook a.nav-link[name="payments"]',
            run: "click",
        },
        {
            content: "The store's enabled gateways are in the payments mapping",
            trigger: '.o_form_view .o_field_widget[name="payment_method_ids"]:has(.o_data_row:contains("stripe")):has(.o_data_row:contains("cod"))',
        },
        // Cash on delivery is not paid online: only the card method waits for a journal.
        stepIs("setup_payments", "todo"),
        {
            content: "Map the card method: its journal",
            trigger: '.o_field_widget[name="payment_method_ids"] .o_data_row:contains("stripe") .o_data_cell[name="journal_id"]',
            run: "click",
        },
        {
            content: `Journal: ${JOURNAL}`,
            trigger: '.o_field_widget[name="payment_method_ids"] .o_selected_row .o_field_widget[name="journal_id"] input',
            run: `edit ${JOURNAL}`,
        },
        {
            trigger: `.o-autocomplete--dropdown-menu .dropdown-item:contains("${JOURNAL}")`,
            run: "click",
        },
        {
            content: "Save the channel",
            trigger: ".o_form_button_save",
            run: "click",
        },
        {
            content: "Saved",
            trigger: ".o_form_view .o_form_saved",
        },
        {
            content: "The card method shows its journal",
            trigger: `.o_form_view .o_field_widget[name="payment_method_ids"] .o_data_row:not(.o_selected_row):contains("stripe"):contains("${JOURNAL}")`,
        },
        stepIs("setup_payments", "done"),
        // What is left: products, past orders, going live; the panel stays until they are done.
        stepIs("setup_import", "todo"),
        stepIs("setup_live", "todo"),
    ],
});
