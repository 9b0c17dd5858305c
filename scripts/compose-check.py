#!/usr/bin/env python3
"""Checks docker-compose.yml without a Docker engine.

1. Against the Compose Specification JSON schema. The schema is not downloaded: it is the
   `compose/config/compose_spec.json` that PyPI's docker-compose 1.29.2 ships (installed
   with --no-deps into .venv-compose, only to read that file). It is the 2021 edition of the
   specification; fields added since would be refused here, so the file uses none.
2. What the schema cannot know: every service runs the image built here with a real
   `ledgersync` subcommand (asked of the built binary's --help), the worker can scale (no
   container_name, no published port), depends_on names existing services, and the
   Dockerfile's runtime stage installs libpq5 and libcurl4.

  scripts/compose-check.py [path/to/ledgersync]
"""
import json
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv-compose"


def ensure_venv():
    python = VENV / "bin" / "python"
    if pathlib.Path(sys.prefix).resolve() == VENV.resolve():
        return
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        pip = [str(python), "-m", "pip", "install", "--quiet"]
        subprocess.run(pip + ["jsonschema>=4.18", "pyyaml"], check=True)
        subprocess.run(pip + ["--no-deps", "docker-compose==1.29.2"], check=True)
    os.execv(str(python), [str(python), *sys.argv])


def main():
    ensure_venv()
    import importlib.util
    import jsonschema
    import yaml

    failures = []
    document = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    # Read the file without importing docker-compose (its dependencies are not installed).
    spec = importlib.util.find_spec("compose")
    schema_path = pathlib.Path(spec.submodule_search_locations[0]) / "config" / "compose_spec.json"
    schema = json.loads(schema_path.read_text())
    validator = jsonschema.Draft201909Validator(schema)
    for error in sorted(validator.iter_errors(document), key=lambda e: list(e.path)):
        failures.append(f"schema: {'/'.join(map(str, error.path)) or '(root)'}: {error.message}")
    print(f"docker-compose.yml against {schema.get('title')} ({schema_path.name} of docker-compose 1.29.2): "
          + ("valid" if not failures else f"{len(failures)} error(s)"))

    services = document.get("services", {})
    for name in ["postgres", "migrate", "api", "worker", "netsuite"]:
        if name not in services:
            failures.append(f"no service {name}")
    binary = sys.argv[1] if len(sys.argv) > 1 else None
    for name, service in services.items():
        for dependency in (service.get("depends_on") or {}):
            if dependency not in services:
                failures.append(f"{name} depends on unknown service {dependency}")
        if service.get("image") != "ledgersync:local":
            continue
        command = service.get("command") or []
        if binary:
            # The subcommand path (up to the first option) must exist in this binary.
            words = []
            for word in command:
                if word.startswith("-"):
                    break
                words.append(word)
            result = subprocess.run([binary, *words, "--help"], capture_output=True, text=True)
            if result.returncode != 0:
                failures.append(f"{name}: `ledgersync {' '.join(words)}` is not a command of this binary")
            for option in [word for word in command if word.startswith("--")]:
                if option not in result.stdout:
                    failures.append(f"{name}: `ledgersync {' '.join(words)}` has no option {option}")
    worker = services.get("worker", {})
    if "container_name" in worker or "ports" in worker:
        failures.append("worker cannot scale: it has a container_name or published ports")
    if services.get("migrate", {}).get("restart") != "no":
        failures.append("migrate must not restart: it is a one-shot")
    dockerfile = (ROOT / "Dockerfile").read_text()
    runtime = dockerfile.split("AS runtime", 1)[-1]
    for package in ["libpq5", "libcurl4"]:
        if package not in runtime:
            failures.append(f"Dockerfile's runtime stage does not install {package}")

    for failure in failures:
        print(f"  FAIL {failure}")
    if not failures:
        print("  ok services, commands, scaling and runtime packages")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
