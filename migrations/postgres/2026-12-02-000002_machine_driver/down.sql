ALTER TABLE machines DROP COLUMN tls_ca;
ALTER TABLE machines DROP COLUMN tls_pin;
ALTER TABLE machines DROP COLUMN redfish_system;
ALTER TABLE machines DROP COLUMN driver;
