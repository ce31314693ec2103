# SiameseTest.pm: shared helpers for siamese_pg's TAP tests (test/t/*.pl).
#
# new_node() gives a started PostgreSQL::Test::Cluster node with the
# extension created in database "postgres"; small fixtures live here so each
# test does not repeat them.
package SiameseTest;

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use Exporter 'import';
use IPC::Run;
use Time::HiRes ();
use Test::More;

our @EXPORT_OK = qw(new_node tiny_png_hex fashion_exporter_or_skip load_fashion wait_for_appname knn1_accuracy
  items_recall10 items_reachable random_items_sql);

# A 4x3 8-bit grayscale PNG (made with zlib; pixel (x,y) = (60x + 20y) mod 256).
sub tiny_png_hex
{
	return '89504e470d0a1a0a0000000d4948445200000004000000030800000000919ff11a'
	  . '0000001749444154789c6360b0a9d8c22012d07382412365c11d00201705297ae3b077'
	  . '0000000049454e44ae426082';
}

# The pid of a backend whose application_name is LIKE $pattern, waiting up
# to a minute for one to appear; '' if none did.
sub wait_for_appname
{
	my ($node, $pattern) = @_;
	my $pid = '';
	for (1 .. 600)
	{
		$pid = $node->safe_psql('postgres',
			"SELECT pid FROM pg_stat_activity WHERE application_name LIKE '$pattern'");
		last if $pid ne '';
		Time::HiRes::usleep(100_000);
	}
	return $pid;
}

# SQL that creates table items (i bigserial, writer int, e embedding($dims))
# with $rows rows of uniform random vectors in [0, 1)^$dims (writer 0),
# seeded by $seed: the index tests' shared fixture.
sub random_items_sql
{
	my ($dims, $rows, $seed) = @_;
	return qq{
		SET search_path = public, siamese;
		SELECT setseed($seed);
		CREATE TABLE items (i bigserial PRIMARY KEY, writer int, e embedding($dims));
		INSERT INTO items (writer, e)
		  SELECT 0, array_to_embedding(ARRAY(SELECT random()::real FROM generate_series(1, $dims) d WHERE g > 0), $dims, true)
		  FROM generate_series(1, $rows) g;
	};
}

# Recall@10 of the siamese_hnsw index on table items (columns i, e) against
# the exact answer, for the query vectors of $queries (SQL giving rows
# (q, e)), rounded to 3 places; $settings (SET commands, e.g. ef_search) run
# first.  The index tests' shared yardstick.
sub items_recall10
{
	my ($node, $queries, $settings) = @_;
	$settings //= '';
	return $node->safe_psql('postgres', qq{
		SET search_path = public, siamese;
		$settings
		SET enable_indexscan = off; SET enable_bitmapscan = off;
		CREATE TEMP TABLE exact AS SELECT q.q, x.i FROM ($queries) q
		  CROSS JOIN LATERAL (SELECT i FROM items ORDER BY items.e <-> q.e LIMIT 10) x;
		SET enable_indexscan = on; SET enable_seqscan = off; SET enable_sort = off;
		CREATE TEMP TABLE approx AS SELECT q.q, x.i FROM ($queries) q
		  CROSS JOIN LATERAL (SELECT i FROM items ORDER BY items.e <-> q.e LIMIT 10) x;
		SELECT round(count(*)::numeric / (SELECT count(*) FROM exact), 3) FROM approx JOIN exact USING (q, i);
	});
}

# The rows of table items that one unbounded index scan returns: all of them
# when every element is reachable.
sub items_reachable
{
	my ($node) = @_;
	return $node->safe_psql('postgres', q{
		SET search_path = public, siamese;
		SET enable_seqscan = off; SET enable_bitmapscan = off;
		SET siamese.hnsw.max_scan_tuples = 10000000;
		SELECT count(*) FROM (SELECT i FROM items ORDER BY e <-> (SELECT e FROM items ORDER BY i LIMIT 1)
			LIMIT 10000000) s;
	});
}

sub new_node
{
	my ($name, %opts) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(%{ $opts{init} // {} });
	$node->append_conf('postgresql.conf', $opts{conf}) if $opts{conf};
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION siamese_pg');
	return $node;
}

# The Fashion-MNIST exporter (tools/bin/fmnist_export): its path, or the
# whole test file is skipped when it is not built or the data set is missing.
sub fashion_exporter_or_skip
{
	my $srcdir = $ENV{SIAMESE_SRCDIR} // '.';
	my $exporter = "$srcdir/tools/bin/fmnist_export";
	plan skip_all => "$exporter not built (make tools)" unless -x $exporter;
	my ($out, $err) = ('', '');
	my $ok = IPC::Run::run([ $exporter, '--split', 't10k', '--limit', '1' ], '>', \$out, '2>', \$err);
	chomp $err;
	plan skip_all => "Fashion-MNIST data set not available: $err" unless $ok && $out ne '';
	return $exporter;
}

# COPY exporter output (columns id, label, class, png) into $table of
# database postgres; @args are exporter options (--split, --limit ...).
# Returns true on success, diagnostics on failure.
sub load_fashion
{
	my ($node, $exporter, $table, @args) = @_;
	my ($out, $err) = ('', '');
	my $ok = IPC::Run::run(
		[ $exporter, @args ], '|',
		[ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres'),
		  '-c', "COPY $table FROM STDIN" ],
		'>', \$out, '2>', \$err);
	diag($err) unless $ok && $err eq '';
	return $ok && $err eq '';
}

# 1-NN accuracy (3 decimals) of the rows of table `items` (id, class, png)
# with id >= $split as queries against those below it, embedded by $model
# and compared by the SQL function $distance (default cosine_distance).
sub knn1_accuracy
{
	my ($node, $model, $split, $distance) = @_;
	$distance //= 'cosine_distance';
	return $node->safe_psql('postgres', qq{
		WITH e AS (SELECT id, class, siamese.embed(png, '$model') AS v FROM items)
		SELECT round(avg((q.class = (SELECT g.class FROM e g WHERE g.id < $split
		                               ORDER BY siamese.$distance(g.v, q.v), g.id LIMIT 1))::int), 3)
		FROM e q WHERE q.id >= $split});
}

1;
