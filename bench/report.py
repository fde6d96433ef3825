#!/usr/bin/python3
"""Turns the JSON lines bench/run.sh collected into Markdown tables.

Usage: bench/report.py RESULTS.jsonl

Every line has a "tool" (mailbench, smtp-source, run.sh) and a "label"
"TARGET/SCENARIO", TARGET being ours, sink (Postfix's smtp-sink), postfix or
dovecot. Repetitions share a label; the tables show their medians. The last
section checks the targets of issue 5.
"""
import json
import statistics
import sys
from collections import defaultdict

SMTP_SCENARIOS = [f"smtp-c{c}-{s}-{t}" for t in ("none", "starttls")
                  for s in ("4k", "1m") for c in (1, 20)]
POP3_SCENARIOS = [f"pop3-{s}-{t}" for t in ("none", "stls")
                  for s in ("1x5k", "20x", "big")]


def load(path):
    runs = defaultdict(list)
    machine = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            rec = json.loads(line)
            if rec.get("proto") == "machine":
                machine.update(rec)
                continue
            if rec.get("proto") == "loadavg_end":
                machine["loadavg_end"] = rec.get("loadavg")
                continue
            runs[(rec.get("tool"), rec.get("label", ""))].append(rec)
    return runs, machine


def med(runs, tool, label, key):
    vals = [r[key] for r in runs.get((tool, label), []) if key in r]
    return statistics.median(vals) if vals else None


def errs(runs, tool, label):
    return sum(r.get("errors", 0) for r in runs.get((tool, label), []))


