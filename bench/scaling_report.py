#!/usr/bin/python3
"""Turns the JSON lines of bench/scaling.sh into Markdown tables.

Usage: bench/scaling_report.py RESULTS.jsonl

Labels are BACKEND/SCENARIO; repetitions share a label and the tables show
their medians. A two-process run is two labels, SCENARIO:1 and SCENARIO:2,
measured at once: its throughput is both processes' messages over the longer
of the two times.
"""
import json
import statistics
import sys
from collections import defaultdict


def load(path):
    runs = defaultdict(list)
    machine = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.startswith("{"):
                continue
            rec = json.loads(line)
            if rec.get("proto") == "machine":
                machine.update(rec)
            elif rec.get("proto") == "loadavg_end":
                machine["loadavg_end"] = rec["loadavg"]
            else:
                runs[rec["label"]].append(rec)
    return runs, machine


def rates(runs, label):
    """Messages per second of each repetition, two-process runs combined."""
    if label in runs:
        return [r["msgs_per_s"] for r in runs[label]], [r["p50_ms"] for r in runs[label]]
    one, two = runs.get(label + ":1", []), runs.get(label + ":2", [])
    combined = [(a["messages"] + b["messages"]) / max(a["seconds"], b["seconds"])
                for a, b in zip(one, two)]
    return combined, [max(a["p50_ms"], b["p50_ms"]) for a, b in zip(one, two)]


def median(values):
    return statistics.median(values) if values else None


def fmt(v, digits=1):
    return "–" if v is None else f"{v:,.{digits}f}"


def main(path):
    runs, machine = load(path)
    errors = sum(r.get("errors", 0) for recs in runs.values() for r in recs)
    print(f"Machine: {machine.get('cpus')} CPUs ({machine.get('cpu_model')}); "
          f"medians of {machine.get('reps')} runs; load average "
          f"{machine.get('loadavg_start')} → {machine.get('loadavg_end')}; errors: {errors}\n")
    print("| load | SQLite | PostgreSQL | PostgreSQL / SQLite |")
    print("|---|---:|---:|---:|")
    for scenario, what in (("smtp-c1", "SMTP, 1 sender (msg/s)"),
                           ("smtp-c20", "SMTP, 20 senders (msg/s)"),
                           ("pop3-20x", "POP3, 20 mailboxes (msg/s)")):
        lite = median(rates(runs, "sqlite/" + scenario)[0])
        pg = median(rates(runs, "postgresql/" + scenario)[0])
        ratio = pg / lite if lite and pg else None
        print(f"| {what} | {fmt(lite)} | {fmt(pg)} | {fmt(ratio, 2)}× |")
    print()
    print("| PostgreSQL, SMTP | one smtpd (msg/s) | two smtpd (msg/s) | two / one |")
    print("|---|---:|---:|---:|")
    for c in (20, 40):
        one = median(rates(runs, f"postgresql/smtp-c{c}")[0])
        two = median(rates(runs, f"postgresql/smtp-c{c}-2x")[0])
        ratio = two / one if one and two else None
        print(f"| {c} senders | {fmt(one)} | {fmt(two)} | {fmt(ratio, 2)}× |")
    print()
    print("Median latency from MAIL to the 250 after DATA (ms):", ", ".join(
        f"{label} {fmt(median(rates(runs, label)[1]), 2)}"
        for label in ("sqlite/smtp-c1", "postgresql/smtp-c1", "sqlite/smtp-c20",
                      "postgresql/smtp-c20")))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: bench/scaling_report.py RESULTS.jsonl")
    main(sys.argv[1])
