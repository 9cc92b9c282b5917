"""`sojourn import FILE`: upsert contacts from CSV or NDJSON, streamed to the API with a progress bar."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sojourn.cli.progress import Progress
from sojourn.cli.remote import add_api_options, api_target

_IMPORT_TYPES = {".csv": "text/csv", ".ndjson": "application/x-ndjson", ".jsonl": "application/x-ndjson"}


def add_command(commands) -> None:
    load = commands.add_parser(
        "import", help="upsert contacts from a CSV or NDJSON file through the API",
        description="Streams FILE to POST /v1/contacts/import with a progress bar, then prints the summary "
                    "and each rejected line. Exit status: 0 all rows loaded, 2 some rows rejected, 1 failed.")
    load.add_argument("file", metavar="FILE", help=".csv (header row names the columns) or .ndjson / .jsonl")
    add_api_options(load)
    load.add_argument("--format", choices=("csv", "ndjson"), help="default: from the file name")
    load.set_defaults(func=cmd_import)


def cmd_import(args: argparse.Namespace) -> int:
    import httpx

    path = Path(args.file)
    content_type = {"csv": "text/csv", "ndjson": "application/x-ndjson"}.get(args.format or "") \
        or _IMPORT_TYPES.get(path.suffix.lower())
    if content_type is None:
        print(f"{path}: cannot tell CSV from NDJSON by the name; pass --format csv or --format ndjson",
              file=sys.stderr)
        return 1
    base, key = api_target(args)
    try:
        total = path.stat().st_size
    except OSError as err:
        print(f"{path}: {err.strerror}", file=sys.stderr)
        return 1
    progress = Progress(total)

    def body():
        with open(path, "rb") as file:
            while chunk := file.read(256 * 1024):
                progress.advance(len(chunk))
                yield chunk

    try:
        with httpx.Client(timeout=httpx.Timeout(30.0, read=None)) as client:
            response = client.post(f"{base}/v1/contacts/import", content=body(), headers={
                "Authorization": f"Bearer {key}", "Content-Type": content_type, "Content-Length": str(total)})
    except httpx.HTTPError as err:
        progress.draw("\n")
        print(f"import failed: {err}", file=sys.stderr)
        return 1
    progress.draw("\n")
    if response.status_code != 200:
        try:
            message = response.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = response.text[:500]
        print(f"import failed ({response.status_code}): {message}", file=sys.stderr)
        return 1
    result = response.json()
    rejected = len(result["rejected"]) + result["rejected_omitted"]
    print(f"{result['rows']:,} rows: {result['inserted']:,} inserted, {result['updated']:,} updated, "
          f"{result['unchanged']:,} unchanged, {rejected:,} rejected")
    for line in result["rejected"]:
        print(f"line {line['line']}: {line['reason']}")
    if result["rejected_omitted"]:
        print(f"... and {result['rejected_omitted']:,} more rejected rows")
    return 2 if rejected else 0
