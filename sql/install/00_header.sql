-- siamese_pg install script of the current version (the Makefile's EXTVERSION),
-- assembled from sql/install/*.sql by the Makefile.  Earlier versions and the
-- update scripts between versions are in sql/upgrade/.
-- Every object lives in schema siamese (created by CREATE EXTENSION from the control
-- file), except the dump copies of user models in schema siamese_models (50_models.sql).

\echo Use "CREATE EXTENSION siamese_pg" to load this file. \quit
