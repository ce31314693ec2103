-- ---------------------------------------------------------------------------
-- 10_image.sql: image codecs (PNG via libpng, JPEG via libjpeg-turbo).
-- C code: src/pg/image/image_sql.c over src/core/image*.c.  See docs/images.md.
-- ---------------------------------------------------------------------------

CREATE FUNCTION siamese.image_info(image bytea,
	OUT format text, OUT width integer, OUT height integer, OUT channels integer,
	OUT bit_depth integer, OUT color_model text, OUT interlaced boolean)
	RETURNS record
	AS 'MODULE_PATHNAME', 'siamese_image_info' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION siamese.image_info(bytea) IS
	'header of a PNG or JPEG image: format (png/jpeg), size, stored channels, bit depth, colour model (gray, gray+alpha, palette, rgb, rgba, ycbcr, cmyk, ycck) and whether it is interlaced/progressive; reads no pixels, so siamese.image.max_pixels does not apply';

CREATE FUNCTION siamese.to_png(image bytea) RETURNS bytea
	AS 'MODULE_PATHNAME', 'siamese_to_png' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION siamese.to_png(bytea) IS
	'decodes a PNG or JPEG image (limited by siamese.image.max_pixels) and re-encodes it as an 8-bit gray or RGB PNG; alpha is composited onto black and 16-bit samples are rounded to 8 bits';
