"""Imported first by benchmarks: drop this folder from sys.path.

Why: `scripts/bench/chain.py` (the name the issue gives) would otherwise shadow the `chain`
package for every script run from this folder.
"""

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
