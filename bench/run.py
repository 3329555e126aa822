"""How close sakspost runs to the limit of this machine: one run, ratios against the floor.

    python bench/run.py [--count N] [--seed S] [--rate R] [--repeat R] [--json]

1. the floor: parse every message with the stdlib parser and insert one row per message into
   SQLite (synchronous=FULL, one transaction per message), in one process (bench/floor.py),
   measured before and after each of 2 and 3: each of them is a ratio of the faster floor
   around it; 2 and 3 are measured in REPEAT rounds, and the median round is shown;
2. `sakspost ingest -q FILE...` over the corpus on a fresh registry: one process, its start-up
   counted in its time;
3. the running daemon end to end: 4 concurrent SMTP clients send the corpus; the clock stops
   when every inbound message is processed (its case registered, its acknowledgement in the
   outbox); DATA→250 latency at full speed, then on a fresh daemon at a steady RATE per second;
   then, on a daemon with a relay, the escalation latency: severity A reports sent among the
   steady RATE, each timed until NHN's forward is accepted by the relay (bench/escalation.py);
4. the daemon's peak resident memory over those runs, and its memory above idle while it
   receives, stores and processes one 25 MB message;
5. the patient-data scan per message on its own (bench/scan.py): the identity-number redaction
   every outbound mail gets, and the whole scan a mail to another organisation gets;
6. one table (or, with --json, one object) with the machine it ran on.

Generated data goes to bench/out/ (ignored by git).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

if __package__ in (None, ""):  # `python bench/run.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "bench"

from . import escalation, floor, load, scan  # noqa: E402
from .mailgen import write_corpus  # noqa: E402
from .peer import ROOT, Daemon, Registry, daemon_env, sakspost_command, write_config  # noqa: E402

OUT = ROOT / "bench" / "out"
MB = 1_000_000
TARGETS = {  # the house issue's targets (26), for a 2-core machine; lowered on purpose from issue 6's
    "e2e_ratio": (">=", 0.4),
    "ingest_ratio": (">=", 0.6),
    "p99_ms_at_50": ("<=", 20.0),
    "peak_rss_mb": ("<=", 150.0),
    "big_message_rss_over_size": ("<", 3.0),
    "escalation_p99_s": ("<=", 1.0),
}


def log(*args) -> None:
    print(*args, file=sys.stderr, flush=True)


def make_corpus(count: int, seed: int) -> Path:
    corpus = OUT / f"corpus-{count}-{seed}"
    if not (corpus / "manifest.jsonl").exists():
        shutil.rmtree(corpus, ignore_errors=True)
        write_corpus(corpus, count, seed)
    return corpus


def corpus_files(corpus: Path) -> tuple[list[Path], list[load.Mail]]:
    manifest = [json.loads(line) for line in (corpus / "manifest.jsonl").read_text().splitlines() if line]
    files = [corpus / m["file"] for m in manifest]
    mails = [load.Mail(m.get("sender") or "<>", load.to_wire(f.read_bytes())) for m, f in zip(manifest, files)]
    return files, mails


def big_message(size: int = 25 * MB) -> load.Mail:
    """An incident report with one base64 attachment, SIZE bytes on the wire."""
    msg = EmailMessage(policy=SMTP)
    msg["From"] = "Kari Nordmann <kari.nordmann@ous-hf.example>"
    msg["To"] = "postmottak@saksregister.example"
    msg["Subject"] = "Feil i dokumentdeling: skjermbilder og logg fra XCA-gatewayen"
    msg["Message-ID"] = "<bench-25mb@ous-hf.example>"
    msg.set_content("Hei,\n\nVedlagt logg fra gatewayen.\nAlvorlighetsgrad: B\n\nHilsen Kari\n")
    payload = int((size - 1200) * 57 / 78)  # base64: 76 characters and CRLF for 57 bytes
    msg.add_attachment(random.Random(6).randbytes(payload), maintype="application", subtype="octet-stream",
                       filename="gateway-logg.bin")
    return load.Mail("kari.nordmann@ous-hf.example", msg.as_bytes())


def measure_ingest(files: list[Path], workdir: Path) -> dict:
    config = write_config(workdir)
    env = daemon_env()
    # One process over all files, unless the argument list would not fit in one exec.
    chunks, chunk, length = [], [], 0
    for f in files:
        if chunk and length + len(str(f)) + 1 > 1_000_000:
            chunks.append(chunk)
            chunk, length = [], 0
        chunk.append(str(f))
        length += len(str(f)) + 1
    chunks.append(chunk)
    started = time.perf_counter()
    for chunk in chunks:
        done = subprocess.run(sakspost_command(config, "ingest", "-q", *chunk), cwd=workdir, env=env,
                              capture_output=True)
        if done.returncode not in (0, 1):
            raise RuntimeError(f"sakspost ingest exited {done.returncode}: {done.stderr.decode(errors='replace')[-2000:]}")
    seconds = time.perf_counter() - started
    counts = Registry(workdir / "sakspost.db").counts()
    if counts["inbound"] != len(files) or counts["waiting"]:
        raise RuntimeError(f"ingest left the registry incomplete: {counts}")
    return {"seconds": seconds, "processes": len(chunks), "msgs_per_s": len(files) / seconds, **counts}


def measure_full_speed(mails: list[load.Mail], workdir: Path, clients: int) -> tuple[dict, int]:
    daemon = Daemon(workdir).start()
    try:
        idle_kb = daemon.settle(0.5)
        started = time.perf_counter()
        sent = load.send(daemon.port, mails, clients=clients)
        counts = daemon.registry.wait_processed(len(sent.stored))
        seconds = time.perf_counter() - started
        drained = daemon.registry.wait_processed(len(sent.stored), drained=True)
        drained_seconds = time.perf_counter() - started
        peak_kb = daemon.peak_kb()
    finally:
        daemon.stop()
    if sent.refused:
        raise RuntimeError(f"{len(sent.refused)} message(s) refused at full speed, e.g. {sent.refused[0]}")
    return {
        "seconds": seconds, "msgs_per_s": len(mails) / seconds, "drained_seconds": drained_seconds,
        "sending_seconds": sent.seconds, "p50_ms": sent.percentile(50), "p99_ms": sent.percentile(99),
        "stored": len(sent.stored), "idle_rss_mb": idle_kb * 1024 / MB, **counts,
        "outbox_sent": drained["outbox"] - drained["outbox_pending"],
    }, peak_kb


def measure_steady_and_big(mails: list[load.Mail], workdir: Path, clients: int, rate: float) -> tuple[dict, int]:
    big = big_message()
    daemon = Daemon(workdir).start()
    try:
        sent = load.send(daemon.port, mails, clients=clients, rate=rate)
        daemon.registry.wait_processed(len(sent.stored), drained=True)
        peak_kb = daemon.peak_kb()
        idle_kb = daemon.settle()
        kernel_reset = daemon.reset_peak()
        before = daemon.registry.counts()["inbound"]
        big_sent = load.send(daemon.port, [big], clients=1)
        daemon.registry.wait_processed(before + 1, drained=True)
        big_peak_kb = daemon.peak_kb() if kernel_reset else daemon.samples_peak_kb
        failed = daemon.registry.counts()["failed"]
    finally:
        daemon.stop()
    if sent.refused or big_sent.refused:
        raise RuntimeError(f"refused: {(sent.refused + big_sent.refused)[:1]}")
    return {
        "messages": len(mails), "rate": rate, "seconds": sent.seconds,
        "p50_ms": sent.percentile(50), "p99_ms": sent.percentile(99),
        "big_message_bytes": len(big.raw), "big_message_ms": big_sent.latencies_ms[0],
        "big_idle_rss_mb": idle_kb * 1024 / MB, "big_peak_rss_mb": big_peak_kb * 1024 / MB,
        "big_message_rss_mb": (big_peak_kb - idle_kb) * 1024 / MB, "failed_after_big": failed,
    }, peak_kb


def machine() -> dict:
    model = ""
    try:
        model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                      if line.startswith("model name")), "")
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
                                capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = ""
    return {
        "cores": os.cpu_count(), "usable_cores": len(os.sched_getaffinity(0)), "cpu": model,
        "python": platform.python_version(), "system": f"{platform.system()} {platform.release()}",
        "sakspost": commit, "load_at_start": round(os.getloadavg()[0], 2),
    }


def quiesce(seconds: float = 1.0) -> None:
    """Before each row, floor or daemon: what the row before wrote is flushed to disk, and the
    machine is left alone a moment, so that no row pays for the write-back of the one before
    (the registries of a run are tens of MB, written with fsync and then checkpointed)."""
    os.sync()
    time.sleep(seconds)


def run(args) -> dict:
    info = machine()
    corpus = make_corpus(args.count, args.seed)
    files, mails = corpus_files(corpus)
    steady = mails[: min(len(mails), args.steady_count)]
    corpus_bytes = sum(f.stat().st_size for f in files)
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="run-", dir=OUT) as tmp:
        tmp = Path(tmp)
        floors = []

        def measure_floor() -> float:
            quiesce()
            log(f"floor over {len(files)} mails ...")
            floors.append(floor.measure(files, tmp / "floor.db")["msgs_per_s"])
            log(f"  {floors[-1]:.0f} msg/s")
            return floors[-1]

        measure_floor()
        ingests, e2es, peaks = [], [], []
        for n in range(args.repeat):
            quiesce()
            log(f"sakspost ingest (round {n + 1} of {args.repeat}) ...")
            before = floors[-1]
            ingests.append(measure_ingest(files, tmp / f"ingest-{n}"))
            ingests[-1]["floor_msgs_per_s"] = max(before, measure_floor())
            log(f"  {ingests[-1]['msgs_per_s']:.0f} msg/s")
            quiesce()
            log(f"daemon, {args.clients} SMTP clients at full speed (round {n + 1} of {args.repeat}) ...")
            before = floors[-1]
            e2e, peak = measure_full_speed(mails, tmp / f"e2e-{n}", args.clients)
            e2es.append(e2e)
            peaks.append(peak)
            e2e["floor_msgs_per_s"] = max(before, measure_floor())
            log(f"  {e2e['msgs_per_s']:.0f} msg/s")
        quiesce()
        log(f"daemon at {args.rate:g} msg/s, then one 25 MB message ...")
        paced, peak_b = measure_steady_and_big(steady, tmp / "steady", args.clients, args.rate)
        quiesce()
        log(f"daemon at {args.rate:g} msg/s with A reports escalated to a relay ...")
        escalated = escalation.measure(steady, tmp / "escalation", args.rate, clients=args.clients)
        log(f"  p99 {escalated['escalation_p99_s']:.2f} s")
    log("patient-data scan per message ...")
    scanned = scan.measure(files)
    # Each row against the faster of the floors measured just before and just after it: noise
    # can only make a ratio look worse, and a machine that slows down over the run (seen here:
    # the floor at the end 5-30 % below the one at the start) is not held against the rows
    # measured late. Each row is measured REPEAT times and its median round is shown: this
    # machine's neighbours take a core now and then, for seconds, and one round of a few
    # seconds can fall into that (seen: 0.59, 0.47 and 0.53 end to end, three runs in a row).
    for row in (*ingests, *e2es):
        row["ratio"] = row["msgs_per_s"] / row["floor_msgs_per_s"]
    ingest, e2e = _median(ingests), _median(e2es)
    ingest_floor, e2e_floor = ingest["floor_msgs_per_s"], e2e["floor_msgs_per_s"]
    info["load_at_end"] = round(os.getloadavg()[0], 2)
    result = {
        "messages": len(files), "seed": args.seed, "corpus_mb": corpus_bytes / MB, "clients": args.clients,
        "floor_msgs_per_s": max(floors),
        "floor_runs_msgs_per_s": floors,
        "ingest_floor_msgs_per_s": ingest_floor,
        "e2e_floor_msgs_per_s": e2e_floor,
        "ingest_msgs_per_s": ingest["msgs_per_s"],
        "e2e_msgs_per_s": e2e["msgs_per_s"],
        "ingest_ratio": ingest["ratio"],
        "e2e_ratio": e2e["ratio"],
        "repeat": args.repeat,
        "ingest_ratio_runs": [row["ratio"] for row in ingests],
        "e2e_ratio_runs": [row["ratio"] for row in e2es],
        "p50_ms": e2e["p50_ms"], "p99_ms": e2e["p99_ms"],
        "rate": args.rate, "p50_ms_at_50": paced["p50_ms"], "p99_ms_at_50": paced["p99_ms"],
        "peak_rss_mb": max(*peaks, peak_b) * 1024 / MB,
        "idle_rss_mb": e2e["idle_rss_mb"],
        "big_message_mb": paced["big_message_bytes"] / MB,
        "big_message_rss_mb": paced["big_message_rss_mb"],
        "big_message_rss_over_size": paced["big_message_rss_mb"] * MB / paced["big_message_bytes"],
        "escalation_p50_s": escalated["escalation_p50_s"], "escalation_p99_s": escalated["escalation_p99_s"],
        "ingest": ingest, "e2e": e2e, "steady": paced, "scan": scanned, "escalation": escalated, "machine": info,
    }
    result["targets"] = {name: _meets(result[name], op, bound) for name, (op, bound) in TARGETS.items()}
    return result


def escalation_only(args) -> dict:
    files, mails = corpus_files(make_corpus(args.count, args.seed))
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="esc-", dir=OUT) as tmp:
        found = escalation.measure(mails[: args.steady_count], Path(tmp), args.rate, clients=args.clients)
    return {**found, "machine": machine()}


def _median(rows: list[dict]) -> dict:
    """The round whose ratio is the median (the lower middle one of an even number)."""
    ordered = sorted(rows, key=lambda row: row["ratio"])
    return ordered[(len(ordered) - 1) // 2]


def _meets(value: float, op: str, bound: float) -> bool:
    return {">=": value >= bound, "<=": value <= bound}.get(op, value < bound)


def table(r: dict) -> str:
    m, e, i, s = r["machine"], r["e2e"], r["ingest"], r["steady"]
    ok = {k: ("ok" if v else "MISSED") for k, v in r["targets"].items()}
    rows = [
        ("", "msgs/s", "ratio", "p50 ms", "p99 ms", "target"),
        ("floor: parse + 1 row, sync=FULL", " / ".join(f"{x:.0f}" for x in r["floor_runs_msgs_per_s"]), "1.00",
         "", "", ""),
        ("sakspost ingest (1 process)", f"{r['ingest_msgs_per_s']:.0f}", f"{r['ingest_ratio']:.2f}", "", "",
         f">= {TARGETS['ingest_ratio'][1]:.2f} {ok['ingest_ratio']}"),
        (f"daemon end to end, {r['clients']} clients", f"{r['e2e_msgs_per_s']:.0f}", f"{r['e2e_ratio']:.2f}",
         f"{r['p50_ms']:.1f}", f"{r['p99_ms']:.1f}", f">= {TARGETS['e2e_ratio'][1]:.2f} {ok['e2e_ratio']}"),
        (f"daemon at a steady {r['rate']:g}/s", f"{s['messages'] / s['seconds']:.0f}", "",
         f"{r['p50_ms_at_50']:.1f}", f"{r['p99_ms_at_50']:.1f}", f"p99 <= {TARGETS['p99_ms_at_50'][1]:g} {ok['p99_ms_at_50']}"),
    ]
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    lines = [
        f"sakspost benchmark: {r['messages']} mails ({r['corpus_mb']:.1f} MB, mailgen seed {r['seed']}), "
        f"sakspost {m['sakspost']}",
        f"machine: {m['cores']} cores ({m['cpu']}), Python {m['python']}, {m['system']}, "
        f"load {m['load_at_start']} -> {m['load_at_end']}",
        "",
    ]
    for row in rows:
        lines.append("  ".join([row[0].ljust(widths[0])] + [row[c].rjust(widths[c]) for c in range(1, 5)]
                               + [row[5]]).rstrip())
    lines += [
        "",
        f"memory: peak RSS {r['peak_rss_mb']:.0f} MB over the runs (idle {r['idle_rss_mb']:.0f} MB)"
        f"  target <= {TARGETS['peak_rss_mb'][1]:g} {ok['peak_rss_mb']}",
        f"        one {r['big_message_mb']:.1f} MB message: +{r['big_message_rss_mb']:.0f} MB above idle "
        f"({r['big_message_rss_over_size']:.1f}x its size, 250 after {s['big_message_ms']:.0f} ms)"
        f"  target < 3x {ok['big_message_rss_over_size']}",
        f"rounds: ingest {' / '.join(f'{x:.2f}' for x in r['ingest_ratio_runs'])}, end to end "
        f"{' / '.join(f'{x:.2f}' for x in r['e2e_ratio_runs'])} of the floor (the median round is shown); "
        f"floor before and after each row, each row against the faster of its two "
        f"({r['ingest_floor_msgs_per_s']:.0f} and {r['e2e_floor_msgs_per_s']:.0f} msg/s here)",
        f"patient-data scan: identity numbers {r['scan']['redact_mean_us']:.0f} us a message "
        f"(p99 {r['scan']['redact_p99_us']:.0f}), the whole scan of a mail to another organisation "
        f"{r['scan']['scan_mean_us']:.0f} us (p99 {r['scan']['scan_p99_us']:.0f}); "
        f"{r['scan']['messages_with_removals']} of {r['scan']['messages']} had something removed",
        f"escalation: an A report in, NHN's forward at the relay, under {r['rate']:g} msg/s of other mail: "
        f"p50 {r['escalation_p50_s']:.2f} s, p99 {r['escalation_p99_s']:.2f} s "
        f"({r['escalation']['escalation_missing']} of {r['escalation']['escalation_reports']} missing)"
        f"  target p99 <= {TARGETS['escalation_p99_s'][1]:g} s {ok['escalation_p99_s']}",
        f"ingest: {i['processes']} process(es), start-up included; end to end: {e['cases']} cases, "
        f"{e['outbox']} acknowledgements queued, {e['failed']} dead-lettered, "
        f"outbox delivered after {e['drained_seconds']:.1f} s",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000, help="corpus size (default 2000)")
    parser.add_argument("--seed", type=int, default=6, help="corpus seed (default 6)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent SMTP clients (default 4)")
    parser.add_argument("--rate", type=float, default=50.0, help="the steady rate, msgs/s (default 50)")
    parser.add_argument("--steady-count", type=int, default=1000,
                        help="messages sent at the steady rate (default 1000, at most the corpus)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="rounds of ingest and end to end, each between two floors; the median is shown (default 3)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument("--escalation-only", action="store_true",
                        help="measure only the escalation latency (prints JSON)")
    args = parser.parse_args(argv)
    if args.escalation_only:
        print(json.dumps(escalation_only(args), indent=2, sort_keys=True))
        return 0
    result = run(args)
    print(json.dumps(result, indent=2, sort_keys=True) if args.json else table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
