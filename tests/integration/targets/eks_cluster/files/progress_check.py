#!/usr/bin/env python
"""Checks the time-stamped output of progress.yml (runme.sh writes "<epoch seconds> <line>" per line as it arrives).

  progress_check.py OUTPUT DELAY

While "Create the cluster" ran (from its TASK banner to its result), the play must have shown a progress line
("[localhost] cluster it-prog-N: CREATING, S s so far") at least every 60 s, and the task must have taken about
DELAY seconds (else the check proves nothing). No progress line may read as a failure. Prints the lines.
"""
import re
import sys

LINE = re.compile(r"^\[localhost\] cluster it-prog-[0-9]+: (CREATING|ACTIVE), ([0-9]+) s so far$")


def main(path, delay):
    rows = []
    with open(path) as handle:
        for raw in handle:
            stamp, text = raw.rstrip("\n").split(" ", 1) if " " in raw.rstrip("\n") else (raw.strip(), "")
            rows.append((int(stamp), text))
    start = next(i for i, row in enumerate(rows) if row[1].startswith("TASK [Create the cluster"))
    end = next(i for i in range(start + 1, len(rows)) if rows[i][1].startswith(("ok: [localhost]", "changed: [localhost]",
                                                                                "fatal: [localhost]")))
    if not rows[end][1].startswith("changed:"):
        sys.exit("the create did not succeed: %s" % rows[end][1])
    lines = [row for row in rows[start:end] if "so far" in row[1]]
    problems = []
    took = rows[end][0] - rows[start][0]
    if took < delay - 5:
        problems.append("the create took %d s, not the %d s the emulator was told: nothing to check" % (took, delay))
    for text in [row[1] for row in lines]:
        if not LINE.match(text) or re.search("fail|error|warn|fatal", text, re.I):
            problems.append("not a plain progress line: %r" % text)
    stamps = [rows[start][0]] + [row[0] for row in lines] + [rows[end][0]]
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    if max(gaps) > 60:
        problems.append("%d s without a progress line (gaps %s)" % (max(gaps), gaps))
    for stamp, text in lines:
        print("+%3d s  %s" % (stamp - rows[start][0], text))
    print("create took %d s; %d progress lines; longest silence %d s" % (took, len(lines), max(gaps)))
    if problems:
        sys.exit("progress check failed: " + "; ".join(problems))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
