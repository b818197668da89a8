-- Most objects belong to no grant (PAR requests, logins, pushes, CIBA requests): the
-- index that finds a grant's objects need not hold them, and each insert of one writes
-- one page fewer.
DROP INDEX oidc_objects_grant;
CREATE INDEX oidc_objects_grant ON oidc_objects (grant_id) WHERE grant_id IS NOT NULL;
