--
-- image codecs: siamese.image_info(bytea) and siamese.to_png(bytea)
-- Fixtures were generated with libpng / libjpeg (test/unit/img_fixtures.c).
--
SET search_path = siamese, public;
\set SHOW_CONTEXT never

-- try(sql): run a statement, report ok or SQLSTATE, message, detail and hint
CREATE FUNCTION pg_temp.try(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	d text;
	h text;
BEGIN
	EXECUTE q;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
	RETURN SQLSTATE || ': ' || SQLERRM
		|| CASE WHEN d <> '' THEN ' | DETAIL: ' || d ELSE '' END
		|| CASE WHEN h <> '' THEN ' | HINT: ' || h ELSE '' END;
END $$;

CREATE TEMP TABLE fx (name text PRIMARY KEY, img bytea);
-- fixtures:
--   gray8: 4x3 8-bit gray ramp
--   gray1: 8x2 1-bit gray checkerboard
--   ga8: 2x1 8-bit gray+alpha: (200,a=255) (200,a=128)
--   pal2trns: 3x1 2-bit palette with tRNS: red opaque, green a=128, blue a=0
--   rgb16: 2x1 16-bit RGB
--   rgba8i: 5x5 8-bit RGBA, Adam7 interlaced
--   jpeg_rgb: 8x8 baseline YCbCr JPEG, quality 75
--   jpeg_gray_prog: 8x8 progressive grayscale JPEG
--   jpeg_cmyk: 8x8 Adobe CMYK JPEG
INSERT INTO fx VALUES
	('gray8', decode('89504e470d0a1a0a0000000d4948445200000004000000030800000000919ff11a000000174944415408d76364101111610c101111610910111101000938015b25dbb2380000000049454e44ae426082', 'hex')),
	('gray1', decode('89504e470d0a1a0a0000000d49484452000000080000000201000000004defa0400000000c4944415408d763086558050001ad0100432770090000000049454e44ae426082', 'hex')),
	('ga8', decode('89504e470d0a1a0a0000000d49484452000000020000000108040000005e2bb7010000000d4944415408d7633cf19fa1110006a8024a836d32130000000049454e44ae426082', 'hex')),
	('pal2trns', decode('89504e470d0a1a0a0000000d4948445200000003000000010203000000668efc2700000009504c5445ff000000ff000000ff2d4acd8a0000000374524e53ff80007f6d68780000000a4944415408d763900000001a00198706ec740000000049454e44ae426082', 'hex')),
	('rgb16', decode('89504e470d0a1a0a0000000d49484452000000020000000110020000002bd0349e000000154944415408d763f8ffbfa1818181919189899919002098030b2a30abed0000000049454e44ae426082', 'hex')),
	('rgba8i', decode('89504e470d0a1a0a0000000d4948445200000005000000050806000001fa681673000000564944415408d763606062f9c3a0a0a4f28671c1a2256b1414143e300808897c615eb1729516634050c8150101811f0202023f1839b8787e080808fc60090808b881c260d4d0d279c1c1c1f10719b3040404dc401704006808219fce5f707d0000000049454e44ae426082', 'hex')),
	('jpeg_rgb', decode('ffd8ffe000104a46494600010100000100010000ffdb004300080606070605080707070909080a0c140d0c0b0b0c1912130f141d1a1f1e1d1a1c1c20242e2720222c231c1c2837292c30313434341f27393d38323c2e333432ffdb0043010909090c0b0c180d0d1832211c213232323232323232323232323232323232323232323232323232323232323232323232323232323232323232323232323232ffc00011080008000803012200021101031101ffc4001f0000010501010101010100000000000000000102030405060708090a0bffc400b5100002010303020403050504040000017d01020300041105122131410613516107227114328191a1082342b1c11552d1f02433627282090a161718191a25262728292a3435363738393a434445464748494a535455565758595a636465666768696a737475767778797a838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8f9faffc4001f0100030101010101010101010000000000000102030405060708090a0bffc400b51100020102040403040705040400010277000102031104052131061241510761711322328108144291a1b1c109233352f0156272d10a162434e125f11718191a262728292a35363738393a434445464748494a535455565758595a636465666768696a737475767778797a82838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae2e3e4e5e6e7e8e9eaf2f3f4f5f6f7f8f9faffda000c03010002110311003f0044dd7fa835e396104641e579cff092bfdefeea740393451451ca9a51ec74617054719073acaed36be4b63fffd9', 'hex')),
	('jpeg_gray_prog', decode('ffd8ffe000104a46494600010100000100010000ffdb004300080606070605080707070909080a0c140d0c0b0b0c1912130f141d1a1f1e1d1a1c1c20242e2720222c231c1c2837292c30313434341f27393d38323c2e333432ffc2000b080008000801011100ffc40014000100000000000000000000000000000000ffda00080101000000017fffc4001510010100000000000000000000000000000124ffda00080101000105022a7fffc40017100003010000000000000000000000000000011342ffda0008010100063f0293c9ffc400191001000203000000000000000000000000011151008191ffda0008010100013f2152485d39ba33ffda00080101000000107fffc4001a100100020301000000000000000000000001113100214181ffda0008010100013f10441246c4964ef8436e7fffd9', 'hex')),
	('jpeg_cmyk', decode('ffd8ffee000e41646f626500640000000000ffdb0043000302020302020303030304030304050805050404050a070706080c0a0c0c0b0a0b0b0d0e12100d0e110e0b0b1016101113141515150c0f171816141812141514ffc000140800080008044311004d11005911004b1100ffc4001f0000010501010101010100000000000000000102030405060708090a0bffc400b5100002010303020403050504040000017d01020300041105122131410613516107227114328191a1082342b1c11552d1f02433627282090a161718191a25262728292a3435363738393a434445464748494a535455565758595a636465666768696a737475767778797a838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8f9faffda000e0443004d0059004b00003f00fb02bcd2be2fafd53affd9', 'hex'));

-- header information
SELECT name, (image_info(img)).* FROM fx ORDER BY name;

-- to_png: every fixture becomes an 8-bit gray or RGB PNG of the same size
SELECT name, i.format, i.width, i.height, i.channels, i.bit_depth, i.color_model, i.interlaced
FROM fx, LATERAL image_info(to_png(img)) AS i ORDER BY name;

-- deterministic and idempotent: re-encoding our own PNG gives the same bytes
SELECT name, to_png(img) = to_png(img) AS stable,
       to_png(to_png(img)) = to_png(img) AS idempotent
FROM fx ORDER BY name;
SELECT md5(to_png(img)) FROM fx WHERE name = 'gray8';
SELECT md5(to_png(img)) FROM fx WHERE name = 'jpeg_rgb';

-- pixel rules visible through exact PNG equality: the gray+alpha pair
-- (200,255) (200,128) composites onto black as gray 200, 100; the palette
-- image as red, green*128/255, black
SELECT to_png(img) = to_png(decode('89504e470d0a1a0a0000000d4948445200000002000000010800000000d14920560000000b49444154789c633891020001f7012d901da3bd0000000049454e44ae426082', 'hex')) AS ga_composited
FROM fx WHERE name = 'ga8';
SELECT to_png(img) = to_png(decode('89504e470d0a1a0a0000000d4948445200000003000000010802000000948283e30000001049444154789c63f8cfc0c0d000c40c000b8101803a91fb950000000049454e44ae426082', 'hex')) AS palette_composited
FROM fx WHERE name = 'pal2trns';

-- image_info looks at a 64 kB prefix of big values first: trailing bytes
-- after IEND are fine, and a header that reaches past the prefix (here a
-- 70000-byte unknown ancillary chunk before IDAT) falls back to the full value
SELECT (image_info(img || decode(repeat('00', 70000), 'hex'))).* FROM fx WHERE name = 'gray8';
CREATE TEMP TABLE padded AS
SELECT substring(img from 1 for 33) || '\x000111707370416d'::bytea
       || decode(repeat('00', 70000), 'hex') || '\x2a0c08cf'::bytea
       || substring(img from 34) AS img
FROM fx WHERE name = 'gray8';
SELECT length(img), (image_info(img)).* FROM padded;
SELECT to_png(p.img) = to_png(f.img) AS chunk_skipped FROM padded p, fx f WHERE f.name = 'gray8';

-- NULL in, NULL out (STRICT)
SELECT image_info(NULL) IS NULL AS info_null, to_png(NULL) IS NULL AS png_null;

-- errors, with SQLSTATEs
SELECT pg_temp.try('SELECT siamese.to_png(''''::bytea)') AS empty;
SELECT pg_temp.try('SELECT siamese.image_info(''''::bytea)') AS empty_info;
SELECT pg_temp.try('SELECT siamese.to_png(''\x0123456789abcdeffedcba9876543210''::bytea)') AS random_bytes;
SELECT pg_temp.try(format('SELECT siamese.to_png(%L::bytea)',
                          convert_to('GIF89a', 'UTF8') || '\x01000100'::bytea)) AS gif;
SELECT pg_temp.try('SELECT siamese.to_png(''\x89504e470d0a1a0a''::bytea)') AS png_signature_only;
SELECT pg_temp.try(format('SELECT siamese.to_png(%L::bytea)', substring(img from 1 for 60))) AS truncated_png
FROM fx WHERE name = 'gray8';
SELECT pg_temp.try(format('SELECT siamese.image_info(%L::bytea)', substring(img from 1 for 20))) AS truncated_header
FROM fx WHERE name = 'gray8';
SELECT pg_temp.try(format('SELECT siamese.to_png(%L::bytea)', substring(img from 1 for length(img) - 1))) AS png_missing_last_byte
FROM fx WHERE name = 'gray8';
-- flip one bit of the IHDR CRC (bytes 29..32, 0-based)
SELECT pg_temp.try(format('SELECT siamese.to_png(%L::bytea)', set_byte(img, 31, get_byte(img, 31) # 1))) AS bad_crc
FROM fx WHERE name = 'gray8';
SELECT pg_temp.try(format('SELECT siamese.to_png(%L::bytea)', substring(img from 1 for 300))) AS truncated_jpeg
FROM fx WHERE name = 'jpeg_rgb';
SELECT pg_temp.try(format('SELECT siamese.to_png(%L::bytea)', substring(img from 1 for 3))) AS jpeg_magic_only
FROM fx WHERE name = 'jpeg_rgb';

-- a header claiming 100000x100000: image_info reports it, to_png refuses
-- before allocating anything
CREATE TEMP TABLE huge AS SELECT decode('89504e470d0a1a0a0000000d49484452000186a0000186a008000000008d3954140000000c49444154789c6360a0030000006500017ffa880d0000000049454e44ae426082', 'hex') AS img;
SELECT (image_info(img)).* FROM huge;
SELECT pg_temp.try(format('SELECT siamese.to_png(%L::bytea)', img)) AS huge FROM huge;
SELECT to_png(img) FROM huge;

-- the limit follows siamese.image.max_pixels
SHOW siamese.image.max_pixels;
SET siamese.image.max_pixels = 10;
SELECT pg_temp.try(format('SELECT siamese.to_png(%L::bytea)', img)) AS over_limit
FROM fx WHERE name = 'gray8';
SELECT (image_info(img)).width FROM fx WHERE name = 'gray8';	-- header only: allowed
SET siamese.image.max_pixels = 12;
SELECT length(to_png(img)) > 0 AS at_limit_ok FROM fx WHERE name = 'gray8';
RESET siamese.image.max_pixels;
SELECT length(to_png(img)) > 0 AS after_reset FROM fx WHERE name = 'gray8';

-- the session survives a bad image: an error, then a good call
-- (terse errors: SQLSTATE only)
\set VERBOSITY sqlstate
SELECT to_png('\x89504e470d0a1a0a0000000d4948445200'::bytea);
SELECT (image_info(to_png(img))).* FROM fx WHERE name = 'jpeg_rgb';
BEGIN;
SAVEPOINT s;
SELECT to_png('\xffd8ffe000104a464946'::bytea);
ROLLBACK TO SAVEPOINT s;
\set VERBOSITY default
SELECT (image_info(to_png(img))).width FROM fx WHERE name = 'rgba8i';
COMMIT;

-- volatility and comments
SELECT p.proname, p.provolatile, p.proisstrict, p.proparallel,
       obj_description(p.oid, 'pg_proc') IS NOT NULL AS has_comment
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'siamese' AND p.proname IN ('image_info', 'to_png')
ORDER BY 1;
