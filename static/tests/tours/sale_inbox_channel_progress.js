/** @odoo-module **/
/* The channel form shows the live progress the bus brings. A test server has no websocket, so
   the tour hands the form's progress widget the messages the server publishes (their shape:
   models/sale_channel_progress.py); tests/test_live_websocket.py shows them arriving on a real
   multi-worker server. Data: tests/test_live_progress_tour.py. */
import { registry } from "@web/core/registry";
import { ChannelProgress } from "@sale_inbox/progress/channel_progress";

function progressWidget() {
    const stack = [odoo.__WOWL_DEBUG__.root.__owl__];
    while (stack.length) {
        const node = stack.pop();
        if (node.component instanceof ChannelProgress) {
            return node.component;
        }
        stack.push(...Object.values(node.children || {}));
    }
    throw new Error("The channel form has no progress widget");
}

function publish(values) {
    const widget = progressWidget();
    widget.onProgress({ channel_id: widget.props.record.resId, message: false, ...values });
}

registry.category("web_tour.tours").add("sale_inbox_channel_progress", {
    steps: () => [
        {
            content: "The channel's form is open, with nothing running",
            trigger: ".o_form_view .o_form_sheet:not(:has(.o_sale_inbox_progress))",
            run: () => publish({ kind: "sync", state: "running", done: 1, total: 2 }),
        },
        {
            content: "The sync's progress shows, batch by batch",
            trigger: ".o_sale_inbox_progress.alert-info:contains(Stock sync):contains(1 of 2 batches) .progress-bar[aria-valuenow='50']",
            run: () => publish({ kind: "sync", state: "done", done: 2, total: 2, message: "2 sent, 0 refused, 2 checked." }),
        },
        {
            content: "The end of the sync, with what it did",
            trigger: ".o_sale_inbox_progress.alert-success:contains(2 sent, 0 refused)",
            run: () => publish({ kind: "reconcile", state: "failed", message: "HTTP 401: Invalid signature" }),
        },
        {
            content: "A failure shows why, on the form and in a notification that stays",
            trigger: ".o_sale_inbox_progress.alert-danger:contains(Invalid signature)",
        },
        {
            trigger: ".o_notification:contains(Invalid signature)",
        },
    ],
});
