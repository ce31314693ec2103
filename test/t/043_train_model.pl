# 043_train_model.pl: CALL siamese.train_model trains a Siamese model on a
# table's labelled images inside the backend.
#
#  * 600 Fashion-MNIST test images; a small MLP for 3 epochs: the model is
#    registered with its training record, held-out 1-NN accuracy and
#    classes, embeds, and beats chance by far;
#  * the same seed gives the same weights; fine-tuning a registered model
#    (base_model) works; multi-similarity, normalised softmax, CosFace and
#    batch-all + CosFace train too, the last three leaving a classifier that predict and
#    classify_ensemble use; images beyond maintenance_work_mem go to a temporary file
#    with the same result, within temp_file_limit;
#  * a projection head on a frozen model (head => 'mlp'): registered as
#    base plus head, reproducible, far above chance on unseen images;
#  * progress shows in pg_stat_activity; a cancelled run registers nothing;
#  * row level security: a role trains only on the rows it can read, and
#    needs register_model's privilege;
#  * bad input: a single class, NULL and undecodable images (skipped and
#    counted), unknown architecture or loss, a non-bytea column.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib 'test/perl';
use SiameseTest qw(new_node fashion_exporter_or_skip load_fashion wait_for_appname knn1_accuracy);

my $exporter = fashion_exporter_or_skip();
my $node = new_node('train');

$node->safe_psql('postgres', 'CREATE TABLE items (id int, label int, class text, png bytea)');
ok(load_fashion($node, $exporter, 'items', '--split', 't10k', '--limit', '600'), 'images loaded');

my $train = "CALL siamese.train_model('mine', 'items', 'png', 'class', architecture => 'mlp', epochs => 3, "
  . "images_per_class => 8, validation_fraction => 0.2, seed => 7)";
