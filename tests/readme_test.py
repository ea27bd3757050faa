"""The README's quickstart stays true to what CI and the presets do."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def quickstart_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", section, re.S)]


def test_quickstart_is_two_commands():
    commands = quickstart_commands()
    assert len(commands) == 2
    assert all("\n" not in c for c in commands)


def test_ci_installs_and_tests_as_the_readme_says():
    install, test = quickstart_commands()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pip install -e '.[test]'" in install
    assert "pip install --quiet -e '.[test]'" in ci
    assert ci.rstrip().splitlines()[-1] == test


def test_quickstart_preset_exists():
    install, _ = quickstart_commands()
    preset = re.search(r"-flagfile (\S+)", install).group(1)
    assert (ROOT / preset).is_file()
