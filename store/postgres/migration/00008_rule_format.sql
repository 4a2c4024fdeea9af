-- The envelope of a rule's payload: template (as rendered), cloudevents, cloudevents-binary, xapi.

-- +goose Up
ALTER TABLE rules ADD COLUMN format text NOT NULL DEFAULT 'template';

-- +goose Down
ALTER TABLE rules DROP COLUMN format;
