-- siamese.* configuration parameters: defaults, validation, effect.
-- GUCs exist once the library is loaded (any siamese function loads it;
-- shared_preload_libraries makes them known at server start).
LOAD 'siamese_pg';
SET search_path = siamese, public;

SHOW siamese.max_image_pixels;
SET siamese.max_image_pixels = 0;            -- below the minimum
SET siamese.max_image_pixels = 1000000000;   -- above the hard ceiling
SET siamese.max_image_pixels = 4;
SHOW siamese.max_image_pixels;
RESET siamese.max_image_pixels;

SHOW siamese.distance_isa;
SET siamese.distance_isa = 'scalar';
SELECT distance_isa();
SELECT '[1,2,3]'::embedding <-> '[4,6,3]'::embedding AS l2_scalar;
SET siamese.distance_isa = 'sse9';            -- unknown name
RESET siamese.distance_isa;
SELECT '[1,2,3]'::embedding <-> '[4,6,3]'::embedding AS l2_auto;

-- The siamese. prefix is reserved: typos are errors, not silently new settings.
SET siamese.no_such_setting = 1;
