"""``cultureclip validate-dataset OUT``."""

from __future__ import annotations

from pathlib import Path

from cultureclip.cli_args import ArgumentParser
from cultureclip.errors import UserError
from cultureclip.references import check_reference

from .validate import CLIP_MAX_TOKENS, DEFAULT_TOKENIZER, validate_release


def main(argv: list[str]) -> int:
    parser = ArgumentParser(
        prog="cultureclip validate-dataset",
        description=(
            "Check a CulTwin release folder: card configs, schema, that every image decodes, split "
            "leakage by twin pair, duplicate rows and captions over CLIP's token limit. Exits 1 with "
            "a report naming the bad rows."
        ),
        epilog="examples:\n"
        "  cultureclip validate-dataset releases/cultwin\n"
        "  HF_HUB_OFFLINE=1 cultureclip validate-dataset releases/cultwin --tokenizer tiny-models/clip",
    )
    parser.add_argument("output_dir", metavar="OUT", help="a folder written by 'cultureclip build-dataset'")
    parser.add_argument(
        "--tokenizer",
        default=DEFAULT_TOKENIZER,
        help="tokenizer the captions are measured with: a Hub id or a local CLIP folder (offline: a local one)",
    )
    parser.add_argument("--max-tokens", type=int, default=CLIP_MAX_TOKENS, help="the longest caption, in tokens")
    args = parser.parse_args(argv)
    if not Path(args.output_dir).is_dir():
        raise UserError(f"OUT {args.output_dir!r} not found: pass a folder written by 'cultureclip build-dataset'.")
    check_reference(args.tokenizer, "--tokenizer")
    report = validate_release(args.output_dir, tokenizer=args.tokenizer, max_tokens=args.max_tokens)
    print(report.format())
    return 0 if report.ok else 1
