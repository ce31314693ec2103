-- ImageNet-C corruptions (src/pg/robust/corrupt_sql.c over src/core/corrupt*.c).

CREATE FUNCTION corruptions(OUT name text, OUT category text, OUT benchmark boolean,
                            OUT description text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'siamese_corruptions'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 19;
COMMENT ON FUNCTION corruptions() IS
'The 19 ImageNet-C corruptions: name, category (noise, blur, weather, digital), whether it is one of the 15 benchmark corruptions (false: held-out), and a description';

CREATE FUNCTION corrupt(image bytea, corruption text, severity integer,
                        seed bigint DEFAULT 0, profile text DEFAULT 'auto')
RETURNS bytea
AS 'MODULE_PATHNAME', 'siamese_corrupt'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION corrupt(bytea, text, integer, bigint, text) IS
'Apply an ImageNet-C corruption at severity 0 (identity) to 5 with a seed; profile cifar, tiny, imagenet or auto (by image size). Returns a PNG of the same size';

CREATE FUNCTION corruption_contact_sheet(image bytea, seed bigint DEFAULT 0,
                                         profile text DEFAULT 'auto',
                                         corruptions text[] DEFAULT NULL)
RETURNS bytea
AS 'MODULE_PATHNAME', 'siamese_corruption_contact_sheet'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION corruption_contact_sheet(bytea, bigint, text, text[]) IS
'One labelled PNG showing the image under every corruption (rows; NULL = all 19, held-out ones in grey) and severity (columns, clean first)';
