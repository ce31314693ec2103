# 020_models.pl: models in a fresh cluster.
#  * the models installed in the extension's share directory are in the
#    catalog right after CREATE EXTENSION, byte for byte (hash of the files),
#    and embed; loading again is a no-op (checks skip cleanly when no model
#    is installed, the loading mechanism is still exercised);
#  * a parallel-query embedding of a table equals a serial one;
#  * pg_dump keeps user-registered models (and their history), not shipped ones.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Digest::SHA qw(sha256 sha256_hex);
use File::Basename;
use lib 'test/perl';
use SiameseTest qw(new_node tiny_png_hex);

my $node = new_node('models', conf => "max_parallel_workers_per_gather = 2\nmax_worker_processes = 8\n");
my $png = tiny_png_hex();

# --- shipped models ---------------------------------------------------------
my $sharedir = `pg_config --sharedir`;
chomp $sharedir;
my $modeldir = "$sharedir/extension/siamese_pg";
my %files;
for my $json (glob("$modeldir/*.json"))
{
	my $name = basename($json, '.json');
	next unless -f "$modeldir/$name.safetensors";
	next unless $name =~ /^[a-z0-9][a-z0-9_-]{0,62}$/;
	%files = (%files, $name => [ $json, "$modeldir/$name.safetensors" ]);
}
my $n_files = scalar keys %files;
note("$n_files model(s) installed in $modeldir");

is($node->safe_psql('postgres', 'SELECT count(*) FROM siamese.models WHERE builtin'),
	$n_files, 'every installed model pair is in the catalog after CREATE EXTENSION');
is($node->safe_psql('postgres', 'SELECT siamese._load_shipped_models()'),
	'0', 'loading the shipped models again adds nothing');
is($node->safe_psql('postgres', 'SELECT count(*) FROM siamese.model_history WHERE builtin'),
	$n_files, 'shipped names are recorded in the history');

sub slurp
{
	my ($path) = @_;
	open(my $fh, '<:raw', $path) or die "$path: $!";
	local $/;
	my $data = <$fh>;
	close $fh;
	return $data;
}

SKIP:
{
	skip 'no shipped models installed', 3 * $n_files + 1 if $n_files == 0;
	for my $name (sort keys %files)
	{
		my ($json, $st) = @{ $files{$name} };
		my $expected = sha256_hex(sha256(slurp($json)) . sha256(slurp($st)));
		is($node->safe_psql('postgres', "SELECT hash FROM siamese.models WHERE name = '$name'"),
			$expected, "$name: catalog hash is the hash of the installed files");
		my $dims = $node->safe_psql('postgres', "SELECT dims FROM siamese.models WHERE name = '$name'");
		is($node->safe_psql('postgres',
				"SET client_min_messages = error; SELECT siamese.dims(siamese.embed(decode('$png', 'hex'), '$name'))"),
			$dims, "$name: embeds an image");
		is($node->safe_psql('postgres',
				"SET client_min_messages = error; SELECT siamese.embed(decode('$png', 'hex'), '$name')::text = "
				  . "(siamese.embed_batch(ARRAY[decode('$png', 'hex')], '$name'))[1]::text"),
			't', "$name: batch and single agree");
	}
	my ($ret, $out, $err) = $node->psql('postgres',
		"DELETE FROM siamese.models WHERE builtin");
	like($err, qr/cannot delete shipped model/, 'shipped models cannot be deleted');
}

# --- fixture model (see sql/models.sql) --------------------------------------
my $weights = '10010000000000007b22636f6e76312e776569676874223a7b226474797065223a22463332222c227368617065223a5b322c312c332c335d2c22646174615f6f666673657473223a5b302c37325d7d2c22636f6e76312e62696173223a7b226474797065223a22463332222c227368617065223a5b325d2c22646174615f6f666673657473223a5b37322c38305d7d2c2266632e776569676874223a7b226474797065223a22463332222c227368617065223a5b342c33325d2c22646174615f6f666673657473223a5b38302c3539325d7d2c2266632e62696173223a7b226474797065223a22463332222c227368617065223a5b345d2c22646174615f6f666673657473223a5b3539322c3630385d7d7d2020202020200000403e0000c03e000000bf0000a0be000000be0000803d0000803e0000e03e0000e0be000080be000080bd0000003e0000a03e0000003f0000c0be000040be000000000000403e0000003e000080bd000040be000000000000403e0000c03e000000bf0000a0be000000be0000803d0000803e0000e03e0000e0be000080be000080bd0000003e0000a03e0000003f0000c0be000040be000000000000403e0000c03e000000bf0000a0be000000be0000803d0000803e0000e03e0000e0be000080be000080bd0000003e0000a03e0000003f0000c0be000040be000000000000403e0000c03e000000bf0000a0be000000be0000803d0000803e0000e03e0000e0be000080be000080bd0000003e0000a03e0000003f0000c0be000040be000000000000403e0000c03e000000bf0000a0be000000be0000803d0000803e0000e03e0000e0be000080be000080bd0000003e0000a03e0000003f0000c0be000040be000000000000403e0000c03e000000bf0000a0be000000be0000803d0000803e0000e03e0000e0be000080be000080bd0000003e0000a03e0000003f0000c0be000040be000000000000403e0000c03e000000bf0000a0be000000be0000803d0000803e0000e03e0000e0be000080be000080bd0000003e0000a03e0000003f0000c0be000040be000000000000403e0000c03e000000bf0000a0be000000be0000803d0000803e0000e03e0000e0be000080be000080bd0000003e0000a03e0000003f0000c0be000040be000000000000403e0000c03e000000bf0000a0be000000be0000803d0000803e000000000000803e000080be0000003f';
my $config = '{"name": "tiny", "format_version": 1, "input": {"channels": 1, "height": 8, "width": 8, "mean": [0.5], "std": [0.25]}, "layers": [{"type": "conv2d", "name": "conv1", "in": 1, "out": 2, "kernel": 3, "stride": 1, "padding": 1}, {"type": "relu"}, {"type": "maxpool", "kernel": 2}, {"type": "flatten"}, {"type": "linear", "name": "fc", "in": 32, "out": 4}, {"type": "l2norm"}], "embedding_dim": 4, "distance": "cosine", "threshold": 0.5}';
my $img = '89504e470d0a1a0a0000000d4948445200000008000000080800000000e164e1570000005349444154789c014800b7ff000020406080a0c0e0000424446484a4c4e4000828486888a8c8e8000c2c4c6c8cacccec001030507090b0d0f0001434547494b4d4f4001838587898b8d8f8001c3c5c7c9cbcdcfc15441f812b73f7650000000049454e44ae426082';
my $hash = $node->safe_psql('postgres',
	"SELECT siamese.register_model('tiny', decode('$weights', 'hex'), '$config')");
