"""`make audit`: pip-audit of the pinned dependencies (constraints.txt) against the PyPI
vulnerability database, falling back to OSV.

Fails (exit 1) on any known vulnerability. When neither service can be reached — on machines
that only see a package mirror, PyPI's JSON API answers "not found" for every package and OSV
refuses the connection — it says so plainly and exits 0: an unreachable database is not a
vulnerability, and "No known vulnerabilities found" for zero audited packages would be a lie.
"""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PIP_AUDIT = Path(sys.executable).with_name("pip-audit")


def audit(service):
    """(audited, skipped, vulnerable) dependencies, or None if the service failed outright."""
    try:
        result = subprocess.run(
            [
                *(str(PIP_AUDIT), "-r", "constraints.txt", "--no-deps", "--disable-pip"),
                *("--progress-spinner", "off", "--format", "json"),
                *("--vulnerability-service", service),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
    except subprocess.TimeoutExpired:
        return None
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        return None
    deps = report.get("dependencies", [])
    skipped = [d for d in deps if d.get("skip_reason")]
    audited = [d for d in deps if not d.get("skip_reason")]
    vulnerable = [d for d in audited if d.get("vulns")]
    return audited, skipped, vulnerable


def main():
    for service in ("pypi", "osv"):
        outcome = audit(service)
        if outcome is None or not outcome[0]:
            print(f"pip-audit: the {service} vulnerability service is not reachable from here.")
            continue
        audited, skipped, vulnerable = outcome
        for dep in vulnerable:
            for vuln in dep["vulns"]:
                fixes = ", ".join(vuln.get("fix_versions", [])) or "no fix yet"
                print(f"VULNERABLE {dep['name']} {dep['version']}: {vuln['id']} (fixed in {fixes})")
        print(
            f"pip-audit ({service}): {len(audited)} packages audited, {len(skipped)} skipped, "
            f"{len(vulnerable)} vulnerable."
        )
        return 1 if vulnerable else 0
    print(
        "pip-audit: SKIPPED — no vulnerability database (PyPI JSON API, OSV) is reachable from "
        "this machine, so nothing was audited. Run `make audit` where pypi.org or osv.dev is "
        "reachable (see README, 'Dependency audit')."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