my ($ret, $out, $err) = $node->psql('postgres', $train);
is($ret, 0, 'train_model runs') or diag($err);
like($out, qr/^[0-9a-f]{64}$/, 'and returns the model hash');
like($err, qr/NOTICE:  train_model "mine": epoch 3 of 3, mean loss [0-9.]+/, 'a NOTICE per epoch');
my ($acc) = $err =~ /held-out 1-NN accuracy ([0-9.]+)/;
ok(defined $acc && $acc > 0.5, 'held-out 1-NN accuracy ' . ($acc // 'missing') . ' (chance is 0.1)');

is($node->safe_psql('postgres', q{
	SELECT config -> 'training' ->> 'trainer',
	       (config -> 'training' ->> 'validation_images')::int =
	         (SELECT sum(floor(n * 0.2)) FROM (SELECT count(*) n FROM items GROUP BY class) c),
	       (config -> 'training' ->> 'validation_images')::int + (config -> 'training' ->> 'train_images')::int,
	       jsonb_array_length(config -> 'training' -> 'loss_curve'),
	       config -> 'metadata' -> 'classes' ->> 0, (config -> 'quality' ->> 'nn1_accuracy')::float8 > 0.5
	FROM siamese.models WHERE name = 'mine'}),
	'siamese.train_model|t|600|3|Ankle boot|t', 'registered with its record (a fifth of each class held out), quality and classes');
# the held-out figures: mAP, verification AUC and the threshold it sets, the
# few-shot temperature classify uses
$node->safe_psql('postgres', q{CREATE TABLE items_support AS SELECT siamese.embed(png, 'mine') AS e, class FROM items WHERE id % 50 = 0});
my $q = $node->safe_psql('postgres', q{
	SELECT round((config -> 'quality' ->> 'map')::numeric, 3), round((config -> 'quality' ->> 'verification_auc')::numeric, 3),
	       (config -> 'quality' ->> 'verification_pairs'), config -> 'quality' ->> 'fewshot_way',
	       round((config -> 'quality' ->> 'fewshot_1shot')::numeric, 3), (config -> 'quality' ->> 'fewshot_temperature')::float8,
	       t.threshold
	FROM siamese.models m, LATERAL (SELECT x.threshold FROM siamese.models() x WHERE x.name = m.name) t WHERE m.name = 'mine'});
my ($map, $auc, $pairs, $way, $shot1, $temp, $thr) = split /\|/, $q;
ok($map > 0.3 && $auc > 0.8 && $pairs == 10000 && $way == 10 && $shot1 > 0.3 && $temp > 0 && $temp < 10 && $thr > 0,
	"held-out quality recorded: mAP $map, AUC $auc on $pairs pairs, 10-way 1-shot $shot1, temperature $temp, threshold $thr");
is($node->safe_psql('postgres', qq{
	SELECT bool_and(a.probability = b.probability), bool_or(a.probability <> c.probability)
	FROM siamese.classify((SELECT png FROM items WHERE id = 7), 'items_support', 'e', 'class', 'mine') a
	JOIN siamese.classify((SELECT png FROM items WHERE id = 7), 'items_support', 'e', 'class', 'mine', 1, $temp) b USING (label)
	JOIN siamese.classify((SELECT png FROM items WHERE id = 7), 'items_support', 'e', 'class', 'mine', 1, 1) c USING (label)}),
	't|t', 'classify uses the calibrated temperature by default');
is($node->safe_psql('postgres', q{
	SELECT siamese.dims(siamese.embed(png, 'mine')) FROM items LIMIT 1}), '128', 'the model embeds');

# the same seed, the same weights (another name: the config holds the name)
$node->safe_psql('postgres', $train =~ s/'mine'/'mine2'/r);
is($node->safe_psql('postgres', q{
	SELECT a.weights = b.weights FROM siamese.models a, siamese.models b WHERE a.name = 'mine' AND b.name = 'mine2'}),
	't', 'the same seed gives the same weights');

# fine-tuning a registered model
($ret, $out, $err) = $node->psql('postgres', q{
	CALL siamese.train_model('mine-tuned', 'items', 'png', 'class', base_model => 'mine', epochs => 1,
		images_per_class => 8, seed => 8)});
is($ret, 0, 'fine-tuning base_model runs') or diag($err);
is($node->safe_psql('postgres', q{
	SELECT a.config -> 'training' ->> 'base_model', a.weights <> b.weights
	FROM siamese.models a, siamese.models b WHERE a.name = 'mine-tuned' AND b.name = 'mine'}),
	'mine|t', 'starting from its weights, it moves them');

# the residual architecture trains in SQL too (skip / add layers)
($ret, $out, $err) = $node->psql('postgres', q{
	CALL siamese.train_model('res', 'items', 'png', 'class', architecture => 'resnet', epochs => 1,
		images_per_class => 8, seed => 8)});
is($ret, 0, 'architecture resnet trains') or diag($err);
is($node->safe_psql('postgres', q{
	SELECT jsonb_path_query_array(config, '$.layers[*] ? (@.type == "skip" || @.type == "add").type')::text,
	       (SELECT siamese.dims(siamese.embed(png, 'res')) FROM items LIMIT 1)
	FROM siamese.models WHERE name = 'res'}),
	'["skip", "add", "skip", "add"]|128', 'with its residual blocks, and it embeds');

# a projection head on a frozen model: the base's features are computed once
# (decoding failures skipped and counted), only the head trains, and the
# registered model is the base followed by the head
$node->safe_psql('postgres', 'CREATE TABLE items_first AS SELECT * FROM items WHERE id < 480');
my $headcall = "CALL siamese.train_model('NAME', 'items_first', 'png', 'class', base_model => 'fashion-pixels', head => 'mlp', "
  . "epochs => 4, images_per_class => 8, validation_fraction => 0.2, seed => 7)";
($ret, $out, $err) = $node->psql('postgres', $headcall =~ s/NAME/px-head/r);
is($ret, 0, 'a head trains on a frozen model') or diag($err);
my ($hacc) = $err =~ /held-out 1-NN accuracy ([0-9.]+)/;
is($node->safe_psql('postgres', q{
	SELECT config ->> 'format_version', config -> 'source' ->> 'format', config -> 'source' ->> 'base_model',
	       config -> 'source' ->> 'base_hash' = (SELECT hash FROM siamese.models WHERE name = 'fashion-pixels'),
	       config -> 'training' ->> 'head', config -> 'training' ->> 'frozen_base', dims,
	       (config -> 'quality' ->> 'nn1_accuracy')::float8 > 0.5
	FROM siamese.models WHERE name = 'px-head'}),
	'2|head|fashion-pixels|t|mlp|true|128|t', 'registered as an operator graph: base, its hash and the head recorded, with quality');
is($node->safe_psql('postgres', q{
	SELECT round(siamese.norm(siamese.embed(png, 'px-head'))::numeric, 5) FROM items WHERE id = 3}),
	'1.00000', 'the composed model embeds to unit vectors');
# on images it never saw (1-NN of images 480-599 against 0-479) the head is
# far above chance; the base's own figure is reported beside it
my ($base_acc, $head_acc) = (knn1_accuracy($node, 'fashion-pixels', 480, 'l2_distance'), knn1_accuracy($node, 'px-head', 480));
ok($head_acc > 0.6, "1-NN on the last 120 images: raw pixels $base_acc, with the trained head $head_acc "
	. "(held-out in training $hacc)");
$node->safe_psql('postgres', $headcall =~ s/NAME/px-head2/r);
is($node->safe_psql('postgres', q{
	SELECT a.weights = b.weights FROM siamese.models a, siamese.models b WHERE a.name = 'px-head' AND b.name = 'px-head2'}),
	't', 'the same seed gives the same head');
($ret, $out, $err) = $node->psql('postgres',
	"CALL siamese.train_model('x', 'items', 'png', 'class', head => 'mlp')");
like($err, qr/ERROR:  a head is trained on a base model's features/, 'a head needs a base model');
($ret, $out, $err) = $node->psql('postgres',
	"CALL siamese.train_model('x', 'items', 'png', 'class', base_model => 'fashion', head => 'transformer')");
like($err, qr/ERROR:  unknown head "transformer"/, 'an unknown head is refused');
($ret, $out, $err) = $node->psql('postgres',
	"CALL siamese.train_model('x', 'items', 'png', 'class', base_model => 'fashion', head => 'mlp', head_dim => 1)");
like($err, qr/ERROR:  head_dim must be between 2 and 4096, not 1/, 'a head_dim out of range is refused');
($ret, $out, $err) = $node->psql('postgres',
	"CALL siamese.train_model('x', 'items', 'png', 'class', base_model => 'px-head', epochs => 1)");
like($err, qr/ERROR:  model "px-head" is an operator graph; train_model fine-tunes layer-list models only.*\n.*HINT:  Train a head/,
	'fine-tuning an operator graph is refused with the head as the hint');

# more decoded images than maintenance_work_mem: cached in a temporary file,
# with the same result as in memory; temp_file_limit is honoured
$node->safe_psql('postgres', 'CREATE TABLE items3 AS SELECT i.* FROM items i, generate_series(1, 3)');
my $train3 = "CALL siamese.train_model('NAME', 'items3', 'png', 'class', architecture => 'mlp', epochs => 1, "
  . "images_per_class => 8, seed => 7)";
$node->safe_psql('postgres', "SET maintenance_work_mem = '64MB'; " . ($train3 =~ s/NAME/in-memory/r));
($ret, $out, $err) = $node->psql('postgres', "SET maintenance_work_mem = '1MB'; " . ($train3 =~ s/NAME/spilled/r));
is($ret, 0, 'training on 1,800 images (1.4 MB decoded) with maintenance_work_mem 1MB runs') or diag($err);
like($err, qr/outgrow maintenance_work_mem \(1024 kB\) after 1337 images; caching them in a temporary file/,
	'a NOTICE says the cache went to a temporary file');
is($node->safe_psql('postgres', q{
	SELECT a.weights = b.weights FROM siamese.models a, siamese.models b WHERE a.name = 'in-memory' AND b.name = 'spilled'}),
	't', 'the same weights as with the cache in memory');
($ret, $out, $err) = $node->psql('postgres', "SET maintenance_work_mem = '1MB'; SET temp_file_limit = '100kB'; "
	. ($train3 =~ s/NAME/too-big/r));
like($err, qr/ERROR:  temporary file size exceeds temp_file_limit/, 'temp_file_limit stops it cleanly');
is($node->safe_psql('postgres', "SELECT count(*) FROM siamese.models WHERE name = 'too-big'"), '0', 'and nothing is registered');

# the other losses: multi-similarity, and the three with class proxies
# (normalised softmax, CosFace, batch-all + CosFace) whose head is trained
# beside the network and kept as the model's classifier
for my $loss ('multi_similarity', 'softmax', 'cosface', 'batch_all_cosface')
{
	($ret, $out, $err) = $node->psql('postgres', $train =~ s/'mine'/'by-$loss'/r =~ s/epochs => 3/epochs => 3, loss => '$loss'/r);
	is($ret, 0, "loss $loss trains") or diag($err);
	my ($a) = $err =~ /held-out 1-NN accuracy ([0-9.]+)/;
	ok(defined $a && $a > 0.5, "loss $loss: held-out 1-NN accuracy " . ($a // 'missing') . ' (chance is 0.1)');
	is($node->safe_psql('postgres', "SELECT config -> 'training' ->> 'loss' FROM siamese.models WHERE name = 'by-$loss'"),
		$loss, "loss $loss: recorded in the training record");
}

# the losses with class proxies leave a classifier in the model: predict uses
# it, classify_ensemble combines it with few-shot classification
is($node->safe_psql('postgres', q{
	SELECT string_agg(name || ':' || coalesce(jsonb_array_length(config -> 'classifier' -> 'classes')::text, '-'), ',' ORDER BY name)
	FROM siamese.models WHERE name LIKE 'by-%'}),
	'by-batch_all_cosface:10,by-cosface:10,by-multi_similarity:-,by-softmax:10',
	'softmax, cosface and batch_all_cosface models carry a classifier of the 10 classes');
my $pred = $node->safe_psql('postgres', q{
	SELECT avg(((SELECT p.label FROM siamese.predict(png, 'by-cosface') p LIMIT 1) = class)::int)::numeric(4,3)
	FROM items WHERE id % 5 = 0});
cmp_ok($pred, '>', 0.5, "predict with the cosface model's classifier: accuracy $pred on 120 images (chance 0.1)");
$node->safe_psql('postgres', q{
	CREATE TABLE support AS SELECT siamese.embed(png, 'by-cosface') AS e, class FROM (
		SELECT png, class, row_number() OVER (PARTITION BY class ORDER BY id) AS r FROM items WHERE id % 5 <> 0) s
	WHERE r <= 5});
my $ens = $node->safe_psql('postgres', q{
	SELECT avg(((SELECT c.label FROM siamese.classify_ensemble(png, 'support', 'e', 'class', 'by-cosface', 'by-cosface') c
	             LIMIT 1) = class)::int)::numeric(4,3)
	FROM items WHERE id % 5 = 0});
cmp_ok($ens, '>', 0.5, "classify_ensemble (5-shot support + classifier): accuracy $ens on the same images");

# the shipped classifier beside the shipped Siamese model, on test images
# neither was trained on: 5 support images per class, 120 queries
$node->safe_psql('postgres', q{
	CREATE TABLE support_f AS SELECT siamese.embed(png, 'fashion') AS e, class FROM (
		SELECT png, class, row_number() OVER (PARTITION BY class ORDER BY id) AS r FROM items WHERE id % 5 <> 0) s
	WHERE r <= 5});
my ($p_acc, $c_acc, $e_acc) = split /\|/, $node->safe_psql('postgres', q{
	SELECT avg(((SELECT p.label FROM siamese.predict(png, 'fashion-classifier') p LIMIT 1) = class)::int)::numeric(4,3),
	       avg(((SELECT c.label FROM siamese.classify(png, 'support_f', 'e', 'class', 'fashion') c
	             ORDER BY probability DESC LIMIT 1) = class)::int)::numeric(4,3),
	       avg(((SELECT c.label FROM siamese.classify_ensemble(png, 'support_f', 'e', 'class', 'fashion', 'fashion-classifier') c
	             LIMIT 1) = class)::int)::numeric(4,3)
	FROM items WHERE id % 5 = 0});
ok($p_acc > 0.8 && $c_acc > 0.7 && $e_acc > 0.8,
	"shipped models on 120 unseen images: predict(fashion-classifier) $p_acc, 5-shot classify(fashion) $c_acc, ensemble $e_acc");

# progress in pg_stat_activity, then a cancel registers nothing
my ($in, $o2, $e2) = ('', '', '');
my $h = IPC::Run::start(
	[ 'psql', '-XAtq', '-d', $node->connstr('postgres'),
	  '-c', "CALL siamese.train_model('cancelled', 'items', 'png', 'class', architecture => 'cnn', epochs => 50)" ],
	'<', \$in, '>', \$o2, '2>', \$e2);
my $pid = wait_for_appname($node, 'siamese train % cancelled');
isnt($pid, '', 'the epoch and step show in pg_stat_activity.application_name');
like($node->safe_psql('postgres', 'SELECT model, epochs, steps_per_epoch > 0, epoch >= 1, pid FROM siamese.training_progress'),
	qr/^cancelled\|50\|t\|t\|$pid$/, 'and in the training_progress view');
$node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
$h->finish;
like($e2, qr/canceling statement due to user request/, 'the run is cancelled');
is($node->safe_psql('postgres', "SELECT count(*) FROM siamese.models WHERE name = 'cancelled'"), '0',
	'and registers nothing');

# row level security: a role trains on the rows it can read, and needs register_model
$node->safe_psql('postgres', q{
	CREATE ROLE trainer LOGIN;
	GRANT USAGE ON SCHEMA siamese TO trainer;
	GRANT SELECT ON items TO trainer;
	ALTER TABLE items ENABLE ROW LEVEL SECURITY;
	CREATE POLICY two_classes ON items FOR SELECT TO trainer USING (label IN (0, 1));
});
my $as_trainer = "CALL siamese.train_model('rls', 'items', 'png', 'class', architecture => 'mlp', epochs => 1, "
  . "images_per_class => 8)";
($ret, $out, $err) = $node->psql('postgres', $as_trainer, extra_params => [ '-U', 'trainer' ]);
like($err, qr/permission denied for function register_model/, 'registering needs register_model\'s privilege');
$node->safe_psql('postgres', 'GRANT EXECUTE ON FUNCTION siamese.register_model(text, bytea, jsonb) TO trainer');
($ret, $out, $err) = $node->psql('postgres', $as_trainer, extra_params => [ '-U', 'trainer' ]);
is($ret, 0, 'with it, the role trains') or diag($err);
is($node->safe_psql('postgres', q{
	SELECT config -> 'metadata' -> 'classes', registered_by FROM siamese.models WHERE name = 'rls'}),
	'["T-shirt/top", "Trouser"]|trainer', 'on the two classes it can read, as itself');

# bad input
$node->safe_psql('postgres', q{
	CREATE TABLE one_class AS SELECT png, 'x'::text AS c FROM items LIMIT 20;
	CREATE TABLE messy AS SELECT png, class FROM items WHERE label < 3;
	INSERT INTO messy VALUES (NULL, 'Trouser'), ('\x00010203', 'Trouser'), ('\x89504e47', 'Pullover');
	CREATE TABLE not_bytea AS SELECT id, class FROM items LIMIT 10;
});
($ret, $out, $err) = $node->psql('postgres',
	"CALL siamese.train_model('one', 'one_class', 'png', 'c', architecture => 'mlp', epochs => 1)");
like($err, qr/ERROR:  training needs images of at least two classes; the source has 20 usable images of 1/,
	'a single class is refused');
($ret, $out, $err) = $node->psql('postgres',
	"CALL siamese.train_model('messy', 'messy', 'png', 'class', architecture => 'mlp', epochs => 1, images_per_class => 4)");
is($ret, 0, 'NULL and undecodable images do not stop training') or diag($err);
like($err, qr/skipped 1 rows with a NULL image or label and 2 images that could not be decoded/,
	'they are skipped and counted');
is($node->safe_psql('postgres', q{
	SELECT (config -> 'training' ->> 'skipped_null') || ',' || (config -> 'training' ->> 'skipped_undecodable')
	FROM siamese.models WHERE name = 'messy'}), '1,2', 'and recorded with the model');
($ret, $out, $err) = $node->psql('postgres',
	"CALL siamese.train_model('messy-head', 'messy', 'png', 'class', base_model => 'fashion', head => 'linear', "
	. "epochs => 1, images_per_class => 4)");
like($err, qr/skipped 1 rows with a NULL image or label and 2 images that could not be decoded/,
	'and so they are when a head is trained on features');
($ret, $out, $err) = $node->psql('postgres',
	"CALL siamese.train_model('x', 'items', 'png', 'class', architecture => 'vgg')");
like($err, qr/unknown architecture "vgg"/, 'an unknown architecture is refused');
($ret, $out, $err) = $node->psql('postgres',
	"CALL siamese.train_model('x', 'items', 'png', 'class', loss => 'arcface')");
like($err, qr/unknown loss "arcface"/, 'an unknown loss is refused');
($ret, $out, $err) = $node->psql('postgres',
	"CALL siamese.train_model('x', 'not_bytea', 'id', 'class', architecture => 'mlp')");
like($err, qr/column "id" is of type integer, not bytea/, 'an image column of another type is refused');
($ret, $out, $err) = $node->psql('postgres',
	"CALL siamese.train_model('x', 'items', 'nope', 'class')");
like($err, qr/column "nope" does not exist/, 'a missing column is refused');
# no labels at all: every row's label is NULL
$node->safe_psql('postgres', 'CREATE TABLE unlabelled AS SELECT png, NULL::text AS c FROM items LIMIT 20');
($ret, $out, $err) = $node->psql('postgres',
	"CALL siamese.train_model('x', 'unlabelled', 'png', 'c', architecture => 'mlp', epochs => 1)");
like($err, qr/training needs images of at least two classes; the source has 0 usable images of 0/,
	'a table without labels is refused');
# labels of another type are compared by their text form: a boolean trains,
# and the classes are recorded as text
$node->safe_psql('postgres', 'CREATE TABLE bool_labels AS SELECT png, label < 5 AS top FROM items');
($ret, $out, $err) = $node->psql('postgres',
	"CALL siamese.train_model('bool', 'bool_labels', 'png', 'top', architecture => 'mlp', epochs => 1, images_per_class => 8)");
is($ret, 0, 'boolean labels train') or diag($err);
is($node->safe_psql('postgres', q{SELECT config -> 'metadata' -> 'classes' FROM siamese.models WHERE name = 'bool'}),
	'["false", "true"]', 'with the classes named by their text form');

$node->stop;
done_testing();
