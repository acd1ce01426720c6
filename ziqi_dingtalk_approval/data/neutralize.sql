-- a neutralized copy must not read DingTalk approvals on its own
UPDATE ir_cron
   SET active = false
 WHERE id IN (SELECT res_id FROM ir_model_data
               WHERE module = 'ziqi_dingtalk_approval' AND model = 'ir.cron');
