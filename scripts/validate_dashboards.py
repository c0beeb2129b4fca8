#!/usr/bin/env python3
"""Validates Grafana dashboards against Grafana's dashboard JSON schema (draft-07).

Usage: validate_dashboards.py SCHEMA.json DASHBOARD.json [...]
Prints every violation with its path and exits non-zero if there is any.
"""

import json
import sys

import jsonschema


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        validator = jsonschema.Draft7Validator(json.load(f))
    failed = 0
    for path in sys.argv[2:]:
        with open(path) as f:
            dashboard = json.load(f)
        errors = sorted(validator.iter_errors(dashboard), key=lambda e: list(e.absolute_path))
        for e in errors:
            print(f"{path}: {'/'.join(map(str, e.absolute_path))}: {e.message}")
        failed += len(errors)
        if not errors:
            print(f"{path}: valid ({len(dashboard.get('panels', []))} panels)")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
