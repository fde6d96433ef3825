#!/usr/bin/python3
"""The maildrop lock across two pop3d replicas (tests/docker/run.sh): a
session on replica 1 sees the expected mail, replica 2 answers [IN-USE]
meanwhile, and lets the user in once replica 1's session has quit.

Usage: pop3_replicas.py HOST:PORT1 HOST:PORT2 (--count N | --subjects S...)
Over STLS, as alice@example.test with the password `secret`."""
import argparse
import poplib
import ssl

CTX = ssl.create_default_context()
CTX.check_hostname = False
CTX.verify_mode = ssl.CERT_NONE


def login(hostport):
    host, port = hostport.rsplit(":", 1)
    pop = poplib.POP3(host, int(port), timeout=20)
    pop.stls(CTX)
    pop.user("alice@example.test")
    pop.pass_("secret")
    return pop


def subjects(pop):
    return sorted(line[9:].decode() for n in range(1, pop.stat()[0] + 1)
                  for line in pop.retr(n)[1] if line.startswith(b"Subject: "))


def check(pop, args, which):
    if args.count is not None:
        count = pop.stat()[0]
        assert count == args.count, f"{which} sees {count} messages, expected {args.count}"
    else:
        got = subjects(pop)
        assert got == sorted(args.subjects), f"{which} sees {got}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("first")
    ap.add_argument("second")
    ap.add_argument("--count", type=int)
    ap.add_argument("--subjects", nargs="+")
    args = ap.parse_args()
    first = login(args.first)
    check(first, args, "replica 1")
    try:
        login(args.second)
    except poplib.error_proto as e:
        assert b"[IN-USE]" in e.args[0], e
        print("replica 2 refused:", e.args[0].decode())
    else:
        raise SystemExit("replica 2 let a second session into a maildrop open on replica 1")
    first.quit()
    # Released at QUIT: the other replica now gets in.
    second = login(args.second)
    check(second, args, "replica 2")
    second.quit()


if __name__ == "__main__":
    main()
