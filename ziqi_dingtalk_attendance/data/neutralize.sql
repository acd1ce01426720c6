-- a neutralized copy must not import DingTalk attendance on its own
UPDATE ir_cron
   SET active = false
 WHERE id IN (SELECT res_id FROM ir_model_data
               WHERE module = 'ziqi_dingtalk_attendance' AND model = 'ir.cron');
