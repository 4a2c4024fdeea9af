#!/bin/sh
# Runs once, when the PostgreSQL volume is created: mih's role and database beside Moodle's.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<SQL
CREATE ROLE mih LOGIN PASSWORD '${MIH_DB_PASSWORD}';
CREATE DATABASE mih OWNER mih;
-- The log store tailer reads Moodle's log table, nothing else.
CREATE ROLE mih_tailer LOGIN PASSWORD '${MIH_DB_PASSWORD}';
GRANT CONNECT ON DATABASE moodle TO mih_tailer;
SQL
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname moodle <<SQL
GRANT USAGE ON SCHEMA public TO mih_tailer;
ALTER DEFAULT PRIVILEGES FOR ROLE moodle IN SCHEMA public GRANT SELECT ON TABLES TO mih_tailer;
SQL
