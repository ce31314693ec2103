-- siamese_pg 0.1.0 install script, assembled from sql/install/*.sql by the Makefile.
-- Every object lives in schema siamese (created by CREATE EXTENSION from the control file).

\echo Use "CREATE EXTENSION siamese_pg" to load this file. \quit
