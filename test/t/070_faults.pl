# 070_faults.pl: faults injected into a running server.  In every case: no
# crash beyond the one injected, no damage, a clean error, and the next query
# works.
#
#  * kill -9 of the backend in the middle of an index build, a bulk insert
#    into an indexed table, a VACUUM of it, a robustness report and a
#    training run.  After crash recovery: the index checks clean and finds
#    every row, recall holds, the report shows as abandoned, no model is
#    registered, and a fingerprint of every other row is unchanged.
#  * statement_timeout at points spread over embed_batch, an index build, a
#    report and a training run (a tenth to nine tenths of the uncancelled
#    time): each ends either done or with 57014 and nothing half-made.
#  * disk full: a tablespace on a small filesystem (SIAMESE_SMALL_FS, which
#    scripts/test mounts as root) fills during an index build and during an
#    insert into an indexed table.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes ();
use lib 'test/perl';
use SiameseTest qw(new_node fashion_exporter_or_skip load_fashion items_recall10 items_reachable);

my $exporter = fashion_exporter_or_skip();
my $dims = 32;
# PostgreSQL::Test::Cluster turns restart_after_crash off; these kills need it
my $node = new_node('faults', conf => "restart_after_crash = on\n");

$node->safe_psql('postgres', qq{
	SET search_path = public, siamese;
	SELECT setseed(0.25);
	CREATE TABLE items (i bigint PRIMARY KEY, e embedding($dims));
	INSERT INTO items SELECT g, array_to_embedding(ARRAY(SELECT random()::real FROM generate_series(1, $dims) d WHERE g > 0), $dims, true)
	  FROM generate_series(1, 20000) g;
	CREATE INDEX items_idx ON items USING siamese_hnsw (e);
	CREATE TABLE photos (id int, label int, class text, png bytea);
});
ok(load_fashion($node, $exporter, 'photos', '--split', 't10k', '--limit', '300'), 'loaded 300 Fashion-MNIST images');

# Everything the faults must not touch.
my $fingerprint = q{SELECT (SELECT md5(string_agg(i || ':' || e::text, ',' ORDER BY i)) FROM items) || ' ' ||
	(SELECT md5(string_agg(id || ':' || md5(png), ',' ORDER BY id)) FROM photos) || ' ' ||
	(SELECT string_agg(name || ':' || hash, ',' ORDER BY name) FROM siamese.models)};
my $before = $node->safe_psql('postgres', $fingerprint);

sub index_clean
{
	my ($index, $what) = @_;
	is($node->safe_psql('postgres', "SELECT problems, ok FROM siamese.hnsw_check('$index')"),
		'0|t', "$what: $index checks clean");
}

# Run $sql in the background; as soon as a backend matches $where (a
# condition on pg_stat_activity a, polled every 20 ms), kill -9 it and wait
# for the server to come back from crash recovery.  Returns the client's
# stderr.
my $kills = 0;
sub kill9_during
{
	my ($app, $sql, $where) = @_;
	my ($in, $out, $err) = ('', '', '');
	my $h = IPC::Run::start(
		[ 'psql', '-XAtq', '-d', $node->connstr('postgres') . " application_name=$app", '-c', $sql ],
		'<', \$in, '>', \$out, '2>', \$err);
	my $pid = '';
	for (1 .. 3000)
	{
		$pid = $node->safe_psql('postgres', "SELECT a.pid FROM pg_stat_activity a WHERE $where");
		last if $pid ne '';
		Time::HiRes::usleep(20_000);
	}
	die "no backend matched $where: $err" if $pid eq '';
	kill 'KILL', $pid;
	$kills++;
	eval { $h->finish; };
	$node->poll_query_until('postgres', 'SELECT true') or die 'the server did not recover';
	like(slurp_file($node->logfile), qr/\(PID $pid\) was terminated by signal 9/,
		"$app: the backend was killed and the server recovered");
	return $err;
}

# --- kill -9 --------------------------------------------------------------------
# an index build, once it has run for half a second
kill9_during('f_build', "CREATE INDEX items_idx2 ON items USING siamese_hnsw (e) WITH (ef_construction = 128)",
	q{a.application_name = 'f_build' AND now() - a.query_start > interval '0.5 s'});
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_class WHERE relname = 'items_idx2'"), '0',
	'the killed build left no index');
