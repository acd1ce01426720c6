/** @odoo-module **/

import { registry } from "@web/core/registry";

// An admin reads the DingTalk templates and sets up a purchase rule, in whatever language the UI is in:
// the steps find things by field name, button name and menu xmlid, never by an English label. The texts
// that differ by language come from the Python test (window.ziqiApprovalTour, set before the tour starts):
//   app: the DingTalk app's name, model: the name of the Purchase Order model, both in the user's language.
// The test also dates the purchase template's last read 2001-02-03, so the list shows when it was read again.
const APPROVALS = "ziqi_dingtalk_approval.menu_dingtalk_approvals";
const TEMPLATE_ROW = ".o_list_view .o_data_row:has(td[name='process_code']:contains('PROC-SANDBOX-PURCHASE'))";
const RULE_NAME = "钉钉采购审批 DingTalk purchases";

function openApprovalsMenu(xmlid, content) {
    return [
        {
            content: "Open the Approvals menu of the DingTalk app",
            trigger: `.o_menu_sections button[data-menu-xmlid='${APPROVALS}']`,
            run: "click",
        },
        {
            content,
            trigger: `.dropdown-item[data-menu-xmlid='${xmlid}']`,
            run: "click",
        },
    ];
}

// a many2one of the form (or of the dialog in front of it): type, then pick the option
function pickMany2one(scope, field, search, option) {
    return [
        {
            content: `Search ${search} in ${field}`,
            trigger: `${scope} .o_field_widget[name='${field}'] input`,
            run: `edit ${search}`,
        },
        {
            content: `Pick ${option}`,
            trigger: `${scope} .o_field_widget[name='${field}'] .o-autocomplete--dropdown-menu a:contains('${option}')`,
            run: "click",
        },
    ];
}

registry.category("web_tour.tours").add("ziqi_dingtalk_approval_rule", {
    steps: () => {
        // odoo.isTourReady reads the steps before the test sets the texts: only startTour needs them
        const params = window.ziqiApprovalTour || {};
        return [
            {
                content: "Open the apps menu",
                trigger: ".o_navbar_apps_menu button",
                run: "click",
            },
            {
                content: "Open the DingTalk app",
                trigger: ".o_app[data-menu-xmlid='ziqi_dingtalk.menu_dingtalk_root']",
                run: "click",
            },
            {
                content: "The DingTalk app is open, in the user's language",
                trigger: `.o_menu_brand:contains('${params.app}')`,
            },
            ...openApprovalsMenu("ziqi_dingtalk_approval.menu_dingtalk_approval_templates", "Open Templates"),
            {
                content: "The templates read from DingTalk are listed (the purchase one read long ago)",
                trigger: `${TEMPLATE_ROW}:has(td[name='name']:contains('采购审批')) td[name='refreshed_at']:contains('2001')`,
            },
            {
                content: "Read the templates from DingTalk again",
                trigger: ".o_control_panel button[name='action_refresh']",
                run: "click",
            },
            {
                content: "The purchase template was read just now",
                trigger: `${TEMPLATE_ROW} td[name='refreshed_at']:not(:contains('2001'))`,
            },
            ...openApprovalsMenu("ziqi_dingtalk_approval.menu_dingtalk_approval_rules", "Open Rules"),
            {
                content: "New rule (the templates list has no New button: this is the rules list)",
                trigger: ".o_control_panel .o_list_button_add",
                run: "click",
            },
            {
                content: "Name the rule",
                trigger: ".o_form_view .o_field_widget[name='name'] input",
                run: `edit ${RULE_NAME}`,
            },
            // the technical name finds the model in any language; the option shows its name in the user's
            ...pickMany2one(".o_form_view", "model_id", "purchase.order", params.model),
            {
                content: "A document kind is set: its filter shows",
                trigger: ".o_form_view .o_field_widget[name='domain']",
            },
            ...pickMany2one(".o_form_view", "template_id", "采购审批", "采购审批"),
            {
                content: "The originator stays the order's user",
                trigger: ".o_form_view .o_field_widget[name='originator_path'] input:value(user_id)",
            },
            {
                content: "Add a line to the form",
                trigger: ".o_field_widget[name='line_ids'] .o_field_x2many_list_row_add a",
                run: "click",
            },
            ...pickMany2one(".modal .o_form_view", "template_field_id", "供应商", "供应商"),
            {
                content: "Filled from the vendor's name",
                trigger: ".modal .o_form_view .o_field_widget[name='source_path'] input",
                run: "edit partner_id.name",
            },
            {
                content: "Save the line (Save & Close on Odoo 18, Save on 19)",
                trigger: ".modal .modal-footer .o_form_button_save",
                run: "click",
            },
            {
                content: "The line is in the form, its dialog closed",
                trigger:
                    "body:not(:has(.modal)) .o_field_widget[name='line_ids'] .o_data_row td[name='source_path']:contains('partner_id.name')",
            },
            {
                content: "Open the Results tab",
                trigger: ".o_notebook a.nav-link[name='results']",
                run: "click",
            },
            {
                content: "When approved: confirm the order",
                trigger: ".o_form_view .o_field_widget[name='approve_method'] input",
                run: "edit _dingtalk_approve_order",
            },
            {
                content: "When refused: cancel it",
                trigger: ".o_form_view .o_field_widget[name='refuse_method'] input",
                run: "edit button_cancel",
            },
            {
                content: "Save the rule",
                trigger: ".o_form_status_indicator .o_form_button_save",
                run: "click",
            },
            {
                // the save/discard buttons are hidden (class invisible), not removed: wait for their container
                content: "The rule is saved: a record, nothing left to save",
                trigger:
                    ".o_form_status_indicator:not(.o_form_status_indicator_new_record):not(:has(.o_form_status_indicator_buttons:not(.invisible)))",
            },
            {
                content: "It is named in the breadcrumb",
                trigger: `.o_breadcrumb .active:contains('${RULE_NAME}')`,
            },
        ];
    },
});
