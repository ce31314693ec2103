# 021_blas_advice.pl: an OpenBLAS on the wrong kernels does not slow models
# down, and nothing is said to clients.
#
# The server runs with OPENBLAS_CORETYPE=Prescott, the SSE3 kernels Debian's
# OpenBLAS picks by mistake on some AVX-512 CPUs.  With siamese.nn.gemm =
# auto the matrix multiplies then go to BLIS (which detects the CPU itself):
# blas_info() says so, embeds say nothing to the client or the server log,
# and the embeddings equal OpenBLAS's.  Forcing siamese.nn.gemm = openblas
# brings the old advice back, to the server log only (LOG, with the core
# type to set), never as a client WARNING.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib 'test/perl';
use SiameseTest qw(new_node tiny_png_hex);

local $ENV{OPENBLAS_CORETYPE} = 'Prescott';
my $node = new_node('blas_advice');
my $png = tiny_png_hex();

my $suggest = $node->safe_psql('postgres',
	"SELECT coalesce(suggested_coretype, '') FROM siamese.blas_info()");
plan skip_all => 'this CPU has no AVX2: Prescott kernels are the right ones' if $suggest eq '';

is($node->safe_psql('postgres', 'SELECT core FROM siamese.blas_info()'), 'Prescott',
	'blas_info shows the OpenBLAS kernels in use');
like($node->safe_psql('postgres', 'SELECT library FROM siamese.blas_info()'),
	qr/matrix multiplies: BLIS [0-9.]+ \(/, 'auto sends the matrix multiplies to BLIS');
like($node->safe_psql('postgres', "SET siamese.nn.gemm = openblas; SELECT library FROM siamese.blas_info()"),
	qr/matrix multiplies: OpenBLAS Prescott/, 'siamese.nn.gemm = openblas forces OpenBLAS');

my $log_start = -s $node->logfile;
my $embed = "SELECT siamese.embed(decode('$png', 'hex'), 'fashion')::text";
for my $i (1 .. 2)
{
	# a new backend each time
	my ($ret, $out, $err) = $node->psql('postgres', "SELECT siamese.dims(siamese.embed(decode('$png', 'hex'), 'fashion'))");
	is($ret, 0, "embed in backend $i");
	is($out, '128', "embedding of backend $i");
	unlike($err, qr/WARNING|OpenBLAS/, "nothing reaches client $i");
}
unlike(slurp_file($node->logfile, $log_start), qr/OpenBLAS is running/, 'nor the server log, under auto');

# the same embeddings whichever library multiplies
my $a = $node->safe_psql('postgres', "SET siamese.nn.gemm = auto; $embed");
my $o = $node->safe_psql('postgres', "SET siamese.nn.gemm = openblas; $embed");
my $b = $node->safe_psql('postgres', "SET siamese.nn.gemm = blis; $embed");
my $max = 0;
my @a = split /,/, ($a =~ s/[\[\]{}]//gr);
my @o = split /,/, ($o =~ s/[\[\]{}]//gr);
my @b = split /,/, ($b =~ s/[\[\]{}]//gr);
for my $i (0 .. $#a)
{
	$max = abs($a[$i] - $o[$i]) if abs($a[$i] - $o[$i]) > $max;
	$max = abs($b[$i] - $o[$i]) if abs($b[$i] - $o[$i]) > $max;
}
ok(@a == 128 && @o == 128 && @b == 128 && $max < 1e-5,
	sprintf('auto, openblas and blis give the same embedding (largest difference %.2g)', $max));

# forcing the misdetected OpenBLAS brings the advice back, to the log only
$log_start = -s $node->logfile;
my ($ret, $out, $err) = $node->psql('postgres',
	"SET siamese.nn.gemm = openblas; SELECT siamese.dims(siamese.embed(decode('$png', 'hex'), 'fashion'))");
is($out, '128', 'embed with OpenBLAS forced');
unlike($err, qr/WARNING|OpenBLAS/, 'no advice reaches the client');
my $log = slurp_file($node->logfile, $log_start);
like($log, qr/LOG:  OpenBLAS is running its "Prescott" kernels although this CPU supports avx/,
	'the advice is in the server log');
like($log, qr/HINT:  Set siamese.nn.gemm to auto, or OPENBLAS_CORETYPE=\Q$suggest\E/, 'with what to set');
unlike($log, qr/WARNING:  OpenBLAS/, 'not as a WARNING');

$node->stop;
done_testing();
