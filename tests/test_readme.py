"""README.md's Python examples run on their own and print what the README says they print.

Each ```python block is executed in a fresh interpreter (the examples promise to be
self-contained). The first prints three mean distances to 3 decimals, stated in the prose after
it; the second prints the hit frequencies stated in its last comment. The samples come from
seeded NumPy generators and elementwise arithmetic, whose results do not depend on the BLAS; a
difference in the last printed digit would need a relative change of 5e-4, far above rounding.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path


README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def _run(block: str) -> str:
    done = subprocess.run([sys.executable, "-c", block], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_there_are_two_examples():
    assert len(BLOCKS) == 2


def test_landing_example_prints_the_stated_distances():
    out = _run(BLOCKS[0])
    printed = re.findall(r"mean distance to M (\d\.\d{3})", out)
    stated = re.search(r"It prints (\d\.\d{3}), (\d\.\d{3}) and (\d\.\d{3})", README.read_text()).groups()
    assert printed == list(stated), out


def test_ancestral_example_prints_the_stated_frequencies():
    out = _run(BLOCKS[1])
    stated = re.search(r"# \[([\d. ]+)\]: about 1/3 each", BLOCKS[1]).group(1)
    assert re.findall(r"\d\.\d+", out) == stated.split(), (out, stated)
