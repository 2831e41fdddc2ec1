"""The README and docs/: links resolve, the generated reference is current, the examples run, the
findings quoted in the README are the paper's, and every command they show exists."""
from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return {_slug(m.group(1)) for m in re.finditer(r"^#+ (.+)$", text, re.M)}


def broken_links(pages=PAGES, root: Path = REPO) -> list[str]:
    """Relative links (file, and #anchor where given) of ``pages`` that do not resolve; pages named
    relative to ``root``."""
    bad = []
    for page in pages:
        text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
        for target in LINK.findall(text):
            if re.match(r"[a-z]+:", target):  # http(s), mailto: not checked here (no network)
                continue
            path, _, anchor = target.partition("#")
            dest = (page.parent / path).resolve() if path else page
            if not dest.exists():
                bad.append(f"{page.relative_to(root)}: {target} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
                bad.append(f"{page.relative_to(root)}: {target} (no such heading)")
    return bad


def test_every_link_resolves():
    assert broken_links() == []


def test_the_link_checker_finds_a_broken_link(tmp_path):
    page = tmp_path / "p.md"
    page.write_text("# A title\n[ok](p.md#a-title) [gone](missing.md) [bad anchor](p.md#nope) [web](https://x.org)\n"
                    "```\n[in code](ignored.md)\n```\n")
    assert broken_links([page], tmp_path) == ["p.md: missing.md (no such file)", "p.md: p.md#nope (no such heading)"]


def test_the_generated_reference_is_current():
    from bench.cli import build_parser
    from bench.reference import generate
    for name, text in generate(build_parser).items():
        path = REPO / "docs" / "reference" / name
        assert path.is_file() and path.read_text() == text, f"{path}: run `python -m bench reference`"


def test_readme_is_short_and_quotes_the_papers_findings():
    from paper.readme import quoted
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    summary = REPO / "paper" / "build" / "findings-summary.md"
    assert quoted(readme).rstrip() == summary.read_text().rstrip(), "run `python -m paper.readme`"


def test_the_readme_splice_replaces_only_its_block():
    from paper.readme import spliced
    text = "intro\n<!-- findings:start -->\nold\n<!-- findings:end -->\nrest\n"
    assert spliced(text, "new\n") == "intro\n<!-- findings:start -->\nnew\n<!-- findings:end -->\nrest\n"
    with pytest.raises(ValueError, match="no <!-- findings:start -->"):
        spliced("no block", "x")


def test_every_bench_command_shown_exists():
    from bench.cli import build_parser
    subs = next(a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction").choices
    shown = set()
    for page in PAGES:
        shown |= set(re.findall(r"python -m bench(?:\.([\w.]+))? ([a-z][\w-]*)", page.read_text()))
    missing = [f"python -m bench {cmd}" for mod, cmd in shown if not mod and cmd not in subs]
    modules = {mod for mod, _ in shown if mod}
    missing += [f"python -m bench.{m}" for m in modules if importlib.util.find_spec(f"bench.{m}") is None]
    assert missing == [] and shown


def _code_blocks(page: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", (REPO / "docs" / page).read_text(), re.S)


def test_the_add_a_tuner_example_keeps_the_contract(tmp_path):
    """The page's module, registered as its line says, passes every contract check, and its suite loads."""
    from methods import PARAMS, REGISTRY
    from tests import test_methods_contract as contract
    module_code, line = _code_blocks("add-a-tuner.md", "python")[:2]
    name = re.search(r'"([\w-]+)":\s+\("(\w+)", "make", "Params"\)', line)
    assert name, line
    method, module_name = name.groups()
    path = tmp_path / f"{module_name}.py"
    path.write_text(module_code)
    spec = importlib.util.spec_from_file_location(f"methods.{module_name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        REGISTRY[method], PARAMS[method] = module.make, module.Params
        for check in (contract.test_asks_are_inside_space_and_budget, contract.test_deterministic_for_a_seed,
                      contract.test_survives_failed_trials, contract.test_stops_cleanly_at_max_configs,
                      contract.test_telling_twice_is_an_error, contract.test_table_sampling_asks_only_candidates):
            check(method, tmp_path / check.__name__)
        from bench.config.suite import load_suite
        suite_file = tmp_path / "my-suite.toml"
        suite_file.write_text(_code_blocks("add-a-tuner.md", "toml")[0])
        suite = load_suite(suite_file)
        assert [m.method for m in suite.methods] == [method, "random-search"]
        assert suite.budgets == [357 / 27, 714 / 27, 1428 / 27]
    finally:
        sys.modules.pop(spec.name, None)
        del REGISTRY[method], PARAMS[method]
