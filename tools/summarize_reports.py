"""Print one closing line over every JUnit report of the run, the linters' and the Odoo tests' fate."""
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

reports, skip_reason = Path(sys.argv[1]), sys.argv[2]
lint = sys.argv[3] if len(sys.argv) > 3 else ""
totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
per_suite = {}
for report in sorted(reports.glob("*.xml")):
    root = ET.parse(report).getroot()
    suites = [root] if root.tag == "testsuite" else list(root)
    counts = {key: sum(int(s.get(key, 0)) for s in suites) for key in totals}
    per_suite[report.stem] = counts
    for key in totals:
        totals[key] += counts[key]

for name, c in per_suite.items():
    ran = c["tests"] - c["skipped"]
    print(f"[sale_inbox] {name} tests: {ran} ran, {c['failures'] + c['errors']} failed, {c['skipped']} skipped")
if lint:
    print(f"[sale_inbox] {lint}")
if skip_reason:
    print(f"[sale_inbox] !!! ODOO TESTS SKIPPED: {skip_reason} !!!")
failed = totals["failures"] + totals["errors"]
passed = totals["tests"] - failed - totals["skipped"]
print(f"tests: {passed} passed, {failed} failed, {totals['skipped']} skipped")
