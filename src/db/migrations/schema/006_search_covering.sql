-- The value indexes carry the resource id, so listing the ids that match a value is an
-- index-only scan rather than a visit to the table for every match: search.ts lists up to
-- FEW_MATCHES of them for each page before it picks a plan, and counts them for _total.
DROP INDEX idx_string_value;
CREATE INDEX idx_string_value ON idx_string (resource_type, code, value text_pattern_ops) INCLUDE (id);
DROP INDEX idx_token_value;
CREATE INDEX idx_token_value ON idx_token (resource_type, code, value, system) INCLUDE (id);
DROP INDEX idx_reference_target;
CREATE INDEX idx_reference_target ON idx_reference (resource_type, code, target_id, target_type) INCLUDE (id);
