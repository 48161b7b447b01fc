"""``cultureclip validate-dataset OUT``."""

from __future__ import annotations

import argparse
import sys

from .validate import CLIP_MAX_TOKENS, DEFAULT_TOKENIZER, validate_release


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="cultureclip validate-dataset",
        description=(
            "Check a CulTwin release folder: card configs, schema, that every image decodes, split "
            "leakage by twin pair, duplicate rows and captions over CLIP's token limit. Exits 1 with "
            "a report naming the bad rows."
        ),
    )
    parser.add_argument("output_dir", metavar="OUT", help="a folder written by 'cultureclip build-dataset'")
    parser.add_argument(
        "--tokenizer",
        default=DEFAULT_TOKENIZER,
        help="tokenizer the captions are measured with (default: %(default)s)",
    )
    parser.add_argument("--max-tokens", type=int, default=CLIP_MAX_TOKENS, help="default: %(default)s")
    args = parser.parse_args(argv)
    try:
        report = validate_release(args.output_dir, tokenizer=args.tokenizer, max_tokens=args.max_tokens)
    except ValueError as error:
        print(f"cultureclip validate-dataset: error: {error}", file=sys.stderr)
        return 2
    print(report.format())
    return 0 if report.ok else 1
