#!/usr/bin/env python3
"""test/mutation/run.py: apply the mutants of test/mutation/mutants_*.txt one
at a time and report which the named tests kill (README.md in this folder).

    python3 test/mutation/run.py [--only SUBSTRING[,SUBSTRING...]] [--list] [--timeout S]

Works in a separate git worktree of HEAD (/tmp/siamese_mutation), so the
checkout stays untouched.  Run as root: regress and tap mutants install the
mutant build into the local PostgreSQL and TAP runs as the postgres user; the
unmodified build is reinstalled at the end.
"""
import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORK = "/tmp/siamese_mutation"
TAPDIR = "/tmp/siamese_mutation_tap"
PORT = "5497"


def parse(path):
    mutants, cur = [], None
    with open(path) as f:
        for n, line in enumerate(f, 1):
            s = line.rstrip("\n")
            if not s.strip() or s.lstrip().startswith("#"):
                continue
            m = re.match(r"^\[(.+)\]\s*$", s)
            if m:
                cur = {"id": m.group(1), "source": f"{os.path.basename(path)}:{n}"}
                mutants.append(cur)
                continue
            k, sep, v = s.partition("=")
            if not sep or cur is None:
                sys.exit(f"{path}:{n}: expected [id] or key = value")
            cur[k.strip()] = v[1:] if v.startswith(" ") else v
    for m in mutants:
        for k in ("file", "find", "replace", "test", "why"):
            if k not in m:
                sys.exit(f"{m['source']}: mutant {m['id']} has no {k}")
    return mutants


