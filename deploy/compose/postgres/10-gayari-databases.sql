-- Run once by the postgres image on an empty data directory (docker-entrypoint-initdb.d), as the
-- superuser. The same layout as deploy/local/stack.py: one role per service, owning only its own
-- database; CONNECT is revoked from PUBLIC, so a service cannot even connect to another's
-- database. Passwords come from the compose secrets (deploy/compose/make-secrets.sh), read with
-- psql's backquotes (the trailing newline is dropped).

\set ON_ERROR_STOP on
\set registry_password `cat /run/secrets/gayari_registry.password`
\set interventions_password `cat /run/secrets/gayari_interventions.password`
\set reporting_password `cat /run/secrets/gayari_reporting.password`

CREATE ROLE gayari_registry WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE
    PASSWORD :'registry_password';
CREATE ROLE gayari_interventions WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE
    PASSWORD :'interventions_password';
CREATE ROLE gayari_reporting WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE
    PASSWORD :'reporting_password';

CREATE DATABASE gayari_registry OWNER gayari_registry ENCODING 'UTF8';
CREATE DATABASE gayari_interventions OWNER gayari_interventions ENCODING 'UTF8';
CREATE DATABASE gayari_reporting OWNER gayari_reporting ENCODING 'UTF8';

REVOKE ALL ON DATABASE gayari_registry FROM PUBLIC;
REVOKE ALL ON DATABASE gayari_interventions FROM PUBLIC;
REVOKE ALL ON DATABASE gayari_reporting FROM PUBLIC;
