"""`python -m bench.mailgen OUTDIR N [--seed S] [--mbox FILE] [--no-manifest]`: write a generated corpus."""

import argparse
import sys

from . import __doc__ as DOC, write_corpus


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=DOC.split("\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("n", type=int)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--mbox", help="also write all messages to this mbox file (From_ lines, >From quoting)")
    ap.add_argument("--no-manifest", action="store_true")
    a = ap.parse_args(argv)
    total = write_corpus(a.outdir, a.n, a.seed, mbox=a.mbox, manifest=not a.no_manifest)
    print(f"wrote {a.n} messages, {total} bytes, to {a.outdir}", file=sys.stderr)


if __name__ == "__main__":
    main()
