/** @odoo-module **/

import { registry } from "@web/core/registry";

registry.category("web_tour.tours").add("ziqi_dingtalk_sync_button", {
    steps: () => [
        {
            content: "Open the DingTalk tab of the Settings page",
            trigger: ".settings_tab .tab[data-key='ziqi_dingtalk']",
            run: "click",
        },
        {
            content: "Sync everything",
            trigger: ".app_settings_block[data-key='ziqi_dingtalk'] button[name='action_dingtalk_sync_all']",
            run: "click",
        },
        {
            content: "The queued run opens",
            trigger: ".o_form_view .o_statusbar_status button.o_arrow_button_current:contains('Queued')",
        },
        {
            content: "Back to the Settings",
            trigger: ".o_breadcrumb a:contains('Settings')",
            run: "click",
        },
        {
            content: "Open the DingTalk tab again",
            trigger: ".settings_tab .tab[data-key='ziqi_dingtalk']",
            run: "click",
        },
        {
            content: "Syncing people while a run is queued opens that run, not a second one",
            trigger: ".app_settings_block[data-key='ziqi_dingtalk'] button[name='action_dingtalk_sync_users']",
            run: "click",
        },
        {
            content: "Still the same queued full sync",
            trigger: ".o_form_view:contains('Everything') .o_arrow_button_current:contains('Queued')",
        },
        {
            content: "Back to the Settings once more",
            trigger: ".o_breadcrumb a:contains('Settings')",
            run: "click",
        },
        {
            content: "Open the DingTalk tab",
            trigger: ".settings_tab .tab[data-key='ziqi_dingtalk']",
            run: "click",
        },
        {
            content: "Open the schedule",
            trigger: ".app_settings_block[data-key='ziqi_dingtalk'] button[name='action_dingtalk_open_schedule']",
            run: "click",
        },
        {
            content: "The nightly cron",
            trigger: ".o_form_view:contains('DingTalk: nightly directory sync')",
        },
    ],
});

registry.category("web_tour.tours").add("ziqi_dingtalk_console", {
    steps: () => [
        {
            content: "The finished run is listed",
            trigger: ".o_list_view .o_data_row:contains('Done'):contains('created') td.o_data_cell[name='kind']",
            run: "click",
        },
        {
            content: "Its form shows what it did",
            trigger: ".o_form_view .o_statusbar_status button.o_arrow_button_current:contains('Done')",
        },
        {
            content: "The DingTalk calls it made",
            trigger: ".o_notebook a:contains('DingTalk Calls')",
            run: "click",
        },
        {
            content: "Calls per API",
            trigger: ".o_form_view:contains('/topapi/v2/user/list')",
        },
        {
            content: "Go to the roles",
            trigger: ".o_menu_sections a:contains('Roles'), .o_menu_sections button:contains('Roles')",
            run: "click",
        },
        {
            content: "Roles are grouped by role group: open the first group",
            trigger: ".o_list_view .o_group_header:first",
            run: "click",
        },
        {
            content: "Open a role",
            trigger: ".o_list_view .o_data_row:first td.o_data_cell[name='name']",
            run: "click",
        },
        {
            content: "Its members are listed",
            trigger: ".o_form_view .o_field_widget[name='employee_ids'] .o_data_row",
        },
    ],
});

registry.category("web_tour.tours").add("ziqi_dingtalk_inbox", {
    steps: () => [
        {
            content: "Show the failed events",
            trigger: ".o_searchview_dropdown_toggler",
            run: "click",
        },
        {
            content: "Filter: Failed",
            trigger: ".o_filter_menu .o_menu_item:contains('Failed')",
            run: "click",
        },
        {
            content: "Open the failed event",
            trigger: ".o_list_view .o_data_row:contains('user_modify_org') td.o_data_cell[name='event_type']",
            run: "click",
        },
        {
            content: "Its error is shown",
            trigger: ".o_form_view:contains('60011')",
        },
        {
            content: "So is the person it names",
            trigger: ".o_form_view .o_field_widget[name='people']:contains('u1')",
        },
        {
            content: "Retry it",
            trigger: ".o_form_view .o_statusbar_buttons button[name='action_retry']",
            run: "click",
        },
        {
            // the record reloaded: no Retry button, no attempt counted (the test then checks the state in
            // the database; in a full run the statusbar was once seen still drawn as before the reload)
            content: "It is pending again",
            trigger: ".o_form_view:not(:has(.o_statusbar_buttons button[name='action_retry'])) .o_field_widget[name='attempts']:contains('0')",
        },
    ],
});

registry.category("web_tour.tours").add("ziqi_dingtalk_login_button", {
    steps: () => [
        {
            // The click leaves the page (DingTalk's page, then /dingtalk/loginweb, then the web client):
            // the tour stops here and goes on in the page it lands on.
            content: "The login page offers DingTalk",
            trigger: "a.o_dingtalk_login_button:contains('Log in with DingTalk')",
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "Back from DingTalk, signed in: the web client is open",
            trigger: ".o_main_navbar",
        },
    ],
});

function consoleViews(labels) {
    const steps = [];
    for (const [menu, title] of labels) {
        steps.push(
            {
                content: `Open ${menu}`,
                trigger: `.o_menu_sections a:contains('${menu}'), .o_menu_sections button:contains('${menu}')`,
                run: "click",
            },
            {
                content: `${title} is shown`,
                trigger: `.o_breadcrumb:contains('${title}')`,
            }
        );
    }
    return steps;
}

registry.category("web_tour.tours").add("ziqi_dingtalk_console_views_en", {
    steps: () =>
        consoleViews([
            ["Event Inbox", "Event Inbox"],
            ["Work Notifications", "Work Notifications"],
            ["Roles", "Roles"],
            ["Sync Runs", "Sync Runs"],
        ]),
});

registry.category("web_tour.tours").add("ziqi_dingtalk_console_views_zh", {
    steps: () =>
        consoleViews([
            ["事件收件箱", "事件收件箱"],
            ["工作通知", "工作通知"],
            ["角色", "角色"],
            ["同步记录", "同步记录"],
        ]),
});
