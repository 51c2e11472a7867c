"""MkDocs hook: the protocol page names every flag of ``python -m bench``.

The flags are read from the parser itself (``bench.__main__.build_parser``), so a flag added to
the command line without a line on docs/protocol.md fails ``mkdocs build --strict``.
"""

from __future__ import annotations

import re

from mkdocs.exceptions import PluginError

PAGE = "protocol.md"


def cli_flags() -> list[str]:
    """Every long option of ``python -m bench`` but --help."""
    from bench.__main__ import build_parser

    # argparse has no public list of its actions; _actions is what format_help itself reads
    flags = {option for action in build_parser()._actions for option in action.option_strings}
    return sorted(flag for flag in flags if flag.startswith("--") and flag != "--help")


def on_page_markdown(markdown, page, config, files):
    if page.file.src_uri != PAGE:
        return markdown
    named = set(re.findall(r"`(--[a-z][a-z0-9-]*)", markdown))
    missing = [flag for flag in cli_flags() if flag not in named]
    if missing:
        raise PluginError(
            f"docs/{PAGE} does not describe {', '.join(missing)}: add a line for each"
        )
    return markdown