index_clean('items_idx', 'after the killed build');
$node->safe_psql('postgres', 'CREATE INDEX items_idx2 ON items USING siamese_hnsw (e)');
index_clean('items_idx2', 'the build run again');
$node->safe_psql('postgres', 'DROP INDEX items_idx2');

# a bulk insert into the indexed table, killed three times at different
# moments: a kill between writing an element and linking it in (CI's runner
# hit that window) leaves an element no search reaches, of a row that never
# committed; the checker must not count it
for my $after ('0.6 s', '1 s', '1.4 s')
{
	kill9_during('f_insert', qq{INSERT INTO items SELECT g, siamese.array_to_embedding(ARRAY(SELECT random()::real
			FROM generate_series(1, $dims) d WHERE g > 0), $dims, true) FROM generate_series(100001, 140000) g},
		qq{a.application_name = 'f_insert' AND now() - a.query_start > interval '$after'});
	is($node->safe_psql('postgres', 'SELECT count(*) FROM items'), '20000', "the insert killed after $after added no row");
	index_clean('items_idx', "after the insert killed after $after");
}
is(items_reachable($node), '20000', 'every row is reachable through the index');
$node->safe_psql('postgres', 'VACUUM (INDEX_CLEANUP ON) items');
is($node->safe_psql('postgres', "SELECT live, unreachable, ok FROM siamese.hnsw_check('items_idx')"),
	'20000|0|t', 'VACUUM removes the killed insert\'s elements: live elements = rows');

# a VACUUM, while it works on the index
$node->safe_psql('postgres', 'DELETE FROM items WHERE i % 3 = 0');
my $after_delete = $node->safe_psql('postgres', $fingerprint);
kill9_during('f_vacuum', 'VACUUM (INDEX_CLEANUP ON) items',
	q{a.application_name = 'f_vacuum' AND a.pid IN (SELECT pid FROM pg_stat_progress_vacuum WHERE phase = 'vacuuming indexes')});
is($node->safe_psql('postgres', $fingerprint), $after_delete, 'the killed VACUUM changed no row');
index_clean('items_idx', 'after the killed VACUUM');
$node->safe_psql('postgres', 'VACUUM (INDEX_CLEANUP ON) items');
my $rows = $node->safe_psql('postgres', 'SELECT count(*) FROM items');
is($node->safe_psql('postgres', "SELECT live, unreachable, ok FROM siamese.hnsw_check('items_idx')"),
	"$rows|0|t", 'VACUUM run again completes: live elements = rows, all reachable');
is(items_reachable($node), $rows, 'every row is reachable through the index');
my $r = items_recall10($node, 'SELECT i AS q, e FROM items ORDER BY i LIMIT 30');
cmp_ok($r, '>=', 0.95, "recall\@10 after the kills: $r");

# a robustness report, while it corrupts images
kill9_during('f_report', q{CALL siamese.robustness_report('photos', 'png', 'label',
		corruptions => '{fog,contrast,gaussian_noise,jpeg_compression}', sample_size => 300)},
	q{a.application_name LIKE 'siamese report % corrupted images %'});
is($node->safe_psql('postgres', q{SELECT s.state || ' ' || (SELECT count(*) FROM siamese.robustness_results x
		WHERE x.run_id = s.run_id) FROM siamese.robustness_summary s ORDER BY run_id DESC LIMIT 1}),
	'abandoned 0', 'the killed report shows as abandoned, with no results');
$node->safe_psql('postgres', q{SET client_min_messages = warning;
	CALL siamese.robustness_report('photos', 'png', 'label', corruptions => '{fog}', severities => '{1}', sample_size => 50)});
is($node->safe_psql('postgres', 'SELECT state FROM siamese.robustness_summary ORDER BY run_id DESC LIMIT 1'),
	'succeeded', 'the next report succeeds');

# a training run, in its first epochs
kill9_during('f_train', q{CALL siamese.train_model('killed', 'photos', 'png', 'class', architecture => 'cnn', epochs => 50)},
	q{a.application_name LIKE 'siamese train % killed'});
