#!/usr/bin/env python3
"""Docs as tests: runs the shell and SQL examples of README.md and docs/*.md as they are written.

    scripts/docs-check.py [--bin PATH] [--verbose] [FILE ...]

A fenced ```sh (or ```sql) block runs when the HTML comment right before it says so; the
comment is invisible on GitHub and says everything the check changes or adds:

    <!-- docs-check: run
    before: COMMAND              run in the file's shell before the block (what it sets, the
                                 block sees): what the reader has done elsewhere (a connection,
                                 a file of their own), stated here so the marker says
                                 everything the check adds
    replace: TEXT => VALUE       TEXT of the block (a placeholder of the reader's own, such as
                                 their database URL) becomes VALUE; a TEXT the block lacks is an
                                 error, so a doc cannot drift away from its check. VALUE is
                                 shell text, expanded as inside double quotes ($VAR, $(…)), in
                                 ```sql blocks too
    eventually: COMMAND          after the block, COMMAND must exit 0 within 30 s (re-run until)
    then: COMMAND                after that, COMMAND must exit 0
    -->
    <!-- docs-check: skip (why) -->

Every ```sh and ```sql block of a checked file needs one of the two, so a new example is
either run or has a stated reason not to be. A ```sql block runs through psql against the
file's database ($DATABASE_URL), stopping at its first error, in the same bash as the file's
shell blocks (so a shell block after it sees what it wrote). The blocks of one file run in order in one bash (`set -euo
pipefail`), so what one exports the next sees, as it would in a reader's shell; each file gets
a fresh database on one throwaway cluster (scripts/pg.sh), DATABASE_URL pointing at it, and
`ledgersync` on PATH. A file's background processes (`… &`) are stopped when its blocks end.

VALUEs and COMMANDs may use $DOCS_CHECK_DATABASE_URL (the file's database),
$DOCS_CHECK_SIMULATOR_PORT (a free port for `ledgersync simulate netsuite`),
$DOCS_CHECK_API_PORT (a free port for `ledgersync api`) and three shell
functions: `docs_check_get URL` (the body of a GET), `docs_check_until 'COMMAND'` (evals
COMMAND until it exits 0, at most 30 s; for a `before:`) and `docs_check_first_id` (the id of
the first element of a JSON array on stdin).

The files other than README.md (whose quick start migrates) start on a migrated database.
It also holds docs/operations.md's worker flag table to `ledgersync worker --help`.

Fails (exit 1) on a non-zero exit, a check that does not hold, or a block without a marker,
printing the file and line of the block and its output (--verbose prints every file's).
"""

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The files checked, and for README.md the one section a first hour follows.
FILES = {
    "README.md": "## Quick start for real use",
    "docs/connections.md": None,
    "docs/operations.md": None,
    "docs/sql.md": None,
    "docs/api.md": None,
    "docs/linking.md": None,
    "docs/sync.md": None,
    "docs/job-states.md": None,
    "docs/netsuite.md": None,
    "docs/zoho-books.md": None,
    "docs/performance.md": None,
    "docs/sync-status.md": None,
}
EVENTUALLY_SECONDS = 30
MARKER = re.compile(r"<!--\s*docs-check:\s*(run|skip)\b(.*?)-->", re.S)
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```\s*$", re.S | re.M)


class Block:
    def __init__(self, path, line, text, marker, language="sh"):
        self.path, self.line, self.text, self.language = path, line, text, language
        self.run = marker is not None and marker[0] == "run"
        self.before, self.replace, self.eventually, self.then = [], [], [], []
        if not self.run:
            return
        for raw in marker[1].splitlines():
            directive = raw.strip()
            if not directive:
                continue
            key, _, value = directive.partition(":")
            value = value.strip()
            if key == "before" and value:
                self.before.append(value)
            elif key == "replace" and " => " in value:
                old, new = value.split(" => ", 1)
                if old not in self.text:
                    raise SystemExit(f"{path}:{line}: docs-check replace: the block does not contain {old!r}")
                self.replace.append((old, new))
            elif key == "eventually" and value:
                self.eventually.append(value)
            elif key == "then" and value:
                self.then.append(value)
            else:
                raise SystemExit(f"{path}:{line}: unknown docs-check directive {directive!r}")

    def script(self):
        if self.language == "sh":
            # The block's text in this shell (what it exports the next block sees), VALUEs
            # spliced in, so that the shell expands them as it runs the block.
            text = self.text
            for old, new in self.replace:
                text = text.replace(old, new)
            return text
        # SQL reaches psql byte for byte ($$, backslashes and all) through a quoted
        # here-document; bash makes each replacement, expanding VALUE as in double quotes.
        lines = [f"docs_check_sql=$(cat <<'DOCS_CHECK_SQL'\n{self.text}DOCS_CHECK_SQL\n)"]
        for old, new in self.replace:
            lines.append(f'docs_check_sql=${{docs_check_sql//{shell_quote(old)}/"{new}"}}')
        lines.append('printf \'%s\\n\' "$docs_check_sql" | psql "$DATABASE_URL" -X -q -v ON_ERROR_STOP=1 >/dev/null')
        return "\n".join(lines)


def blocks_of(path, section):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        doc = f.read()
    offset = 0
    if section is not None:
        offset = doc.index(section)
        following = re.search(r"^## ", doc[offset + len(section):], re.M)
        doc = doc[: offset + len(section) + following.start()] if following else doc
    found, unmarked = [], []
    for fence in FENCE.finditer(doc, offset):
        if fence.group(1) not in ("sh", "bash", "sql"):
            continue
        line = doc.count("\n", 0, fence.start()) + 1
        before = doc[: fence.start()].rstrip()
        marker = None
        if before.endswith("-->"):
            comment_start = before.rfind("<!--")
            match = MARKER.fullmatch(before[comment_start:])
            if match:
                marker = (match.group(1), match.group(2))
        if marker is None:
            unmarked.append(f"{path}:{line}")
        found.append(Block(path, line, fence.group(2), marker, "sql" if fence.group(1) == "sql" else "sh"))
    return found, unmarked


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def shell_quote(text):
    return "'" + text.replace("'", "'\\''") + "'"


# Shell functions the directives may use, so that the check needs nothing but python3 (no
# curl or jq on a fresh machine).
HELPERS = r"""
docs_check_get() {  # docs_check_get URL: prints the body; fails on an HTTP error or no answer
    python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' "$1"
}
docs_check_until() {  # docs_check_until 'COMMAND': evals COMMAND until it exits 0, failing after 30 s
    local deadline=$((SECONDS + 30))
    until ( eval "$1" ) >/dev/null 2>&1; do
        if [ $SECONDS -ge $deadline ]; then echo "docs-check: not within 30s: $1" >&2; return 1; fi
        sleep 0.2
    done
}
docs_check_first_id() {  # a JSON array on stdin: prints the first element's id
    python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["id"])'
}
"""


def run_file(path, blocks, env, workdir, verbose=False):
    """Runs the blocks of one file in one bash; returns True when all of them and their checks pass."""
    lines = ["set -euo pipefail", "cd " + shell_quote(workdir), HELPERS]
    if FILES.get(path) is None:
        # The docs but README.md's quick start take a migrated database as given.
        lines.append("ledgersync migrate >/dev/null")
    for block in blocks:
        if not block.run:
            continue
        lines.append(f"echo {shell_quote(f'==> {block.path}:{block.line}')}")
        lines.append(f"DOCS_CHECK_AT={shell_quote(f'{block.path}:{block.line}')}")
        for command in block.before:
            lines.append(f"echo {shell_quote('before: ' + command)}")
            lines.append(command)
        lines.append(block.script())
        for check in block.eventually:
            lines.append(
                f"docs_check_deadline=$((SECONDS + {EVENTUALLY_SECONDS}))\n"
                f"until ( {check} ) >/dev/null 2>&1; do\n"
                f"  if [ $SECONDS -ge $docs_check_deadline ]; then echo; echo \"docs-check: $DOCS_CHECK_AT: not within {EVENTUALLY_SECONDS}s: \"{shell_quote(check)} >&2; exit 1; fi\n"
                f"  sleep 0.2\n"
                f"done")
        for check in block.then:
            lines.append(f"( {check} ) || {{ echo; echo \"docs-check: $DOCS_CHECK_AT: check failed: \"{shell_quote(check)} >&2; exit 1; }}")
    script = "\n".join(lines) + "\n"
    # Its own process group: the file's background processes (workers, the simulator) are
    # stopped with it, whatever state the script ended in. Output goes to a file, not a pipe,
    # which those processes would hold open after bash has exited.
    log_path = os.path.join(workdir, "output.log")
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            ["bash", "-c", script], env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            process.wait(timeout=300)
        except subprocess.TimeoutExpired:
            log.write(b"docs-check: timed out after 300 s\n")
        finally:
            stop_group(process.pid)
            process.wait()
    with open(log_path, "rb") as log:
        output = log.read()
    ok = process.returncode == 0
    if verbose or not ok:
        sys.stdout.write(output.decode(errors="replace"))
    if not ok:
        sys.stdout.write(f"docs-check: {path} failed (exit {process.returncode})\n")
    return ok


def stop_group(pgid):
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)


def flag_table_check(binary):
    """docs/operations.md's worker flag table against `ledgersync worker --help`: the same flags
    (the help is what the binary really takes; a flag added to one must be added to the other)."""
    help_text = subprocess.run([binary, "worker", "--help"], check=True, capture_output=True, text=True).stdout
    shown = set(re.findall(r"^  (--[a-z][a-z-]*)", help_text, re.M)) - {"--help"}
    with open(os.path.join(ROOT, "docs/operations.md"), encoding="utf-8") as f:
        doc = f.read()
    table = doc[doc.index("| flag | default | what it does |"):]
    table = table[: table.index("\n\n")]
    documented = set(re.findall(r"^\| `(--[a-z][a-z-]*)", table, re.M))
    problems = [f"  {flag}: shown by `ledgersync worker --help`, missing from docs/operations.md's flag table" for flag in sorted(shown - documented)]
    problems += [f"  {flag}: in docs/operations.md's flag table, not taken by `ledgersync worker`" for flag in sorted(documented - shown)]
    if problems:
        print("docs-check: docs/operations.md's worker flags differ from `ledgersync worker --help`:")
        print("\n".join(problems))
    return not problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", help="the ledgersync binary (default: the debug build's)")
    parser.add_argument("--verbose", action="store_true", help="print every file's output, not only a failed one's")
    parser.add_argument("files", nargs="*", help="files to check (default: README.md's quick start and the docs it links)")
    args = parser.parse_args()
    started = time.monotonic()

    binary = os.path.abspath(args.bin) if args.bin else os.path.join(
        subprocess.run(["swift", "build", "--show-bin-path"], cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip(),
        "ledgersync")
    if not os.access(binary, os.X_OK):
        raise SystemExit(f"docs-check: no ledgersync binary at {binary} (swift build first)")

    files = args.files or list(FILES)
    plan, unmarked = [], []
    for path in files:
        blocks, missing = blocks_of(path, FILES.get(path))
        unmarked += missing
        plan.append((path, blocks))
    if unmarked:
        print("docs-check: these sh/sql blocks have no <!-- docs-check: run --> or <!-- docs-check: skip (why) --> marker:")
        print("\n".join("  " + where for where in unmarked))
        return 1

    failed = [] if flag_table_check(binary) else ["docs/operations.md (worker flags)"]

    tmp = tempfile.mkdtemp(prefix="ledgersync-docs-check.")
    os.chmod(tmp, 0o755)
    pgdata = os.path.join(tmp, "pg")
    admin_url = subprocess.run([os.path.join(ROOT, "scripts/pg.sh"), "start", pgdata, str(free_port())],
                               check=True, capture_output=True, text=True).stdout.strip()
    try:
        bindir = os.path.join(tmp, "bin")
        os.makedirs(bindir)
        os.symlink(binary, os.path.join(bindir, "ledgersync"))
        for index, (path, blocks) in enumerate(plan):
            runnable = [b for b in blocks if b.run]
            skipped = [b for b in blocks if not b.run]
            if not runnable:
                print(f"docs-check: {path}: no runnable block ({len(skipped)} skipped)")
                continue
            database = f"docs_check_{index}"
            subprocess.run(["psql", admin_url, "-qAtc", f"CREATE DATABASE {database}"], check=True, capture_output=True)
            database_url = admin_url.rsplit("/", 1)[0] + "/" + database
            env = {k: v for k, v in os.environ.items() if not k.startswith(("LEDGERSYNC_", "NETSUITE_", "DATABASE_URL"))}
            env.update({
                "PATH": bindir + os.pathsep + env.get("PATH", ""),
                "DATABASE_URL": database_url,
                "DOCS_CHECK_DATABASE_URL": database_url,
                "DOCS_CHECK_SIMULATOR_PORT": str(free_port()),
                "DOCS_CHECK_API_PORT": str(free_port()),
            })
            workdir = os.path.join(tmp, f"work{index}")
            os.makedirs(workdir)
            t0 = time.monotonic()
            ok = run_file(path, blocks, env, workdir, args.verbose)
            print(f"docs-check: {path}: {len(runnable)} blocks run, {len(skipped)} skipped: "
                  f"{'ok' if ok else 'FAILED'} in {time.monotonic() - t0:.1f}s")
            if not ok:
                failed.append(path)
    finally:
        subprocess.run([os.path.join(ROOT, "scripts/pg.sh"), "stop", pgdata], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"docs-check: {'FAILED: ' + ', '.join(failed) if failed else 'every runnable example passed'} "
          f"({time.monotonic() - started:.1f}s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
