# 021_blas_advice.pl: the OpenBLAS kernel advice goes to the server log (LOG),
# never to clients.  The server runs with OPENBLAS_CORETYPE=Prescott, the SSE3
# kernels OpenBLAS picks by mistake on some CPUs, so on any AVX2 or AVX-512
# machine the advice is due: a new backend that embeds gets no WARNING (it got
# one per backend before), the server log has the LOG line with its hint, and
# blas_info() still tells users.
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

my $log_start = -s $node->logfile;
for my $i (1 .. 3)
{
	# a new backend each time
	my ($ret, $out, $err) = $node->psql('postgres',
		"SELECT siamese.dims(siamese.embed(decode('$png', 'hex'), 'fashion'))");
	is($ret, 0, "embed in backend $i");
	is($out, '128', "embedding of backend $i");
	unlike($err, qr/WARNING|OpenBLAS/, "no BLAS advice reaches client $i");
}
my $log = slurp_file($node->logfile, $log_start);
like($log, qr/LOG:  OpenBLAS is running its "Prescott" kernels although this CPU supports avx/,
	'the advice is in the server log');
like($log, qr/HINT:  Set OPENBLAS_CORETYPE=\Q$suggest\E/, 'with the core type to set');
unlike($log, qr/WARNING:  OpenBLAS/, 'not as a WARNING');
is($node->safe_psql('postgres', 'SELECT core FROM siamese.blas_info()'), 'Prescott',
	'blas_info shows the kernel in use');

$node->stop;
done_testing();
