/*
 * mailbench - load generator for smtpd and pop3d (and, for comparison,
 * Postfix and Dovecot); bench/run.sh drives it, docs/PERFORMANCE.md
 * describes the method. `mailbench --help` lists the modes.
 */
#include <signal.h>

#include "bench.h"

int main(int argc, char **argv)
{
	struct bench_opts o;
	bool help;
	int r;

	/* A server closing on us mid-write must be an error we count, not a signal that kills us. */
	signal(SIGPIPE, SIG_IGN);
	r = bench_opts_parse(argc, argv, &o, &help);
	if (r != 0) {
		bench_opts_free(&o);
		return help ? BENCH_EXIT_OK : r;
	}
	switch (o.mode) {
	case BENCH_MODE_SMTP:
		r = bench_smtp_run(&o);
		break;
	case BENCH_MODE_POP3:
		r = bench_pop3_run(&o);
		break;
	case BENCH_MODE_IDLE:
		r = bench_idle_run(&o);
		break;
	}
	bench_opts_free(&o);
	return r;
}
