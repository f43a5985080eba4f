-- Which protocol reaches the machine's BMC ('ipmi' or 'redfish'), the Redfish
-- ComputerSystem it manages, and how its HTTPS certificate is trusted: the pinned
-- SHA-256 fingerprint (trust on first use) or a CA (PEM) an admin gave.
ALTER TABLE machines ADD COLUMN driver TEXT NOT NULL DEFAULT 'ipmi';
ALTER TABLE machines ADD COLUMN redfish_system TEXT;
ALTER TABLE machines ADD COLUMN tls_pin TEXT;
ALTER TABLE machines ADD COLUMN tls_ca TEXT;
