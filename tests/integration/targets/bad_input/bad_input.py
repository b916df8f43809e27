#!/usr/bin/env python
"""Check the record bad_input.yml wrote for the rows of table.yml; exit 1 on any bad row.

  bad_input.py RECORD REPO          (the module and role rows, bad_input.yml's record)
  bad_input.py RECORD REPO --site   (the site_rows, site_rows.py's record: each through the whole site.yml)

Per row: the task failed; its msg names the row's option and matches the row's msg regex, and
carries no traceback; a row with `secret` (a credential among its vars): the msg does not show it and
no host variable but the row's own holds it afterwards (no set_fact copy); the state right after the row (emulators, plain cluster, scratch folder)
equals the state before the first row. Also: every module in plugins/modules and every role with
meta/argument_specs.yml has rows. Prints one line per row and the summary line.
"""
import glob
import json
import os
import re
import sys


def _parse(state):
    return json.loads(state) if isinstance(state, str) else state


def _changes(before, after):
    """What differs; a key the row's snapshot does not have was not read for it (see state.py)."""
    out = []
    for key in sorted(after):
        b, a = before.get(key), after.get(key)
        if isinstance(b, dict) and isinstance(a, dict):
            out += ["%s.%s" % (key, c) for c in _changes(b, a)]
        elif b != a:
            bs, as_ = set(b or []), set(a or [])
            out.append("%s: +%s -%s" % (key, sorted(as_ - bs), sorted(bs - as_)))
    return out


# what the site rows must cover (issue 15), as regexes on the rows' option
SITE_KINDS = {"a node count outside min..max": r"node_groups|_nodes|node_count",
              "an EKS version not offered": r"^eks_cluster_version$", "a GKE version not offered": r"^gke_cluster_version$",
              "an istio_version with no release": r"^istio_version$", "an invalid DNS suffix": r"host_suffix",
              "a bad CIDR": r"cidr"}


def check(record, repo, site=False):
    baseline = _parse(record["baseline"])
    rows = record["rows"]
    problems = []
    for number, entry in enumerate(rows, 1):
        row, msg = entry["row"], entry.get("msg") or ""
        what = "%s %s" % ("site.yml" if row.get("site") else row.get("module") or "role " + row.get("role", "?"),
                          row["option"])
        errors = []
        if not entry.get("failed"):
            errors.append("did not fail (msg: %r)" % msg[:200])
        if row["option"] not in msg:
            errors.append("msg does not name %r" % row["option"])
        if not re.search(row["msg"], msg):
            errors.append("msg does not match %r" % row["msg"])
        if "Traceback" in msg:
            errors.append("msg carries a traceback")
        if row.get("secret") and row["secret"] in msg:
            errors.append("msg shows the secret of the row")
        if row.get("secret") and entry.get("secret_in") != []:
            errors.append("the secret was copied into host variable(s) %s" % entry.get("secret_in"))
        changed = _changes(baseline, _parse(entry["state"]))
        if changed:
            errors.append("changed: %s" % "; ".join(changed))
        print("%3d %-4s %-58s %s" % (number, "ok" if not errors else "BAD", what[:58], msg[:150].replace("\n", " ")))
        for error in errors:
            print("       -> %s" % error)
        if errors:
            problems.append("row %d (%s): %s" % (number, what, "; ".join(errors)))
    if site:
        for kind, pattern in sorted(SITE_KINDS.items()):
            if not any(re.search(pattern, e["row"]["option"]) for e in rows):
                problems.append("no site row for %s" % kind)
        final = _changes(baseline, _parse(record["final"]))
        if final:
            problems.append("state after the last site row differs from the state before the first: %s"
                            % "; ".join(final))
        for problem in problems:
            print("  " + problem)
        outcome = "%d problem(s)" % len(problems) if problems else "all failed in the preflight, nothing created"
        print("bad input through site.yml: %d rows, %s" % (len(rows), outcome))
        return 1 if problems else 0
    modules = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(repo, "plugins/modules/*.py"))
                     if not os.path.basename(p).startswith("_"))
    roles = sorted(p.split(os.sep)[-3] for p in glob.glob(os.path.join(repo, "roles/*/meta/argument_specs.yml")))
    covered_modules = sorted(set(e["row"]["module"] for e in rows if "module" in e["row"]))
    covered_roles = sorted(set(e["row"]["role"] for e in rows if "role" in e["row"]))
    for name in sorted(set(modules) - set(covered_modules)):
        problems.append("module %s has no row" % name)
    for name in sorted(set(roles) - set(covered_roles)):
        problems.append("role %s has no row" % name)
    final = _changes(baseline, _parse(record["final"]))
    if final:
        problems.append("state after the last row differs from the state before the first: %s" % "; ".join(final))
    if problems:
        print("bad input: %d rows, %d modules, %d roles, %d problem(s):" % (
            len(rows), len(covered_modules), len(covered_roles), len(problems)))
        for problem in problems:
            print("  " + problem)
        return 1
    print("bad input: %d rows, %d modules, %d roles, all failed cleanly" % (
        len(rows), len(covered_modules), len(covered_roles)))
    return 0


if __name__ == "__main__":
    with open(sys.argv[1]) as handle:
        sys.exit(check(json.load(handle), sys.argv[2], site="--site" in sys.argv[3:]))
