/** @odoo-module **/

import { registry } from "@web/core/registry";

const APP = ".app_settings_block[data-key='ziqi_dingtalk']";
// tests start the tours at /odoo/action-base_setup.action_general_configuration, then open the DingTalk tab
const openDingTalkTab = {
    content: "Open the DingTalk tab of the Settings page",
    trigger: ".settings_tab .tab[data-key='ziqi_dingtalk']",
    run: "click",
};

registry.category("web_tour.tours").add("ziqi_dingtalk_settings", {
    steps: () => [
        openDingTalkTab,
        {
            content: "The DingTalk settings are on the Settings page",
            trigger: `${APP} #dingtalk_credentials:contains('App Credentials')`,
        },
        {
            content: "The AppSecret is masked",
            trigger: `${APP} div[name='dingtalk_app_secret'] input[type='password']`,
        },
        {
            content: "Set the alert recipient",
            trigger: `${APP} div[name='dingtalk_alert_userid'] input`,
            run: "edit manager4521",
        },
        {
            content: "Generate a fresh aes_key (saves the settings first)",
            trigger: `${APP} button[name='action_dingtalk_generate_aes_key']`,
            run: "click",
        },
        {
            // Saving runs res.config.settings.execute, whose "reload" client action reloads the whole
            // page: the tour waits for it, or it would click on the page that is going away and the
            // notification would be lost with it.
            content: "Odoo asks to save the pending change first (and reloads the page)",
            trigger: ".modal-footer .btn-primary:contains('Save')",
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "The alert recipient is saved (read back from the reloaded page)",
            trigger: `${APP} div[name='dingtalk_alert_userid'] input:value(manager4521)`,
        },
        {
            content: "Generate the aes_key, now with nothing pending",
            trigger: `${APP} button[name='action_dingtalk_generate_aes_key']`,
            run: "click",
        },
        {
            content: "The new key is announced",
            trigger: ".o_notification:contains('A new aes_key was generated')",
        },
        {
            content: "Test the connection against the sandbox",
            trigger: `${APP} button[name='action_dingtalk_test_connection']`,
            run: "click",
        },
        {
            content: "DingTalk answered",
            trigger: ".o_notification:contains('Connected to DingTalk')",
        },
    ],
});

registry.category("web_tour.tours").add("ziqi_dingtalk_settings_zh", {
    steps: () => [
        openDingTalkTab,
        {
            content: "The block title is in Chinese",
            trigger: `${APP} #dingtalk_credentials:contains('应用凭证')`,
        },
        {
            content: "Test the connection (Chinese label)",
            trigger: `${APP} button[name='action_dingtalk_test_connection']:contains('测试连接')`,
            run: "click",
        },
        {
            content: "DingTalk answered, in Chinese",
            trigger: ".o_notification:contains('已连接钉钉')",
        },
    ],
});
