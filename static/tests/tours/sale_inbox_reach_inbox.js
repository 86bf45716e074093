/** @odoo-module **/
/* A new Sales Inbox user finds the inbox by clicking from the home screen: the Sales app,
   its "Sales Inbox" menu, "Inbox"; and with the command palette. Data: tests/test_tours.py. */
import { registry } from "@web/core/registry";
import { stepUtils } from "@web_tour/tour_service/tour_utils";

registry.category("web_tour.tours").add("sale_inbox_reach_inbox", {
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
            content: "The order received by the test's channel is in the inbox",
            trigger: '.o_kanban_view .o_kanban_record:contains("TOUR-1001")',
        },
        // The command palette finds it too: Ctrl+K, "/" for menus, "inbox".
        {
            content: "Open the command palette",
            trigger: "body",
            run: "press ctrl+k",
        },
        {
            trigger: ".o_command_palette_search input",
            run: "fill /",
        },
        {
            trigger: ".o_command_palette_search input",
            run: "fill inbox",
        },
        {
            content: "The palette lists the inbox",
            trigger: '.o_command_palette .o_command:contains("Sales Inbox / Inbox")',
            run: "click",
        },
        {
            trigger: '.o_kanban_view .o_kanban_record:contains("TOUR-1001")',
        },
    ],
});
