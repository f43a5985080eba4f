-- Users, login tokens, machines, permissions and the audit log.
CREATE TABLE users (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'user')),
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE tokens (
    id BIGSERIAL PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX tokens_user_id ON tokens (user_id);

CREATE TABLE machines (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    bmc_host TEXT NOT NULL,
    bmc_port INTEGER NOT NULL,
    bmc_user TEXT NOT NULL,
    bmc_password_enc TEXT NOT NULL,
    cipher_suite INTEGER NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);

CREATE TABLE permissions (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    machine_id BIGINT NOT NULL REFERENCES machines (id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('viewer', 'operator')),
    UNIQUE (user_id, machine_id)
);
CREATE INDEX permissions_machine_id ON permissions (machine_id);

CREATE TABLE audit (
    id BIGSERIAL PRIMARY KEY,
    at_ms BIGINT NOT NULL,
    user_name TEXT NOT NULL,
    command TEXT NOT NULL,
    machine TEXT,
    outcome TEXT NOT NULL,
    duration_ms BIGINT NOT NULL
);
CREATE INDEX audit_at ON audit (at_ms);