def fmt(v, digits=1):
    if v is None:
        return "–"
    return f"{v:,.{digits}f}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def smtp_table(runs, out):
    out.append("### SMTP (mailbench; medians; msg/s, latency per transaction MAIL..250)\n")
    out.append("| scenario | ours msg/s | ours MB/s | p50 ms | p99 ms | err | smtp-sink msg/s "
               "| ours/sink | Postfix msg/s | ours/Postfix |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for sc in SMTP_SCENARIOS:
        o = med(runs, "mailbench", f"ours/{sc}", "msgs_per_s")
        if o is None:
            continue
        s = med(runs, "mailbench", f"sink/{sc}", "msgs_per_s")
        p = med(runs, "mailbench", f"postfix/{sc}", "msgs_per_s")
        out.append(f"| {sc} | {fmt(o)} | {fmt(med(runs, 'mailbench', f'ours/{sc}', 'mb_per_s'), 2)} "
                   f"| {fmt(med(runs, 'mailbench', f'ours/{sc}', 'p50_ms'), 2)} "
                   f"| {fmt(med(runs, 'mailbench', f'ours/{sc}', 'p99_ms'), 2)} "
                   f"| {errs(runs, 'mailbench', f'ours/{sc}')} | {fmt(s)} | {fmt(ratio(o, s), 2)} "
                   f"| {fmt(p)} | {fmt(ratio(o, p), 2)} |")
    rows = [sc for sc in SMTP_SCENARIOS if med(runs, "smtp-source", f"ours/{sc}", "msgs_per_s")]
    if rows:
        out.append("\n### SMTP with Postfix's smtp-source as the client (medians, msg/s)\n")
        out.append("| scenario | ours | smtp-sink | ours/sink | Postfix | ours/Postfix |")
        out.append("|---|---:|---:|---:|---:|---:|")
        for sc in rows:
            o = med(runs, "smtp-source", f"ours/{sc}", "msgs_per_s")
            s = med(runs, "smtp-source", f"sink/{sc}", "msgs_per_s")
            p = med(runs, "smtp-source", f"postfix/{sc}", "msgs_per_s")
            out.append(f"| {sc} | {fmt(o)} | {fmt(s)} | {fmt(ratio(o, s), 2)} | {fmt(p)} "
                       f"| {fmt(ratio(o, p), 2)} |")


def pop3_table(runs, out):
    out.append("\n### POP3 (mailbench; medians; latency per RETR)\n")
    out.append("MB/s counts the whole run, logins included; xfer MB/s only the time from the "
               "first RETR to the last one's end.\n")
    out.append("| scenario | ours msg/s | ours MB/s | ours xfer MB/s | p50 ms | p99 ms | err "
               "| Dovecot msg/s | Dovecot MB/s | Dovecot xfer MB/s | ours/Dovecot msg/s "
               "| ours/Dovecot xfer MB/s |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for sc in POP3_SCENARIOS:
        lab = f"ours/{sc}"
        o = med(runs, "mailbench", lab, "msgs_per_s")
        if o is None:
            continue
        ox = med(runs, "mailbench", lab, "xfer_mb_per_s")
        d = med(runs, "mailbench", f"dovecot/{sc}", "msgs_per_s")
        dx = med(runs, "mailbench", f"dovecot/{sc}", "xfer_mb_per_s")
        out.append(f"| {sc} | {fmt(o)} | {fmt(med(runs, 'mailbench', lab, 'mb_per_s'), 2)} | {fmt(ox, 2)} "
                   f"| {fmt(med(runs, 'mailbench', lab, 'p50_ms'), 2)} "
                   f"| {fmt(med(runs, 'mailbench', lab, 'p99_ms'), 2)} | {errs(runs, 'mailbench', lab)} "
                   f"| {fmt(d)} | {fmt(med(runs, 'mailbench', f'dovecot/{sc}', 'mb_per_s'), 2)} "
                   f"| {fmt(dx, 2)} | {fmt(ratio(o, d), 2)} | {fmt(ratio(ox, dx), 2)} |")


def list_table(runs, out):
    labels = sorted({lab for (tool, lab) in runs if tool == "mailbench" and "/list-" in lab})
    if not labels:
        return
    out.append("\n### Large mailbox (mailbench pop3 --list-only; medians, ms)\n")
    out.append("| target/scenario | messages | PASS | STAT | LIST | UIDL |")
    out.append("|---|---:|---:|---:|---:|---:|")
    for lab in labels:
        cols = [fmt(med(runs, "mailbench", lab, k), 2) for k in ("pass_ms", "stat_ms", "list_ms", "uidl_ms")]
        out.append(f"| {lab} | {fmt(med(runs, 'mailbench', lab, 'listed'), 0)} | " + " | ".join(cols) + " |")


def fill_table(runs, out):
    labels = sorted({lab for (tool, lab) in runs if tool == "mailbench" and "/fill-" in lab})
    if not labels:
        return
    out.append("\n### Filling the POP3 mailboxes (one run each, mailbench smtp)\n")
    out.append("| target/fill | messages | msg/s | MB/s | seconds |")
    out.append("|---|---:|---:|---:|---:|")
    for lab in labels:
        out.append(f"| {lab} | {fmt(med(runs, 'mailbench', lab, 'messages'), 0)} "
                   f"| {fmt(med(runs, 'mailbench', lab, 'msgs_per_s'))} "
                   f"| {fmt(med(runs, 'mailbench', lab, 'mb_per_s'), 2)} "
                   f"| {fmt(med(runs, 'mailbench', lab, 'seconds'), 2)} |")


def outbound_table(runs, out):
    rows = [("outbound-c20-4k", "submitted by 20 clients, timed until the last one is stored "
             "at the receiver"),
            ("outbound-drain-4k", "a full queue released at once: the sender alone")]
    if med(runs, "run.sh", "ours/outbound-c20-4k", "msgs_per_s") is None:
        return
    out.append("\n### Outbound delivery (4 KiB messages relayed with STARTTLS to our smtpd; "
               "medians, msg/s)\n")
    out.append("| scenario | what | ours msg/s | err | Postfix msg/s | ours/Postfix |")
    out.append("|---|---|---:|---:|---:|---:|")
    for sc, what in rows:
        o = med(runs, "run.sh", f"ours/{sc}", "msgs_per_s")
        if o is None:
            continue
        p = med(runs, "run.sh", f"postfix/{sc}", "msgs_per_s")
        out.append(f"| {sc} | {what} | {fmt(o)} | {errs(runs, 'run.sh', f'ours/{sc}')} "
                   f"| {fmt(p)} | {fmt(ratio(o, p), 2)} |")


def idle_table(runs, out):
    labels = sorted({lab for (tool, lab) in runs if tool == "run.sh" and "/idle-" in lab},
                    key=lambda s: (s.split("/")[0], int(s.split("-")[1]), s))
    if not labels:
        return
    out.append("\n### Idle connections (PSS of the daemon, medians)\n")
    out.append("| target/scenario | connections | greeted | PSS before KiB | PSS after KiB | bytes per connection |")
    out.append("|---|---:|---:|---:|---:|---:|")
    for lab in labels:
        out.append(f"| {lab} | {fmt(med(runs, 'run.sh', lab, 'connections'), 0)} "
                   f"| {fmt(med(runs, 'run.sh', lab, 'greeted'), 0)} "
                   f"| {fmt(med(runs, 'run.sh', lab, 'pss_before_kb'), 0)} "
                   f"| {fmt(med(runs, 'run.sh', lab, 'pss_after_kb'), 0)} "
                   f"| {fmt(med(runs, 'run.sh', lab, 'bytes_per_conn'), 0)} |")


def verdict(ok):
    if ok is None:
        return "not measured"
    return "met" if ok else "**missed**"


def targets(runs, out):
    out.append("\n### Targets (issue 5)\n")
    out.append("| target | measured | verdict |")
    out.append("|---|---|---|")
    for c, want in ((20, 0.9), (1, 0.6)):
        sc = f"smtp-c{c}-4k-none"
        r = ratio(med(runs, "mailbench", f"ours/{sc}", "msgs_per_s"),
                  med(runs, "mailbench", f"sink/{sc}", "msgs_per_s"))
        out.append(f"| smtpd ≥ {want:.0%} of smtp-sink, {c} sender(s), 4 KiB | {fmt(r, 3)} "
                   f"| {verdict(None if r is None else r >= want)} |")
    r = ratio(med(runs, "mailbench", "ours/pop3-20x-none", "msgs_per_s"),
              med(runs, "mailbench", "dovecot/pop3-20x-none", "msgs_per_s"))
    out.append(f"| pop3d ≥ 1.5× Dovecot, 20 mailboxes in parallel | {fmt(r, 3)}× "
               f"| {verdict(None if r is None else r >= 1.5)} |")
    r = ratio(med(runs, "mailbench", "ours/pop3-big-none", "xfer_mb_per_s"),
              med(runs, "mailbench", "dovecot/pop3-big-none", "xfer_mb_per_s"))
    out.append(f"| pop3d ≥ 2× Dovecot's MB/s (RETR transfer), one large message | {fmt(r, 3)}× "
               f"| {verdict(None if r is None else r >= 2)} |")
    for daemon in ("smtpd", "pop3d"):
        lab = f"ours/idle-10000-{daemon}-none"
        per = med(runs, "run.sh", lab, "bytes_per_conn")
        greeted = med(runs, "run.sh", lab, "greeted")
        ok = None if per is None else (per <= 16384 and greeted == 10000)
        out.append(f"| {daemon}: ≤ 16 KiB per idle connection, 10,000 in one process "
                   f"| {fmt(per, 0)} B, {fmt(greeted, 0)} greeted | {verdict(ok)} |")
        tls = med(runs, "run.sh", f"ours/idle-1000-{daemon}-tls", "bytes_per_conn")
        out.append(f"| {daemon}: ≤ 16 KiB per idle TLS connection (1,000) | {fmt(tls, 0)} B "
                   f"| {verdict(None if tls is None else tls <= 16384)} |")
    labs = [lab for (tool, lab) in runs
            if tool == "mailbench" and lab.startswith("ours/list-") and not lab.endswith("-first")]
    for lab in sorted(labs):
        st = med(runs, "mailbench", lab, "stat_ms")
        li = med(runs, "mailbench", lab, "list_ms")
        n = med(runs, "mailbench", lab, "listed")
        ok = None if st is None or li is None else (st < 50 and li < 50)
        out.append(f"| STAT and LIST < 50 ms ({fmt(n, 0)} messages) | STAT {fmt(st, 2)} ms, "
                   f"LIST {fmt(li, 2)} ms | {verdict(ok)} |")


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    runs, machine = load(sys.argv[1])
    out = []
    if machine:
        out.append(f"Machine: {machine.get('cpus')} CPUs ({machine.get('cpu_model')}), "
                   f"{machine.get('fdatasync_per_s')} fdatasync/s in {machine.get('dir')}; "
                   f"{machine.get('reps')} repetition(s) per figure; load average "
                   f"{machine.get('loadavg_start', '?')} at the start, {machine.get('loadavg_end', '?')} "
                   f"at the end.\n")
    smtp_table(runs, out)
    pop3_table(runs, out)
    list_table(runs, out)
    fill_table(runs, out)
    outbound_table(runs, out)
    idle_table(runs, out)
    targets(runs, out)
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
