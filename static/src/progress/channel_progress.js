import { Component, useEffect, useState } from "@odoo/owl";
import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { standardWidgetProps } from "@web/views/widgets/standard_widget_props";

/** What the server sends (models/sale_channel_progress.py). */
const PROGRESS_TYPE = "sale_inbox/progress";
const CHANNEL_PREFIX = "sale_inbox_progress:";

/**
 * Live progress of a channel's Sync Now, Reconcile Stock and Import Orders, on its form: the
 * server publishes a message per batch or page on the bus, and this shows the last one. At the
 * end the form is read again (when it has no unsaved change) so that its runs, figures and
 * error are the new ones; a failure also stays as a sticky notification.
 */
export class ChannelProgress extends Component {
    static template = "sale_inbox.ChannelProgress";
    static props = { ...standardWidgetProps };

    setup() {
        this.busService = useService("bus_service");
        this.notification = useService("notification");
        this.state = useState({ progress: null });
        this.onProgress = this.onProgress.bind(this);
        useEffect(
            (resId) => {
                // Another record (the pager, New): what was shown was the previous one's.
                this.state.progress = null;
                if (!resId) {
                    return;
                }
                const channel = `${CHANNEL_PREFIX}${resId}`;
                this.busService.addChannel(channel);
                this.busService.subscribe(PROGRESS_TYPE, this.onProgress);
                return () => {
                    this.busService.unsubscribe(PROGRESS_TYPE, this.onProgress);
                    this.busService.deleteChannel(channel);
                };
            },
            () => [this.props.record.resId]
        );
    }

    async onProgress(payload) {
        const record = this.props.record;
        if (!payload || payload.channel_id !== record.resId) {
            return;
        }
        this.state.progress = payload;
        if (payload.state === "failed") {
            this.notification.add(payload.message || this.title, {
                title: this.title,
                type: "danger",
                sticky: true,
            });
        }
        if (["done", "failed"].includes(payload.state) && !record.dirty) {
            await record.load();
        }
    }

    get title() {
        const kind = {
            sync: _t("Stock sync"),
            reconcile: _t("Stock reconciliation"),
            import: _t("Order import"),
        }[this.state.progress?.kind];
        const state = {
            queued: _t("queued, it starts within a minute"),
            running: _t("running"),
            done: _t("done"),
            failed: _t("failed"),
        }[this.state.progress?.state];
        return `${kind || _t("Work")}: ${state || ""}`;
    }

    get running() {
        return ["queued", "running"].includes(this.state.progress?.state);
    }

    get counter() {
        const { kind, done, total } = this.state.progress || {};
        if (total) {
            return _t("%(done)s of %(total)s batches", { done, total });
        }
        if (done) {
            return kind === "import" || kind === "reconcile"
                ? _t("%(done)s pages read", { done })
                : String(done);
        }
        return "";
    }

    get percent() {
        const { done, total } = this.state.progress || {};
        return total ? Math.round((100 * done) / total) : null;
    }

    get alertClass() {
        return {
            queued: "alert-info",
            running: "alert-info",
            done: "alert-success",
            failed: "alert-danger",
        }[this.state.progress?.state];
    }

    dismiss() {
        this.state.progress = null;
    }
}

export const channelProgress = { component: ChannelProgress };

registry.category("view_widgets").add("sale_inbox_channel_progress", channelProgress);
