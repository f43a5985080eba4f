-- The parameters of an audited call, secrets masked: what was asked, not only that it was.
ALTER TABLE audit ADD COLUMN params TEXT;
