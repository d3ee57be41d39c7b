"""What the README promises about the commands agrees with the Makefile that runs them."""

import re

from kernel.config import BASE_DIR


def test_the_readme_and_the_makefile_give_make_proof_the_same_duration():
    readme = (BASE_DIR / "README.md").read_text()
    makefile = (BASE_DIR / "Makefile").read_text()
    [in_readme] = re.findall(r"`make proof` \(about (\d+) minutes", readme)
    [in_makefile] = re.findall(r"About (\d+) minutes\.", makefile.split("\nproof:")[0].rsplit("\n\n", 1)[-1])
    assert in_readme == in_makefile


def test_the_readme_says_how_long_make_test_takes():
    assert re.search(r"`make test` takes about \d+(–\d+)? minutes", (BASE_DIR / "README.md").read_text())
