# 040_onnx_torchvision.pl: real networks from PyTorch, end to end in SQL.
#
# Two torchvision backbones (ResNet-18 and MobileNetV3-small, seeded random
# weights, heads removed) are exported to ONNX by tools/onnx/torch_features.py,
# which also computes PyTorch's features of five real photos (skimage's
# samples: PNG and JPEG, colour and grey) with torchvision's eval transform.
# Each model is registered with siamese.register_onnx_model; the photos are
# embedded by siamese.embed in SQL, preprocessing included, and must equal
# PyTorch's features to 1e-4 relative.  Skipped, saying so, where Debian's
# python3-torch is not installed (scripts/setup installs it).  Then a
# projection head is trained on one backbone's frozen features
# (train_model's head) and measured against the backbone alone.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use lib 'test/perl';
use SiameseTest qw(new_node);

my $python = '/usr/bin/python3';
my $srcdir = $ENV{SIAMESE_SRCDIR} // '.';
my $script = "$srcdir/tools/onnx/torch_features.py";
plan skip_all => 'python3-torch / python3-torchvision are not installed: the torchvision comparison is skipped'
  unless -x $python && system("$python -c 'import torch, torchvision, onnx' 2>/dev/null") == 0;
plan skip_all => "$script is missing" unless -f $script;

my $dir = PostgreSQL::Test::Utils::tempdir();
my $node = new_node('torchvision');
my $photos = '/usr/lib/python3/dist-packages/skimage/data';

