"""The config documentation, generated from the model (`hastack/config.py`): Pulumi.yaml and the README.

Two places document the `hastack:` keys and both must say what the model does:

* `Pulumi.yaml`'s `template.config`: every top-level key with its description (the field's
  `description`) and, for an object, the keys inside it;
* the README's key table (between the `config-keys` markers): every key, its default and what is
  allowed (the same words as the error lines).

`tests/test_config_docs.py` compares both with this rendering. After changing the model:

    .venv/bin/python -m tests.config_docs --write
"""

from __future__ import annotations

import sys
import textwrap

from hastack.config import KNOWN_KEYS, NAMESPACE, StackConfig, reference
from hastack.paths import REPO_ROOT

PULUMI_YAML = REPO_ROOT / "Pulumi.yaml"
README = REPO_ROOT / "README.md"
#: Pulumi.yaml is generated from this line to the end.
TEMPLATE_HEAD = "# Every config key (namespace `hastack`) is documented here"
TABLE_START = "<!-- config-keys:start (generated: python -m tests.config_docs --write) -->"
TABLE_END = "<!-- config-keys:end -->"


def key_description(key: str) -> str:
    """A top-level key's description; for an object, followed by the keys inside it."""
    field = next(f for name, f in StackConfig.model_fields.items() if key in (f.alias, name))
    inside = [r.key[len(key):].lstrip(".") for r in reference() if r.key.startswith((f"{key}.", f"{key}[]."))]
    text = field.description or ""
    if inside and all(k.startswith("[].") for k in inside):
        return f"{text} Keys of each entry: {', '.join(k[3:] for k in inside)}."
    if inside and inside != ["<region>"]:
        return f"{text} Keys: {', '.join(inside)}."
    return text


def template_block() -> str:
    """The end of Pulumi.yaml: the comment and `template.config`, one entry per key of the model."""
    lines = [
        f"{TEMPLATE_HEAD}. Generated from the model in hastack/config.py",
        "# (python -m tests.config_docs --write): values live in Pulumi.<stack>.yaml and are validated all at once",
        "# before any resource is declared; README.md lists every nested key with its default and what is allowed.",
        "template:",
        "  config:",
    ]
    for key in KNOWN_KEYS:
        lines.append(f"    {NAMESPACE}:{key}:")
        lines.append("      description: >-")
        lines += textwrap.wrap(key_description(key), width=110, initial_indent=" " * 8, subsequent_indent=" " * 8,
                               break_on_hyphens=False)
    return "\n".join(lines) + "\n"


def key_table() -> str:
    """The README's table of every key: default and what is allowed."""
    rows = ["| key | default | allowed |", "|-----|---------|---------|"]
    for r in reference():
        default = "required" if r.default is None else "none" if r.default in ("{}", "[]") else f"`{r.default}`"
        rows.append(f"| `{r.key}` | {default} | {r.allowed.replace('|', '/')} |")
    return "\n".join([TABLE_START, *rows, TABLE_END])


def pulumi_yaml_text(current: str) -> str:
    head, marker, _ = current.partition(TEMPLATE_HEAD)
    assert marker, f"{PULUMI_YAML}: no line starting with {TEMPLATE_HEAD!r}"
    return head + template_block()


def readme_text(current: str) -> str:
    head, start, rest = current.partition(TABLE_START)
    _, end, tail = rest.partition(TABLE_END)
    assert start and end, f"{README}: no {TABLE_START} ... {TABLE_END} block"
    return head + key_table() + tail


def write_all() -> None:
    for path, render in ((PULUMI_YAML, pulumi_yaml_text), (README, readme_text)):
        path.write_text(render(path.read_text()))
        print(f"wrote {path.relative_to(REPO_ROOT)}")


def _main(argv: list[str]) -> None:
    if argv != ["--write"]:
        sys.exit("usage: python -m tests.config_docs --write")
    write_all()


if __name__ == "__main__":
    _main(sys.argv[1:])
