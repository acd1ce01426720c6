{
    "name": "DingTalk Approval for Purchases (采购钉钉审批)",
    "summary": "Approve purchase orders in DingTalk",
    "version": "1.0.0",  # pylint: disable=manifest-version-format
    "category": "Inventory/Purchase",
    "author": "ziqi",
    "website": "https://github.com/ziqi/ziqi_dingtalk",
    "license": "LGPL-3",
    "depends": ["ziqi_dingtalk_approval", "purchase"],
    "auto_install": True,
    "installable": True,
}
