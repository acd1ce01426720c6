-- a neutralized copy must not talk to the company's DingTalk: blank the app secret (without it the
-- dingtalk_stream service opens no connection) and callback keys, forget cached access tokens and the
-- Stream status of the original's services
UPDATE res_company
   SET dingtalk_app_secret = NULL,
       dingtalk_callback_token = NULL,
       dingtalk_aes_key = NULL;
DELETE FROM ziqi_dingtalk_token;
DELETE FROM ziqi_dingtalk_stream;
-- and must not sync on its own
UPDATE ir_cron
   SET active = false
 WHERE id IN (SELECT res_id FROM ir_model_data
               WHERE module = 'ziqi_dingtalk' AND model = 'ir.cron');
