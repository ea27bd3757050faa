"""docs/architecture.md stays true: it names every module of the package, and only those."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_architecture_page_names_every_module_once():
    text = (ROOT / "docs" / "architecture.md").read_text()
    named = re.findall(r"^\| `(tf_style/[\w/]+\.py)` \|", text, flags=re.M)
    modules = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tf_style").rglob("*.py"))
    assert len(named) == len(set(named)), "a module is listed twice"
    assert sorted(named) == modules, {
        "missing from the page": sorted(set(modules) - set(named)),
        "named but not in the package": sorted(set(named) - set(modules)),
    }


def test_no_module_is_much_over_400_lines():
    long = {
        str(p.relative_to(ROOT)): n
        for p in (ROOT / "tf_style").rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 420
    }
    assert not long, long
