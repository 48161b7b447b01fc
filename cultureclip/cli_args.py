"""The command-line conventions every ``cultureclip`` command shares.

- One flag style: ``--output-dir``; ``--output_dir`` is accepted as an alias everywhere.
- Help that shows each option's default, and usage examples laid out as written.
- One way to override a config value: ``--set key.sub=value`` (the value is read as YAML:
  ``null``, numbers, booleans, ``[a, b]``).
- Hub repo ids checked with huggingface_hub's validator while the arguments are parsed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from .errors import UserError


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps descriptions and example epilogs as written and appends each option's default."""

    def _get_help_string(self, action: argparse.Action) -> str:
        help_ = action.help or ""
        default = action.default
        if (
            not action.option_strings
            or "%(default)" in help_
            or default is None
            or default is False
            or default is argparse.SUPPRESS
            or default == []
        ):
            return help_
        return f"{help_} (default: %(default)s)"


def dashed(argv: list[str]) -> list[str]:
    """``--output_dir x`` -> ``--output-dir x``: the underscore spelling of a long flag is an alias.

    Only flag names change (``--set a_b=1`` keeps its value); nothing after ``--`` changes.
    """
    result = []
    for index, arg in enumerate(argv):
        if arg == "--":
            return result + argv[index:]
        if arg.startswith("--") and "_" in arg.partition("=")[0]:
            name, sep, value = arg.partition("=")
            arg = name.replace("_", "-") + sep + value
        result.append(arg)
    return result


class ArgumentParser(argparse.ArgumentParser):
    """`argparse.ArgumentParser` with the project's help layout and underscore flag aliases."""

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def parse_known_args(self, args=None, namespace=None):
        return super().parse_known_args(dashed(list(sys.argv[1:] if args is None else args)), namespace)

    def error(self, message: str):
        """One line, ``<prog>: error: ...``, exit 2 (the usage is one ``--help`` away)."""
        one_line_error(self.prog, message)


def one_line_error(prog: str, message: str) -> NoReturn:
    """Prints ``<prog>: error: <message>`` on one line and exits 2, as every command does."""
    print(f"{prog}: error: {message.rstrip('.')}. See '{prog} --help'.", file=sys.stderr)
    raise SystemExit(2)


def add_set_option(parser: argparse.ArgumentParser, example: str, aliases: tuple[str, ...] = ()) -> None:
    """Adds ``--set KEY=VALUE`` (repeatable), the one override syntax of generate, train and evaluate."""
    parser.add_argument(
        "--set",
        *aliases,
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"override one config value, the value read as YAML (repeatable), e.g. --set {example}",
    )


def parse_assignments(
    values: list[str], flag: str = "--set", text: Callable[[str], bool] = lambda key: False
) -> dict[str, Any]:
    """``["a.b=1", "c=[x, y]", "d=none"]`` -> ``{"a.b": 1, "c": ["x", "y"], "d": None}``.

    Values are read as YAML (``none`` too means ``None``), except that the keys for which
    ``text(key)`` holds keep their value as written (names such as a split ``"2024"`` or a revision).
    """
    import yaml

    parsed = {}
    for item in values:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key or not raw:
            raise UserError(f"{flag} {item!r} is not KEY=VALUE, e.g. {flag} captions.per_concept=2.")
        if raw.strip().lower() in ("none", "null", "~"):
            parsed[key] = None
        elif text(key) and not raw.lstrip().startswith("["):
            parsed[key] = raw
        else:
            try:
                parsed[key] = yaml.safe_load(raw)
            except yaml.YAMLError:
                parsed[key] = raw
    return parsed


def repo_id(text: str) -> str:
    """An argparse ``type``: a valid Hub repo id (``org/name``), checked before anything runs."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(text)
    except HFValidationError as error:
        reason = str(error).splitlines()[0]
        raise argparse.ArgumentTypeError(f"{text!r} is not a Hub repo id (org/name): {reason}") from None
    return text
