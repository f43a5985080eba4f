-- What an audit row's outcome alone cannot say: a bulk call's selector and counts, the
-- source address of a failed login.
ALTER TABLE audit ADD COLUMN detail TEXT;
