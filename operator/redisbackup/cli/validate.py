"""`redisbackup validate FILE… | -`: the webhook's rules offline, for CI pipelines and GitOps repositories.

Reads multi-document YAML (or JSON), checks every RedisBackup and RedisBackupSchedule exactly as the admission
webhook would when the files are applied in order (a snapshotName used twice in one namespace is caught across
documents and files), and ignores other kinds. Each problem is printed as `FILE[:DOC]: Fault: message` (DOC is the
1-based document number, shown for streams of several documents).

Exit status: 0 all valid; 1 some are invalid; 2 a file could not be read or parsed.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from typing import Any, TextIO

import yaml

from redisbackup.api.documents import AppliedState, DocumentResult, check_documents
from redisbackup.cli.commands import summary

EXIT_VALID, EXIT_INVALID, EXIT_UNREADABLE = 0, 1, 2


@dataclass
class FileReport:
    path: str
    documents: int = 0
    results: list[DocumentResult] = field(default_factory=list)
    error: str | None = None

    def where(self, result: DocumentResult) -> str:
        return f"{self.path}:{result.index}" if self.documents > 1 else self.path


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "validate",
        help=summary("validate"),
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="YAML/JSON manifest files; - reads stdin")
    parser.add_argument("-o", "--output", choices=("text", "json"), default="text", help="output format")
    parser.add_argument(
        "-n",
        "--namespace",
        default="default",
        help="namespace of documents that name none (as kubectl's current namespace); default: default",
    )
    parser.set_defaults(handler=handle)


def _read(path: str, stdin: TextIO) -> str:
    if path == "-":
        return stdin.read()
    with open(path, encoding="utf-8") as stream:  # noqa: PTH123 - one call, errors reported per file
        return stream.read()


def check_file(path: str, namespace: str, state: AppliedState, stdin: TextIO) -> FileReport:
    report = FileReport(path="<stdin>" if path == "-" else path)
    try:
        text = _read(path, stdin)
    except (OSError, UnicodeDecodeError) as error:
        report.error = f"cannot read the file: {error}: check the path and that it is UTF-8 text"
        return report
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as error:
        report.error = f"cannot parse YAML: {' '.join(str(error).split())}: fix the syntax"
        return report
    report.documents = len(documents)
    report.results = check_documents(documents, namespace=namespace, state=state)
    return report


def _as_json(reports: list[FileReport]) -> dict[str, Any]:
    return {
        "valid": all(r.error is None and all(d.valid for d in r.results) for r in reports),
        "files": [
            {
                "file": r.path,
                "error": r.error,
                "documents": [
                    {
                        "document": d.index,
                        "kind": d.kind,
                        "name": d.name,
                        "namespace": d.namespace,
                        "valid": d.valid,
                        "violations": [v.as_dict() for v in d.violations],
                        "warnings": d.warnings,
                    }
                    for d in r.results
                ],
            }
            for r in reports
        ],
    }


def _print_text(reports: list[FileReport], out: TextIO, err: TextIO) -> None:
    checked = invalid = schedules = 0
    for report in reports:
        if report.error is not None:
            print(f"{report.path}: {report.error}", file=err)
        for result in report.results:
            checked += 1
            schedules += result.kind != "RedisBackup"
            invalid += not result.valid
            for violation in result.violations:
                print(f"{report.where(result)}: {violation}", file=out)
            for warning in result.warnings:
                print(f"{report.where(result)}: warning: {warning}", file=err)
    if checked == 0:
        print("no RedisBackup found in the input", file=err)
    elif schedules:
        print(
            f"{checked - schedules} RedisBackup(s) and {schedules} RedisBackupSchedule(s) checked, {invalid} invalid",
            file=err,
        )
    else:
        print(f"{checked} RedisBackup(s) checked, {invalid} invalid", file=err)


def run(
    paths: list[str], *, output: str = "text", namespace: str = "default", stdin: TextIO | None = None
) -> tuple[int, list[FileReport]]:
    state = AppliedState()
    reports = [check_file(path, namespace, state, stdin or sys.stdin) for path in paths]
    if output == "json":
        print(json.dumps(_as_json(reports), indent=2))
    else:
        _print_text(reports, sys.stdout, sys.stderr)
    if any(r.error is not None for r in reports):
        return EXIT_UNREADABLE, reports
    if any(not d.valid for r in reports for d in r.results):
        return EXIT_INVALID, reports
    return EXIT_VALID, reports


def handle(args: argparse.Namespace) -> int:
    code, _ = run(args.files, output=args.output, namespace=args.namespace)
    return code