is($node->safe_psql('postgres', q{SELECT (SELECT count(*) FROM siamese.models WHERE name = 'killed') || ' ' ||
		(SELECT count(*) FROM pg_proc WHERE proname = 'killed') || ' ' || (SELECT count(*) FROM siamese.training_progress)}),
	'0 0 0', 'the killed training registered nothing and shows no progress');
$node->safe_psql('postgres', q{SET client_min_messages = warning;
	CALL siamese.train_model('after-kill', 'photos', 'png', 'class', architecture => 'mlp', epochs => 1)});
is($node->safe_psql('postgres', q{SELECT count(*) FROM siamese.models WHERE name = 'after-kill'}), '1',
	'the next training registers its model');
$node->safe_psql('postgres', q{DELETE FROM siamese.models WHERE name = 'after-kill'});
is($node->safe_psql('postgres', $fingerprint), $after_delete, 'after all the kills, every other row is unchanged');

# --- statement_timeout at points spread over each operation ----------------------
# The uncancelled time T first, then timeouts of 0.1 T .. 0.9 T: each run
# ends done or cancelled (57014), never with another error, and $check holds
# after it ($check gets the run's label and whether it finished: a run near
# T can beat its timeout).  At least the shortest must cancel.
sub timeout_sweep
{
	my ($what, $sql, $check, $undo) = @_;
	my $t0 = Time::HiRes::time();
	$node->safe_psql('postgres', "SET client_min_messages = warning; $sql");
	my $full = Time::HiRes::time() - $t0;
	$node->safe_psql('postgres', $undo) if $undo;
	my ($cancelled, $done, $other) = (0, 0, '');
	for my $f (0.1, 0.3, 0.5, 0.7, 0.9)
	{
		my $ms = int($full * 1000 * $f) || 1;
		my ($ret, $out, $err) = $node->psql('postgres',
			"SET client_min_messages = warning; SET statement_timeout = '${ms}ms'; $sql");
		if ($ret == 0) { $done++; }
		elsif ($err =~ /canceling statement due to statement timeout/) { $cancelled++; }
		else { $other .= "at ${ms} ms: $err"; }
		$check->("$what, timeout at $f T", $ret == 0);
		$node->safe_psql('postgres', $undo) if $undo && $ret == 0;
	}
	is($other, '', "$what: every timed-out run ended done or cancelled");
	cmp_ok($cancelled, '>=', 1, sprintf('%s: %d of 5 timeouts cancelled it (T = %.2f s)', $what, $cancelled, $full));
}

timeout_sweep('embed_batch',
	q{SELECT count(*) FROM unnest(siamese.embed_batch((SELECT array_agg(p.png) FROM photos p, generate_series(1, 4))))},
	sub { is($node->safe_psql('postgres', 'SELECT count(*) FROM photos'), '300', "$_[0]: the next query works") });
timeout_sweep('index build', 'CREATE INDEX items_idx3 ON items USING siamese_hnsw (e)',
	sub {
		my ($label, $finished) = @_;
		is($node->safe_psql('postgres', "SELECT count(*) FROM pg_class WHERE relname = 'items_idx3'"),
			$finished ? '1' : '0', $finished ? "$label: finished, one index" : "$label: no index left");
	},
	'DROP INDEX IF EXISTS items_idx3');
timeout_sweep('robustness_report',
	q{CALL siamese.robustness_report('photos', 'png', 'label', corruptions => '{fog,contrast}', sample_size => 200)},
	sub {
		like($node->safe_psql('postgres', q{SELECT state || ' ' || coalesce(error_sqlstate, '-') FROM siamese.robustness_summary
				JOIN siamese.robustness_runs USING (run_id) ORDER BY run_id DESC LIMIT 1}),
			qr/^(succeeded -|failed 57014)$/, "$_[0]: the run is succeeded, or failed with 57014");
	});