for my $model (qw(resnet18 mobilenet_v3_small))
{
	my ($out, $err) = run_command([ $python, $script, $model, $dir ]);
	ok(-f "$dir/$model.onnx", "$model exported to ONNX") or diag($err);
	open(my $fh, '<', "$dir/$model.json") or die "$model.json: $!";
	my $ref = decode_json(do { local $/; <$fh> });
	close $fh;
	my $config = encode_json($ref->{import});

	my $hash = $node->safe_psql('postgres',
		"SELECT siamese.register_onnx_model('$model', pg_read_binary_file('$dir/$model.onnx'), '$config')");
	like($hash, qr/^[0-9a-f]{64}$/, "$model registered");
	my $dims = scalar @{ $ref->{features}{'astronaut.png'} };
	is($node->safe_psql('postgres', "SELECT dims FROM siamese.models WHERE name = '$model'"),
		$dims, "$model embeds to $dims dimensions");

	for my $photo (sort keys %{ $ref->{features} })
	{
		my $got = $node->safe_psql('postgres',
			"SELECT siamese.embed(pg_read_binary_file('$photos/$photo'), '$model')::real[]");
		$got =~ s/[{}]//g;
		my @g = split /,/, $got;
		my @w = @{ $ref->{features}{$photo} };
		my ($maxdiff, $maxref) = (0, 0);
		for my $i (0 .. $#w)
		{
			my $d = abs(($g[$i] // 1e30) - $w[$i]);
			$maxdiff = $d if $d > $maxdiff;
			$maxref = abs($w[$i]) if abs($w[$i]) > $maxref;
		}
		my $rel = $maxref > 0 ? $maxdiff / $maxref : $maxdiff;
		ok(@g == @w && $rel < 1e-4, sprintf("%s: %s equals PyTorch (max difference %.2g of max |value| %.3g)",
				$model, $photo, $maxdiff, $maxref));
	}
}

# the normalised variant of one of them: unit vectors, same direction
$node->safe_psql('postgres', qq{
	SELECT siamese.register_onnx_model('resnet18-unit', pg_read_binary_file('$dir/resnet18.onnx'),
		(SELECT jsonb_build_object('input', config -> 'input', 'normalize', true) FROM siamese.models WHERE name = 'resnet18'))});
is($node->safe_psql('postgres', qq{
	SELECT round(siamese.norm(siamese.embed(pg_read_binary_file('$photos/chelsea.png'), 'resnet18-unit'))::numeric, 5)}),
	'1.00000', 'normalize: true gives unit vectors');
is($node->safe_psql('postgres', qq{
	SELECT siamese.cosine_distance(siamese.embed(i, 'resnet18-unit'), siamese.embed(i, 'resnet18')) < 1e-6
	FROM (SELECT pg_read_binary_file('$photos/coffee.png') AS i) s}),
	't', 'the normalised model points the same way');

# both reports with an imported model: photos of 224 px and more take the
# ImageNet corruption profile; the baseline is a shipped model
$node->safe_psql('postgres', qq{
	CREATE TABLE photos AS SELECT f AS name, pg_read_binary_file('$photos/' || f) AS img
	FROM unnest(ARRAY['astronaut.png', 'camera.png', 'chelsea.png', 'coffee.png', 'rocket.jpg']) f});
my $rid = $node->safe_psql('postgres', q{
	CALL siamese.robustness_report('photos', 'img', NULL, model => 'mobilenet_v3_small',
		baseline_model => 'fashion-pixels', corruptions => ARRAY['gaussian_noise', 'fog'],
		severities => '{1,3}', sample_size => 5)});
like($rid, qr/^\d+$/, 'robustness_report runs with an imported model');
is($node->safe_psql('postgres', "SELECT status || ' ' || images FROM siamese.robustness_runs WHERE run_id = $rid"),
	'succeeded 5', 'the report succeeded on the 5 photos');
is($node->safe_psql('postgres', "SELECT count(*) FROM siamese.robustness_results WHERE run_id = $rid AND severity > 0"),
	'4', 'one result per corruption and severity');
my $pid = $node->safe_psql('postgres', q{
	CALL siamese.perturbation_report('photos', 'img', NULL, model => 'mobilenet_v3_small',
		baseline_model => 'fashion-pixels', perturbations => ARRAY['brightness'], sample_size => 5)});
is($node->safe_psql('postgres', "SELECT status FROM siamese.robustness_runs WHERE run_id = $pid"),
	'succeeded', 'perturbation_report runs with an imported model');

# a projection head trained on an imported model's frozen features: 400
# Fashion-MNIST images train it, 200 others measure it (1-NN against the 400),
# beside the backbone's own features (seeded random weights: a weak base)
SKIP:
{
	my $exporter = "$srcdir/tools/bin/fmnist_export";
	skip 'tools/bin/fmnist_export or the Fashion-MNIST data set is missing', 4
	  unless -x $exporter && system("$exporter --split t10k --limit 1 >/dev/null 2>&1") == 0;
	$node->safe_psql('postgres', 'CREATE TABLE items (id int, label int, class text, png bytea)');
	ok(SiameseTest::load_fashion($node, $exporter, 'items', '--split', 't10k', '--limit', '600'), 'Fashion-MNIST loaded');
	$node->safe_psql('postgres', 'CREATE TABLE items_train AS SELECT * FROM items WHERE id < 400');
	my ($ret, $out, $err) = $node->psql('postgres', q{
		CALL siamese.train_model('mnv3-head', 'items_train', 'png', 'class', base_model => 'mobilenet_v3_small',
			head => 'mlp', loss => 'cosface', margin => 0.35, epochs => 15, images_per_class => 8,
			validation_fraction => 0, seed => 3)});
	is($ret, 0, 'a head trains on the imported model\'s features') or diag($err);
	my ($base_acc, $head_acc) = (SiameseTest::knn1_accuracy($node, 'mobilenet_v3_small', 400),
		SiameseTest::knn1_accuracy($node, 'mnv3-head', 400));
	ok($head_acc > $base_acc + 0.05, "1-NN on 200 unseen images: backbone features $base_acc, with the trained head $head_acc");
	is($node->safe_psql('postgres', q{
		SELECT config -> 'source' ->> 'base_model', dims, config -> 'classifier' IS NOT NULL
		FROM siamese.models WHERE name = 'mnv3-head'}),
		'mobilenet_v3_small|128|t', 'base plus head registered, with the CosFace classifier');
}

done_testing();
