-- Refresh tokens rotate by counting: a grant's refresh token names the generation it
-- continues, and a refresh moves the grant on by one, so the previous token is spent
-- without a row of its own.
ALTER TABLE oidc_objects ADD COLUMN generation BIGINT NOT NULL DEFAULT 0;
