/** @odoo-module **/
/* A salesperson (Sales Inbox User) fixes an order that stopped: the store's payment method is not mapped
   and a line's SKU is unknown. They open it from the inbox (a kanban of what is to do, in
   columns), see both problems at once in the review screen's "What stops this order", fix each
   with its own button (Link Product: the existing product; Map Method: the journal), press
   Retry once, and the order is Done. Data: tests/test_tours.py.

   Anchors: names (name=...) of fields, buttons and groups, and the data of the test (the order
   number, the SKU, the method's code, the product's and journal's names), never labels. */
import { registry } from "@web/core/registry";
import { stepUtils } from "@web_tour/tour_service/tour_utils";

const ORDER = "TOUR-2001";
const METHOD = "banklink";
const METHOD_NAME = "Bank link";
const UNKNOWN_SKU = "SI-MUGG";
const PRODUCT = "Travel Mug";
const JOURNAL = "Tour Bank";
// Steps that wait for processing (Retry): longer than the usual 10 s on a busy machine.
const SERVER_TIMEOUT = 30000;

// The order's form (a dialog is outside the action manager).
const FORM = ".o_action_manager .o_form_view";
const PROBLEMS = `${FORM} div[name="problems"] .o_field_widget[name="problem_ids"]`;
const DIALOG = ".modal:not(.o_inactive_modal) .modal-content";

function problemRow(text) {
    return `${PROBLEMS} .o_data_row:contains("${text}")`;
}

/** A many2one in the dialog: type, then pick the suggestion. */
function pickInDialog(fieldName, value) {
    return [
        {
            content: `${fieldName}: ${value}`,
            trigger: `${DIALOG} .o_field_widget[name="${fieldName}"] input`,
            run: `edit ${value}`,
        },
        {
            trigger: `.o-autocomplete--dropdown-menu .dropdown-item:contains("${value}")`,
            run: "click",
        },
        {
            content: `${fieldName} chosen`,
            trigger: `${DIALOG} .o_field_widget[name="${fieldName}"] input:value("${value}")`,
        },
    ];
}

registry.category("web_tour.tours").add("sale_inbox_fix_order", {
    url: "/odoo",
    steps: () => [
        ...stepUtils.goToAppSteps("sale.sale_menu_root", "Open the Sales app"),
        {
            content: "Open the Sales Inbox menu",
            trigger: '.o_main_navbar button[data-menu-xmlid="sale_inbox.menu_sale_inbox_root"]',
            run: "click",
        },
        {
            content: "Open the inbox",
            trigger: '.dropdown-item[data-menu-xmlid="sale_inbox.menu_sale_inbox_orders"]',
            run: "click",
        },
        {
            content: "The inbox: the order in a column of the to-do kanban",
            trigger: `.o_kanban_view .o_kanban_renderer.o_kanban_grouped .o_kanban_group .o_kanban_record:contains("${ORDER}")`,
            run: "click",
        },
        {
            content: "The order's review screen",
            trigger: `${FORM} .o_field_widget[name="name"]:contains("${ORDER}")`,
        },
        {
            content: "Both problems at once: the unknown SKU and the unmapped method, each with its button",
            trigger: `${PROBLEMS}:has(.o_data_row:contains("${UNKNOWN_SKU}") button[name="action_link_product"]):has(.o_data_row:contains("${METHOD}") button[name="action_map_payment_method"])`,
        },
        {
            content: "Its payment: the store's method, not mapped, with Map Method beside it",
            trigger: `${FORM} .o_inner_group:has(.o_field_widget[name="payment_method_id"]:contains("${METHOD_NAME}")):not(:has(.o_field_widget[name="payment_journal_id"])) button[name="action_map_payment_method"]`,
        },
        // Link Product: the SKU is the existing mug.
        {
            content: `Link Product on the ${UNKNOWN_SKU} problem`,
            trigger: `${problemRow(UNKNOWN_SKU)} button[name="action_link_product"]`,
            run: "click",
        },
        {
            content: "The Link Product dialog names the SKU",
            trigger: `${DIALOG} .o_field_widget[name="sku"]:contains("${UNKNOWN_SKU}")`,
        },
        ...pickInDialog("product_id", PRODUCT),
        {
            content: "Link",
            trigger: `${DIALOG} button[name="action_link"]`,
            run: "click",
        },
        {
            content: "The SKU problem is gone, the method's is left",
            trigger: `${PROBLEMS}:has(.o_data_row:contains("${METHOD}")):not(:has(.o_data_row:contains("${UNKNOWN_SKU}")))`,
            timeout: SERVER_TIMEOUT,
        },
        {
            content: `The store's line now finds ${PRODUCT}`,
            trigger: `${FORM} .o_field_widget[name="line_ids"] .o_data_row:contains("${UNKNOWN_SKU}") .o_data_cell[name="product_id"]:contains("${PRODUCT}")`,
        },
        // Map Method: the journal of the store's method.
        {
            content: `Map Method on the ${METHOD} problem`,
            trigger: `${problemRow(METHOD)} button[name="action_map_payment_method"]`,
            run: "click",
        },
        {
            content: "The mapping dialog, on the store's method",
            trigger: `${DIALOG} .o_form_view .o_field_widget[name="code"]:contains("${METHOD}")`,
        },
        ...pickInDialog("journal_id", JOURNAL),
        {
            content: "Save the mapping",
            trigger: `${DIALOG} .o_form_button_save`,
            run: "click",
        },
        {
            content: "The order's payment shows the journal",
            trigger: `${FORM} .o_field_widget[name="payment_journal_id"]:contains("${JOURNAL}")`,
            timeout: SERVER_TIMEOUT,
        },
        // One Retry.
        {
            content: "Retry",
            trigger: `${FORM} .o_statusbar_buttons button[name="action_retry"]`,
            run: "click",
        },
        {
            content: "The order is done",
            trigger: `${FORM} .o_statusbar_status button.o_arrow_button_current[data-value="done"]`,
            timeout: SERVER_TIMEOUT,
        },
        {
            content: "nothing stops it any more",
            trigger: `${FORM}:not(:has(div[name="problems"] .o_data_row))`,
        },
        {
            content: "and it has its sales order",
            trigger: `${FORM} button[name="action_view_sale_order"]`,
        },
    ],
});
