/** @odoo-module **/
/* A person fixes an order that stopped for review: the store's payment method is not mapped
   and a line's SKU is unknown. They open it from the inbox, fix each problem, Retry, and the
   order is Done. Data: tests/test_tours.py.

   The fixes are the steps that change with the review screen: each is one function below,
   to be swapped for the review screen's inline actions (map the method on the order, Link
   Product on the line). */
import { registry } from "@web/core/registry";
import { stepUtils } from "@web_tour/tour_service/tour_utils";

const ORDER = "TOUR-2001";
const METHOD = "banklink";
const UNKNOWN_SKU = "SI-MUGG";
const PRODUCT_SKU = "SI-MUG";
// Steps that wait for processing (Retry): longer than the usual 10 s on a busy machine.
const SERVER_TIMEOUT = 30000;

function openMenu(xmlid) {
    return [
        {
            content: "Open the Sales Inbox menu",
            trigger: '.o_main_navbar button[data-menu-xmlid="sale_inbox.menu_sale_inbox_root"]',
            run: "click",
        },
        {
            content: `Open ${xmlid}`,
            trigger: `.dropdown-item[data-menu-xmlid="${xmlid}"]`,
            run: "click",
        },
    ];
}

function openOrderFromInbox() {
    return [
        ...openMenu("sale_inbox.menu_sale_inbox_orders"),
        {
            content: "Open the order from the inbox",
            trigger: `.o_kanban_view .o_kanban_record:contains("${ORDER}")`,
            run: "click",
        },
        {
            content: "The order's form",
            trigger: `.o_form_view .o_field_widget[name="name"]:contains("${ORDER}")`,
        },
    ];
}

function problemShown(text) {
    return {
        content: `The order says what is wrong: ${text}`,
        trigger: `.o_form_view .o_field_widget[name="error_message"]:contains("${text}")`,
        timeout: SERVER_TIMEOUT,
    };
}

/* Today: the Payments Mapping screen (Sales Inbox > Payments Mapping), then back to the order. */
function mapPaymentMethod() {
    return [
        ...openMenu("sale_inbox.menu_sale_channel_payment_method"),
        {
            content: "The store's method, learnt from the order",
            trigger: `.o_list_view .o_data_row:contains("${METHOD}") .o_data_cell[name="journal_id"]`,
            run: "click",
        },
        {
            content: "Map it to the bank journal",
            trigger: '.o_list_view .o_selected_row .o_field_widget[name="journal_id"] input',
            run: "edit Tour Bank",
        },
        {
            trigger: '.o-autocomplete--dropdown-menu .dropdown-item:contains("Tour Bank")',
            run: "click",
        },
        {
            content: "Save the mapping",
            trigger: ".o_list_button_save",
            run: "click",
        },
        {
            content: "Saved",
            trigger: `.o_list_view .o_data_row:not(.o_selected_row):contains("${METHOD}"):contains("Tour Bank")`,
        },
        ...openOrderFromInbox(),
    ];
}

/* Today: a manager corrects the SKU in the order as read from the store (Normalized Order). */
function linkProduct() {
    return [
        {
            content: "Open the order as read from the store",
            trigger: '.o_form_view .o_notebook a.nav-link[name="normalized"]',
            run: "click",
        },
        {
            content: `Correct ${UNKNOWN_SKU} into ${PRODUCT_SKU}`,
            trigger: '.o_form_view .o_field_widget[name="normalized"] textarea',
            run(helpers) {
                const text = this.anchor.value;
                if (!text.includes(`"${UNKNOWN_SKU}"`)) {
                    throw new Error(`${UNKNOWN_SKU} is not in the normalized order`);
                }
                return helpers.edit(text.replace(`"${UNKNOWN_SKU}"`, `"${PRODUCT_SKU}"`));
            },
        },
    ];
}

function retry() {
    return {
        content: "Retry",
        trigger: '.o_form_view .o_statusbar_buttons button[name="action_retry"]',
        run: "click",
    };
}

registry.category("web_tour.tours").add("sale_inbox_fix_order", {
    url: "/odoo",
    steps: () => [
        ...stepUtils.goToAppSteps("sale.sale_menu_root", "Open the Sales app"),
        ...openOrderFromInbox(),
        problemShown(METHOD),
        ...mapPaymentMethod(),
        retry(),
        problemShown(UNKNOWN_SKU),
        ...linkProduct(),
        retry(),
        {
            content: "The order is done",
            trigger: '.o_form_view .o_statusbar_status button.o_arrow_button_current[data-value="done"]',
            timeout: SERVER_TIMEOUT,
        },
        {
            content: "and has its sales order",
            trigger: '.o_form_view .o_field_widget[name="sale_order_id"] a, .o_form_view .o_field_widget[name="sale_order_id"]:not(:empty)',
        },
    ],
});
