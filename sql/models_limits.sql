-- Limits on what a model may ask of a backend (siamese.nn.max_model_memory),
-- checked at registration, naming the layer.  The weights are built in SQL
-- (a safetensors header, then zeros), so the test carries no large fixture.
SET search_path = siamese, public;
CREATE FUNCTION st_zeros(tensors jsonb) RETURNS bytea LANGUAGE plpgsql AS $$
DECLARE
	hdr jsonb := '{}';
	off bigint := 0;
	t record;
	n bigint;
	h bytea;
BEGIN
	FOR t IN SELECT key, value FROM jsonb_each(tensors) ORDER BY key LOOP
		n := (SELECT coalesce(exp(sum(ln(d::numeric))), 1)::bigint FROM jsonb_array_elements_text(t.value) d) * 4;
		hdr := hdr || jsonb_build_object(t.key, jsonb_build_object('dtype', 'F32', 'shape', t.value,
			'data_offsets', jsonb_build_array(off, off + n)));
		off := off + n;
	END LOOP;
	h := convert_to(hdr::text || repeat(' ', (8 - length(hdr::text) % 8) % 8), 'UTF8');
	RETURN int8send(length(h))::bytea  -- big-endian: reverse it below
		|| h || decode(repeat('00', off::int), 'hex');
END $$;
-- safetensors wants the header length little-endian
CREATE FUNCTION st_le(b bytea) RETURNS bytea LANGUAGE sql AS $$
	SELECT decode(string_agg(lpad(to_hex(get_byte(b, 7 - i)), 2, '0'), '' ORDER BY i), 'hex') || substring(b from 9)
	FROM generate_series(0, 7) i $$;

SHOW siamese.nn.max_model_memory;
-- 64 -> 64 channels, kernel 5 at 1024 x 1024: its im2col columns alone are 6.4 GB
SELECT register_model('huge-conv', st_le(st_zeros('{"c1.weight": [64, 1, 5, 5], "c1.bias": [64],
	"c2.weight": [64, 64, 5, 5], "c2.bias": [64], "c3.weight": [16, 64, 1, 1], "c3.bias": [16]}')),
	'{"name": "huge-conv", "format_version": 1, "input": {"channels": 1, "height": 1024, "width": 1024},
	  "layers": [{"type": "conv2d", "name": "c1", "in": 1, "out": 64, "kernel": 5, "padding": 2},
	             {"type": "conv2d", "name": "c2", "in": 64, "out": 64, "kernel": 5, "padding": 2},
	             {"type": "maxpool", "kernel": 8}, {"type": "maxpool", "kernel": 8},
	             {"type": "conv2d", "name": "c3", "in": 64, "out": 16, "kernel": 1}, {"type": "flatten"}],
	  "embedding_dim": 4096}');
-- nothing was registered, and the name is not burnt
SELECT count(*) FROM models WHERE name = 'huge-conv';
SELECT count(*) FROM model_history WHERE name = 'huge-conv';
-- the same network at 64 x 64 fits
SELECT length(register_model('small-conv', st_le(st_zeros('{"c1.weight": [64, 1, 5, 5], "c1.bias": [64],
	"c2.weight": [64, 64, 5, 5], "c2.bias": [64], "c3.weight": [16, 64, 1, 1], "c3.bias": [16]}')),
	'{"name": "small-conv", "format_version": 1, "input": {"channels": 1, "height": 64, "width": 64},
	  "layers": [{"type": "conv2d", "name": "c1", "in": 1, "out": 64, "kernel": 5, "padding": 2},
	             {"type": "conv2d", "name": "c2", "in": 64, "out": 64, "kernel": 5, "padding": 2},
	             {"type": "maxpool", "kernel": 8}, {"type": "maxpool", "kernel": 2},
	             {"type": "conv2d", "name": "c3", "in": 64, "out": 16, "kernel": 1}, {"type": "flatten"}],
	  "embedding_dim": 256}')) AS hash_len;
-- only a superuser may raise the limit
CREATE ROLE limits_user;
SET ROLE limits_user;
SET siamese.nn.max_model_memory = '64GB';
RESET ROLE;
DROP ROLE limits_user;
DELETE FROM models WHERE name = 'small-conv';
DROP FUNCTION st_le(bytea);
DROP FUNCTION st_zeros(jsonb);
