/** @odoo-module **/
/* A salesperson cancels an Ozon order from its sales order: Cancel opens the store's wizard with
   the reasons Ozon allows for the posting now; they pick "Other" (402), which asks for a message,
   write it, confirm, and the order is cancelled. Data: tests/test_ozon_cancel.py.

   Anchors: names of fields and buttons, the state's value and the reason's title as the fake Ozon
   gives it, never Odoo's labels. */
import { registry } from "@web/core/registry";

const FORM = ".o_action_manager .o_form_view";
const DIALOG = ".modal:not(.o_inactive_modal) .modal-content";

registry.category("web_tour.tours").add("sale_inbox_ozon_cancel", {
    steps: () => [
        {
            content: "Cancel the sales order",
            trigger: `${FORM} .o_form_statusbar button[name="action_cancel"]`,
            run: "click",
        },
        {
            content: "The live reasons of the posting, 'Other' among them",
            trigger: `${DIALOG} .o_field_widget[name="reason_id"] .o_radio_item:contains("Other") input`,
            run: "click",
        },
        {
            content: "'Other' needs a message",
            trigger: `${DIALOG} .o_field_widget[name="message"] textarea`,
            run: "edit The buyer asked us by phone",
        },
        {
            content: "Cancel and tell Ozon",
            trigger: `${DIALOG} button[name="action_confirm"]`,
            run: "click",
        },
        {
            content: "The order is cancelled",
            trigger: `${FORM} .o_field_widget[name="state"] button[data-value="cancel"].o_arrow_button_current`,
        },
    ],
});
