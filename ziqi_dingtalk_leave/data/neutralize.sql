-- a neutralized copy must not read DingTalk leave on its own
UPDATE ir_cron
   SET active = false
 WHERE id IN (SELECT res_id FROM ir_model_data
               WHERE module = 'ziqi_dingtalk_leave' AND model = 'ir.cron');
