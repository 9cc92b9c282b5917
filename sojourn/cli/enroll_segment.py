"""`sojourn enroll-segment JOURNEY SEGMENT`: start a segment enrollment through the API and follow it."""

from __future__ import annotations

import argparse
import sys
import time

from sojourn.cli.progress import Progress
from sojourn.cli.remote import add_api_options, api_target


def add_command(commands) -> None:
    segment = commands.add_parser(
        "enroll-segment", help="enroll a whole segment into a journey, with a progress bar",
        description="Starts an enrollment workflow through the API and follows it to the end; Ctrl-C stops "
                    "following, not the enrollment. Exit status: 0 everyone enrolled, 2 some contacts failed, "
                    "1 the enrollment did not complete, 130 interrupted.")
    segment.add_argument("journey", metavar="JOURNEY")
    segment.add_argument("segment", metavar="SEGMENT")
    segment.add_argument("--id", help="enrollment id (idempotency: the same id is the same enrollment)")
    segment.add_argument("--page-size", type=int, default=500)
    segment.add_argument("--delivery", choices=["auto", "runs"], default="auto",
                         help="auto: a single-send journey goes out in batches; runs: one run per contact")
    add_api_options(segment)
    segment.set_defaults(func=cmd_enroll_segment)


def _interrupted(args: argparse.Namespace, url: str, enrollment_id: str, answered: bool) -> int:
    """Ctrl-C stops following, not the enrollment: say so, and how to follow or cancel it."""
    what = f"enrollment {enrollment_id} of journey {args.journey}"
    first = f"{what} goes on in the background" if answered else \
        f"interrupted before the API answered; if {what} started, it goes on in the background"
    print(f"\n{first}.\n"
          f"  follow it:  GET {url}  (or run this command again with --id {enrollment_id})\n"
          f"  cancel it:  DELETE {url}", file=sys.stderr)
    return 130  # the shell's code for an end by SIGINT


def cmd_enroll_segment(args: argparse.Namespace) -> int:
    import uuid

    import httpx

    base, key = api_target(args)
    path = f"{base}/v1/journeys/{args.journey}/segment-enrollments"
    # Made here when not given, so an interrupted command can always name what it started.
    enrollment_id = args.id or uuid.uuid4().hex[:16]
    body = {"segment": args.segment, "page_size": args.page_size, "delivery": args.delivery,
            "enrollment_id": enrollment_id}
    answered = False
    progress = None
    try:
        with httpx.Client(timeout=30.0, headers={"Authorization": f"Bearer {key}"}) as client:
            response = client.post(path, json=body)
            if response.status_code != 202:
                print(f"enrollment refused ({response.status_code}): {response.text[:500]}", file=sys.stderr)
                return 1
            answered = True
            enrollment = response.json()
            while enrollment["status"] not in ("completed", "cancelled", "failed"):
                time.sleep(0.5)
                answer = client.get(f"{path}/{enrollment_id}")
                if answer.status_code != 200:
                    continue  # no worker answering yet: keep waiting
                enrollment = answer.json()
                if enrollment["total"] is not None:
                    progress = progress or Progress(enrollment["total"], unit="contacts")
                    progress.sent = enrollment["enrolled"] + enrollment["existing"] + enrollment["failed"]
                    progress.rate = enrollment["per_second"]  # since the enrollment started, not this command
                    progress.draw()
    except KeyboardInterrupt:
        return _interrupted(args, f"{path}/{enrollment_id}", enrollment_id, answered)
    if progress is not None:
        progress.draw("\n")
    print(f"{enrollment['enrollment_id']}: {enrollment['status']}, {enrollment['enrolled']:,} enrolled, "
          f"{enrollment['existing']:,} already enrolled, {enrollment['failed']:,} failed")
    if enrollment.get("mode") == "batch":
        print(f"sent in batches: {enrollment['sent']:,} sent, {enrollment['skipped']:,} skipped, "
              f"{enrollment['held']:,} held for later by a run each")
    for error in enrollment["errors"]:
        print(error)
    if enrollment["status"] != "completed":
        return 1
    return 2 if enrollment["failed"] else 0
