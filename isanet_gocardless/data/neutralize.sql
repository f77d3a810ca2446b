-- blank the GoCardless credentials of a neutralized database
UPDATE payment_provider
   SET gocardless_access_token = NULL,
       gocardless_webhook_secret = NULL,
       gocardless_organisation_id = NULL;

-- forget the GoCardless partner app's secret
DELETE FROM ir_config_parameter
 WHERE key = 'isanet_gocardless.oauth_client_secret';
