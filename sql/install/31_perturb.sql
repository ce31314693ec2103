-- ImageNet-P perturbation sequences (src/pg/robust/perturb_sql.c over src/core/robust/perturb.c).

CREATE FUNCTION perturbations(OUT name text, OUT kind text, OUT noise boolean,
                              OUT frames_cifar integer, OUT frames_tiny integer,
                              OUT frames_imagenet integer, OUT description text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'siamese_perturbations'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 14;
COMMENT ON FUNCTION perturbations() IS
'The 14 ImageNet-P perturbation sequences: name, kind (test or validation), whether frames are independent noise draws around the clean frame (false: the parameter changes smoothly with the frame), the frame count under the cifar, tiny and imagenet profiles, and a description';

CREATE FUNCTION perturbation_frames(image bytea, perturbation text, seed bigint DEFAULT 0,
                                    profile text DEFAULT 'auto', difficulty integer DEFAULT 1)
RETURNS TABLE (frame integer, image bytea)
AS 'MODULE_PATHNAME', 'siamese_perturbation_frames'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 31;
COMMENT ON FUNCTION perturbation_frames(bytea, text, bigint, text, integer) IS
'The frames of an ImageNet-P perturbation sequence as PNGs of the input''s size, frame 0 first; profile cifar, tiny, imagenet or auto (by image size) sets the frame count and parameters; difficulty 1 to 3 selects the noise level of the noise sequences (temporal sequences do not depend on it); same seed, same bytes';
