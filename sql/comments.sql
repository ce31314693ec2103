-- Every SQL object of the extension carries a COMMENT (the project's rule).
-- Lists members of the extension without a description: must be empty.
SELECT pg_describe_object(d.classid, d.objid, 0) AS object_without_comment
FROM pg_depend d
WHERE d.refclassid = 'pg_extension'::regclass
  AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'siamese_pg')
  AND d.deptype = 'e'
  AND obj_description(d.objid, d.classid::regclass::text) IS NULL
ORDER BY 1;

-- Functions that are not IMMUTABLE/STABLE/VOLATILE-justified are listed in
-- the docs; here we pin the volatility and parallel safety of each one so a
-- change is a visible diff.
SELECT p.oid::regprocedure AS function, p.provolatile AS volatility, p.proparallel AS parallel,
       p.proisstrict AS strict
FROM pg_proc p
JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'siamese_pg')
ORDER BY p.oid::regprocedure::text;
