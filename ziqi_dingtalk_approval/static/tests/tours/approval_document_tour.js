/** @odoo-module **/

import { registry } from "@web/core/registry";

// A purchase user submits an RFQ to DingTalk from its form, in whatever language the UI is in: the steps
// find the buttons by name and the banner by class. The Python test opens the RFQ and gives the one text
// that differs by language (window.ziqiApprovalTour, set before the tour starts):
//   state: the label of the order's state (RFQ) in the user's language.
registry.category("web_tour.tours").add("ziqi_dingtalk_approval_document", {
    steps: () => {
        // odoo.isTourReady reads the steps before the test sets the texts: only startTour needs them
        const params = window.ziqiApprovalTour || {};
        return [
            {
                content: "The RFQ is open, in the user's language",
                trigger: `.o_form_view .o_statusbar_status .o_arrow_button_current:contains('${params.state}')`,
            },
            {
                content: "A rule applies to it: submit it to DingTalk",
                trigger: ".o_form_view .o_statusbar_buttons button[name='action_dingtalk_submit']",
                run: "click",
            },
            {
                content: "The order says it is in approval",
                trigger: ".o_form_view div.o_dingtalk_approval.alert-info",
            },
            {
                content: "It can be opened in DingTalk, and no longer submitted",
                trigger:
                    ".o_form_view:has(div.o_dingtalk_approval.alert-info):not(:has(button[name='action_dingtalk_submit'])) .o_statusbar_buttons button[name='action_dingtalk_open']",
            },
        ];
    },
});
