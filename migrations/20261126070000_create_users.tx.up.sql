-- Users: accounts of custom (password) auth and of an identity provider
-- (Cognito). Ids sort bytewise (COLLATE "C"), as the JSON store sorts them,
-- so both backends page in the same order.
CREATE TABLE users (
    id              text COLLATE "C" PRIMARY KEY CHECK (char_length(id) BETWEEN 1 AND 200),
    email           text NOT NULL CHECK (char_length(email) <= 254),
    display_name    text NOT NULL DEFAULT '' CHECK (char_length(display_name) <= 100),
    password_hash   text NOT NULL DEFAULT '' CHECK (char_length(password_hash) <= 1024),
    groups          text[] NOT NULL DEFAULT '{}',
    external_groups text[] NOT NULL DEFAULT '{}',
    disabled        boolean NOT NULL DEFAULT false,
    external        boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);

-- One account per email, compared case-insensitively. Users from an identity
-- provider may have no email (''): those are not unique.
CREATE UNIQUE INDEX users_email_key ON users (lower(email)) WHERE email <> '';

-- GET /v1/admin/users pages by (created_at, id).
CREATE INDEX users_created_at_id_idx ON users (created_at, id);
