-- An incident's alerts in id order (its first alert, its alert list) straight from the index:
-- (incident_id) alone made "the first alert of this incident" sort every alert of it, once per
-- correlation candidate per incoming alert, so a burst correlated into one incident slowed down
-- as it grew. The PostgreSQL schema has had this shape from the start.
DROP INDEX alerts_incident;
CREATE INDEX alerts_incident ON alerts (incident_id, id);
