-- What people see of an app before they allow it (OpenID Connect Dynamic
-- Client Registration §2: policy_uri, tos_uri), and whether an
-- administrator has checked an app registered by an ordinary user.
ALTER TABLE clients ADD COLUMN policy_uri TEXT;
ALTER TABLE clients ADD COLUMN tos_uri TEXT;
ALTER TABLE clients ADD COLUMN verified BOOLEAN NOT NULL DEFAULT FALSE;