like($hash, qr/^[0-9a-f]{64}$/, 'fixture model registered');

# --- parallel query gives the same embeddings as serial ---------------------
# 2000 distinct images: the fixture under seeded noise, blur and shifts.
$node->safe_psql('postgres', qq{
	CREATE TABLE imgs (id int, img bytea) WITH (parallel_workers = 2);
	INSERT INTO imgs
	SELECT g, siamese.corrupt(decode('$img', 'hex'),
		(ARRAY['gaussian_noise', 'shot_noise', 'impulse_noise', 'contrast'])[1 + g % 4], 1 + g % 5, g)
	FROM generate_series(1, 2000) g;
	ANALYZE imgs;
});
my $models = "'tiny'";
$models .= ", 'fashion'" if exists $files{fashion};
my $serial = $node->safe_psql('postgres', qq{
	SET client_min_messages = error;
	SET max_parallel_workers_per_gather = 0;
	CREATE TABLE e_serial AS SELECT m, id, siamese.embed(img, m) AS e FROM imgs, unnest(ARRAY[$models]) m;
	SELECT count(*) FROM e_serial;
});
my $plan = $node->safe_psql('postgres', qq{
	SET client_min_messages = error;
	SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;
	EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
	SELECT id, siamese.embed(img, 'tiny') FROM imgs;
});
like($plan, qr/Workers Launched: [12]/, 'the embedding query runs in parallel workers');
is($node->safe_psql('postgres', qq{
	SET client_min_messages = error;
	SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;
	CREATE TABLE e_par AS SELECT m, id, siamese.embed(img, m) AS e FROM imgs, unnest(ARRAY[$models]) m;
	SELECT count(*) FROM e_par;
}), $serial, 'parallel CREATE TABLE AS embeds every row');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM e_serial s JOIN e_par p USING (m, id) WHERE s.e::text = p.e::text
}), $serial, 'parallel embeddings equal serial ones bit for bit');
is($node->safe_psql('postgres', q{
	SELECT count(DISTINCT e::text) > 100 FROM e_serial WHERE m = 'tiny'
}), 't', 'the images give distinct embeddings');

# --- pg_dump keeps user models ------------------------------------------------
$node->safe_psql('postgres', "DELETE FROM siamese.models WHERE name = 'tiny'");
$node->safe_psql('postgres',
	"SELECT siamese.register_model('tiny2', decode('$weights', 'hex'), '$config')");
my $dump = $node->basedir . '/models.dump';
$node->command_ok([ 'pg_dump', '-d', $node->connstr('postgres'), '-f', $dump ], 'pg_dump');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('restored'), '-f', $dump ],
	'restore');
is($node->safe_psql('restored',
		"SELECT string_agg(name || ':' || (hash = '$hash'), ',' ORDER BY name) FROM siamese.models WHERE NOT builtin"),
	'tiny2:true', 'user model restored with its hash');
is($node->safe_psql('restored',
		"SELECT string_agg(name, ',' ORDER BY name) FROM siamese.model_history WHERE NOT builtin"),
	'tiny,tiny2', 'history restored: deleted names stay taken');
is($node->safe_psql('restored', 'SELECT count(*) FROM siamese.models WHERE builtin'),
	$n_files, 'shipped models come from CREATE EXTENSION, once');
(my $config2 = $config) =~ s/"threshold": 0.5/"threshold": 0.6/;
my ($ret, $out, $err) = $node->psql('restored',
	"SELECT siamese.register_model('tiny', decode('$weights', 'hex'), '$config2')");
like($err, qr/model name "tiny" is already bound to different content/,
	'a restored history still guards deleted names');
is($node->safe_psql('restored',
		"SET client_min_messages = error; SELECT siamese.dims(siamese.embed(decode('$img', 'hex'), 'tiny2'))"),
	'4', 'restored model embeds');

$node->stop;
done_testing();
