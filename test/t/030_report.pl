# 030_report.pl: robustness reports in a live cluster, on real Fashion-MNIST
# images: progress visible in pg_stat_activity, cancellation from another
# session stops a run promptly and leaves it marked failed, a terminated
# backend's run shows as abandoned, and a report (then a training) scheduled with pg_cron
# (background-worker mode) runs, lands in the runs table and in
# cron.job_run_details.
#
# Skips when the fashion models, the exporter (make tools) or the data set
# are missing; the pg_cron part skips when pg_cron is not installed.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(time);
use lib 'test/perl';
use SiameseTest qw(new_node fashion_exporter_or_skip load_fashion wait_for_appname);

my $exporter = fashion_exporter_or_skip();
my $have_cron = -f (`pg_config --pkglibdir` =~ s/\s+$//r) . '/pg_cron.so';

my $conf = "max_worker_processes = 16\n";
$conf .= "shared_preload_libraries = 'pg_cron'\ncron.database_name = 'postgres'\n"
  . "cron.use_background_workers = on\n"
  if $have_cron;
my $node = new_node('report', conf => $conf);

plan skip_all => 'the fashion models are not installed'
  unless $node->safe_psql('postgres',
	"SELECT count(*) FROM siamese.models() WHERE name IN ('fashion', 'fashion-pixels')") eq '2';

# 400 labelled test images as PNG bytea
$node->safe_psql('postgres', 'CREATE TABLE items (id int, label int, class text, png bytea)');
ok(load_fashion($node, $exporter, 'items', '--split', 't10k', '--limit', '400'), 'images loaded');

# Start a long report in its own session; return the harness.
sub start_report
{
	my ($appname) = @_;
	my ($in, $out, $err) = ('', '', '');
	my $h = IPC::Run::start(
		[ 'psql', '-XAtq', '-d', $node->connstr('postgres') . " application_name=$appname",
		  '-c', "CALL siamese.robustness_report('items', 'png', 'label', sample_size => 400)" ],
		'<', \$in, '>', \$out, '2>', \$err);
	return ($h, \$out, \$err);
}

# --- progress in pg_stat_activity, then cancellation -------------------------
my ($h, $out, $err) = start_report('report_cancel');
my $pid = wait_for_appname($node, 'siamese report % corrupted images %');
isnt($pid, '', 'the running stage is visible in pg_stat_activity.application_name');
my $t0 = time;
$node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
$h->finish;
my $stop_latency = time - $t0;
like($$err, qr/canceling statement due to user request/, 'the report is cancelled');
like($$err, qr/Report \d+ is marked failed/, 'the error says the run is marked failed');
# a figure, not a pass/fail test (timings belong in benchmarks): the error
# above already shows the cancel interrupted the report mid-run
diag(sprintf('report stopped %.3f s after pg_cancel_backend', $stop_latency));
is($node->safe_psql('postgres', q{
	SELECT r.status || ',' || r.error_sqlstate || ',' ||
		   (SELECT count(*) FROM siamese.robustness_results x WHERE x.run_id = r.run_id)
	FROM siamese.robustness_runs r ORDER BY run_id DESC LIMIT 1}),
	'failed,57014,0', 'the cancelled run is committed as failed with no results');

# --- a terminated backend leaves an abandoned run ------------------------------
($h, $out, $err) = start_report('report_kill');
$pid = wait_for_appname($node, 'siamese report % corrupted images %');
isnt($pid, '', 'second report running');
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
$h->finish;
# the backend is gone once it no longer shows in pg_stat_activity
$node->poll_query_until('postgres', "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $pid")
  or die 'terminated backend still listed';
is($node->safe_psql('postgres', q{
	SELECT status || ',' || state FROM siamese.robustness_summary ORDER BY run_id DESC LIMIT 1}),
	'running,abandoned', 'a run whose backend died shows as abandoned');

# --- the whole report, timed ------------------------------------------------
$t0 = time;
my $id = $node->safe_psql('postgres', q{
	SET siamese.report.progress = off;
	CALL siamese.robustness_report('items', 'png', 'label', sample_size => 400)});
my $elapsed = time - $t0;
diag(sprintf('robustness_report, 400 images x 15 corruptions x 5 severities: %.1f s', $elapsed));
is($node->safe_psql('postgres', "SELECT status || ',' || images FROM siamese.robustness_runs WHERE run_id = $id"),
	'succeeded,400', 'a full report succeeds');
is($node->safe_psql('postgres', "SELECT count(*) FROM siamese.robustness_results WHERE run_id = $id"),
	'76', 'clean row + 15 x 5 cells');
is($node->safe_psql('postgres', qq{
	SELECT mce > 0 AND mce < 2 AND clean_error < 0.5 AND baseline_clean_error < 0.5
	FROM siamese.robustness_runs WHERE run_id = $id}),
	't', 'mCE and clean errors are plausible');
my $png_size = $node->safe_psql('postgres', qq{
	SELECT width || 'x' || height FROM siamese.image_info(siamese.report_chart($id))});
like($png_size, qr/^\d+x\d+$/, "report_chart decodes ($png_size)");

# --- pg_cron ----------------------------------------------------------------
SKIP:
{
	skip 'pg_cron is not installed', 6 unless $have_cron;
	$node->safe_psql('postgres', 'CREATE EXTENSION pg_cron');
	my $before = $node->safe_psql('postgres', 'SELECT count(*) FROM siamese.robustness_runs');
	my $job = $node->safe_psql('postgres', q{
		SELECT cron.schedule('siamese-robustness', '* * * * *',
			$$CALL siamese.robustness_report('public.items', 'png', 'label',
				corruptions => '{fog,contrast}', severities => '{1,3,5}', sample_size => 100, seed => 42)$$)});
	ok($job > 0, 'report scheduled');
	# pg_cron 1.4 runs at most once a minute: wait for the next minute and the run
	my $done = $node->poll_query_until('postgres', qq{
		SELECT count(*) > 0 FROM cron.job_run_details
		WHERE jobid = $job AND status IN ('succeeded', 'failed')}, 't');
	ok($done, 'pg_cron ran the job');
	is($node->safe_psql('postgres', qq{
		SELECT status || ',' || coalesce(return_message, '') FROM cron.job_run_details
		WHERE jobid = $job ORDER BY runid LIMIT 1}),
		'succeeded,CALL', 'cron.job_run_details records success');
	is($node->safe_psql('postgres', qq{
		SELECT status || ',' || images || ',' || cardinality(corruptions) || ',' || seed
		FROM siamese.robustness_runs ORDER BY run_id DESC LIMIT 1}),
		'succeeded,100,2,42', 'the scheduled run is in the runs table');
	$node->safe_psql('postgres', "SELECT cron.unschedule($job)");
	# training on a schedule: a new dated model each run (a name cannot be
	# reused), the procedure's INOUT hash taken into a variable
	my $tjob = $node->safe_psql('postgres', q{
		SELECT cron.schedule('siamese-train', '* * * * *', $$
			DO $do$ DECLARE h text; BEGIN
				CALL siamese.train_model('nightly-' || to_char(now(), 'YYYYMMDD-HH24MI'), 'public.items', 'png', 'class',
					architecture => 'mlp', epochs => 1, images_per_class => 8, model_hash => h);
			END $do$ $$)});
	ok($node->poll_query_until('postgres', qq{
		SELECT count(*) > 0 FROM cron.job_run_details WHERE jobid = $tjob AND status IN ('succeeded', 'failed')}, 't'),
		'pg_cron ran the training job');
	is($node->safe_psql('postgres', qq{
		SELECT r.status || ',' || (SELECT count(*) FROM siamese.models WHERE name LIKE 'nightly-%')
		FROM cron.job_run_details r WHERE jobid = $tjob ORDER BY runid LIMIT 1}),
		'succeeded,1', 'and registered a dated model');
	$node->safe_psql('postgres', "SELECT cron.unschedule($tjob)");
}

$node->stop;
done_testing();