timeout_sweep('train_model',
	q{CALL siamese.train_model('timed', 'photos', 'png', 'class', architecture => 'cnn', epochs => 3)},
	sub {
		like($node->safe_psql('postgres', q{SELECT count(*) FROM siamese.models WHERE name = 'timed'}),
			qr/^[01]$/, "$_[0]: at most the finished model is registered");
	},
	q{DELETE FROM siamese.models WHERE name = 'timed'});
is($node->safe_psql('postgres', $fingerprint), $after_delete, 'after the timeouts, every other row is unchanged');

# --- disk full ----------------------------------------------------------------------
SKIP:
{
	my $fs = $ENV{SIAMESE_SMALL_FS} // '';
	skip 'no small filesystem: scripts/test run as root mounts one (SIAMESE_SMALL_FS)', 8
	  unless $fs ne '' && -d $fs && -w $fs;
	mkdir "$fs/ts";
	$node->safe_psql('postgres', qq{CREATE TABLESPACE small LOCATION '$fs/ts'});
	$node->safe_psql('postgres', qq{
		SET search_path = public, siamese;
		CREATE TABLE near (i int PRIMARY KEY, e embedding($dims)) TABLESPACE small;
		INSERT INTO near SELECT i, e FROM items ORDER BY i LIMIT 2000;
		CREATE INDEX near_idx ON near USING siamese_hnsw (e) TABLESPACE small;
		-- incompressible, in line: every row takes its bytes on the filesystem
		CREATE TABLE filler (b bytea) TABLESPACE small;
		ALTER TABLE filler ALTER COLUMN b SET STORAGE PLAIN;
		-- about 1 MB, dropped once the rest is full
		CREATE TABLE reserve (b bytea) TABLESPACE small;
		ALTER TABLE reserve ALTER COLUMN b SET STORAGE PLAIN;
		INSERT INTO reserve SELECT decode(repeat('ab', 4000), 'hex') FROM generate_series(1, 250);
	});
	my $near = $node->safe_psql('postgres', q{SELECT md5(string_agg(i || ':' || e::text, ',' ORDER BY i)) FROM near});
	# fill the filesystem, a statement at a time, then free the reserve
	my ($ret, $out, $err);
	for (1 .. 1000)
	{
		($ret, $out, $err) = $node->psql('postgres',
			q{INSERT INTO filler SELECT decode(repeat('ab', 4000), 'hex') FROM generate_series(1, 100)});
		last if $ret != 0;
	}
	like($err, qr/No space left on device/, 'the small filesystem fills up');
	$node->safe_psql('postgres', q{DROP TABLE reserve});

	($ret, $out, $err) = $node->psql('postgres', 'CREATE INDEX items_small ON items USING siamese_hnsw (e) TABLESPACE small');
	like($err, qr/could not extend file.*No space left on device/s, 'an index build into the full tablespace fails cleanly');
	is($node->safe_psql('postgres', "SELECT count(*) FROM pg_class WHERE relname = 'items_small'"), '0', 'and leaves no index');

	($ret, $out, $err) = $node->psql('postgres', qq{INSERT INTO near SELECT i + 1000000, e FROM items});
	like($err, qr/could not extend file.*No space left on device/s, 'an insert into an indexed table on it fails cleanly');
	is($node->safe_psql('postgres', q{SELECT md5(string_agg(i || ':' || e::text, ',' ORDER BY i)) FROM near}), $near,
		'and the table is unchanged');
	index_clean('near_idx', 'after the failed insert');

	$node->safe_psql('postgres', 'DROP TABLE filler');
	$node->safe_psql('postgres', 'INSERT INTO near SELECT i + 2000000, e FROM items ORDER BY i LIMIT 500');
	$node->safe_psql('postgres', 'VACUUM (INDEX_CLEANUP ON) near');
	is($node->safe_psql('postgres', "SELECT live, problems, ok FROM siamese.hnsw_check('near_idx')"),
		$node->safe_psql('postgres', 'SELECT count(*) FROM near') . '|0|t',
		'with space again, inserts work and VACUUM leaves live elements = rows');
	is($node->safe_psql('postgres', $fingerprint), $after_delete, 'no other row changed');
	$node->safe_psql('postgres', 'DROP TABLE near; DROP TABLESPACE small');
}

note("$kills backends killed with SIGKILL");
$node->stop;
done_testing();