def sh(cmd, cwd=WORK, timeout=None, env=None):
    """Run a shell command; return (exit code, output).  A timeout returns 124."""
    try:
        p = subprocess.run(cmd, shell=True, cwd=cwd, timeout=timeout, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        return p.returncode, p.stdout
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        return 124, out + "\n(timed out)"


def setup_worktree():
    if os.path.exists(WORK):
        sh(f"git -C {REPO} worktree remove --force {WORK}", cwd=REPO)
        shutil.rmtree(WORK, ignore_errors=True)
    rc, out = sh(f"git -C {REPO} worktree add --detach {WORK} HEAD", cwd=REPO)
    if rc:
        sys.exit(out)
    # the shipped models and the data exporter are built files of the checkout
    rc, out = sh("make -s -j2 all tools test/unit/run_unit >/dev/null 2>&1 && echo built")
    if "built" not in out:
        sys.exit("the unmodified worktree does not build:\n" + out)


def build(kind):
    """Rebuild what the test kind needs; (ok, output)."""
    if kind == "unit":
        rc, out = sh("make -s -j2 test/unit/run_unit 2>&1")
    elif kind == "cmd":
        rc, out = sh("make -s -j2 tools 2>&1")
    else:
        rc, out = sh("make -s -j2 all 2>&1 && make -s install >/dev/null 2>&1")
    return rc == 0, out


def run_test(spec, timeout):
    kind, *args = spec.split()
    if kind == "unit":
        rc, out = sh(f"./test/unit/run_unit {args[0]}", timeout=timeout)
        m = re.search(r"(\d+) passed, (\d+) failed", out)
        if rc == 0 and m and int(m.group(1)) == 0:
            return 2, f"the filter {args[0]} selects no unit test"
        return rc, out
    if kind == "cmd":
        return sh(" ".join(args), timeout=timeout)
    if kind == "regress":
        names = " ".join(args)
        cmd = (f'eval "$(bash scripts/scratch-cluster start {WORK}/.cluster {PORT})" && '
               f'make installcheck REGRESS="{names}"')
        return sh(cmd, timeout=timeout)
    if kind == "tap":
        return sh(f"bash scripts/tap-run {TAPDIR} {' '.join(args)}", timeout=timeout)
    return 2, f"unknown test kind {kind}"


def how_killed(out):
    """What failed, in a few words: the evidence that a kill is the test's and not the harness's."""
    for pat in (r"\d+ passed, [1-9]\d* failed", r"\d+ of \d+ tests failed", r"Failed tests?: +[\d, -]+",
                r"Failed \d+/\d+ subtests", r"REQUIRE\(.{0,60}", r"CHECK\(.{0,60}"):
        m = re.search(pat, out)
        if m:
            return m.group(0)
    return "exit without a recognised test failure: " + " ".join(out.split()[-12:])


def apply(m):
    path = os.path.join(WORK, m["file"])
    with open(path) as f:
        text = f.read()
    hits = [ln for ln in text.split("\n") if m["find"] in ln]
    if text.count(m["find"]) != 1 or len(hits) != 1:
        return None, f"find occurs {text.count(m['find'])} times in {m['file']}"
    with open(path, "w") as f:
        f.write(text.replace(m["find"], m["replace"], 1))
    return text, None


def restore(m, text):
    with open(os.path.join(WORK, m["file"]), "w") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="", help="comma-separated substrings of mutant ids")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--timeout", type=int, default=900)
    a = ap.parse_args()
    mutants = []
    for p in sorted(glob.glob(os.path.join(REPO, "test/mutation/mutants_*.txt"))):
        mutants += parse(p)
    ids = [m["id"] for m in mutants]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        sys.exit(f"duplicate mutant ids: {sorted(dup)}")
    wanted = [w for w in a.only.split(",") if w] or [""]
    mutants = [m for m in mutants if any(w in m["id"] for w in wanted)]
    if a.list:
        for m in mutants:
            print(f"{m['id']:40} {m['test']:45} {m['why']}")
        return
    if os.geteuid() != 0:
        sys.exit("run as root (mutant builds are installed into PostgreSQL; TAP runs as postgres)")

    setup_worktree()
    print(f"# mutation run of {len(mutants)} mutants on {sh('git rev-parse --short HEAD')[1].strip()}, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", flush=True)
    # every named test passes on the unmodified tree
    for spec in sorted({m["test"] for m in mutants}):
        ok, out = build(spec.split()[0])
        rc, out2 = run_test(spec, a.timeout) if ok else (1, out)
        if rc != 0:
            sys.exit(f"baseline: '{spec}' fails on the unmodified tree:\n{out2[-3000:]}")
        print(f"# baseline ok: {spec}", flush=True)

    results = []
    for m in mutants:
        t0 = time.time()
        text, problem = apply(m)
        if text is None:
            results.append((m, "invalid", problem, 0))
            print(f"{m['id']:40} invalid   {problem}", flush=True)
            continue
        ok, out = build(m["test"].split()[0])
        if not ok:
            verdict, detail = "invalid", "does not compile: " + " ".join(out.split())[:160]
        else:
            rc, out = run_test(m["test"], a.timeout)
            verdict = "killed" if rc != 0 else "SURVIVED"
            detail = "timed out" if rc == 124 else (how_killed(out) if rc != 0 else "")
        restore(m, text)
        secs = time.time() - t0
        results.append((m, verdict, detail, secs))
        print(f"{m['id']:40} {verdict:9} {secs:6.0f} s  {m['test']}  {detail}", flush=True)

    # put the unmodified build back where the mutants were installed
    if any(m["test"].split()[0] in ("regress", "tap") for m in mutants):
        build("regress")
    sh(f'bash scripts/scratch-cluster stop {WORK}/.cluster >/dev/null 2>&1')
    valid = [r for r in results if r[1] != "invalid"]
    killed = [r for r in valid if r[1] == "killed"]
    print()
    print(f"killed {len(killed)} of {len(valid)} valid mutants "
          f"({100.0 * len(killed) / max(len(valid), 1):.0f} %); "
          f"{len(results) - len(valid)} invalid")
    for m, verdict, detail, _ in results:
        if verdict == "SURVIVED":
            print(f"  survived: {m['id']} ({m['source']}): {m['why']}")
        elif verdict == "invalid":
            print(f"  invalid: {m['id']} ({m['source']}): {detail}")


if __name__ == "__main__":
    main()
