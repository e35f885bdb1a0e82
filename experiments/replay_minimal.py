"""Smallest classes that are not properly generatable in the limit with replay (REFERENCES section 5): the
claim ``racca-replay`` of ``collapsim reproduce`` (src/collapsim/claims/racca_replay.py: every class of 1..5
languages on at most 8 cells decided, every failing certificate re-checked by the independent checker, the
four-language class of Theorem 6.3/7.3 tested for minimality). For the search table alone:
``collapsim replay search``.

    python3 experiments/replay_minimal.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import sys

from collapsim.claims import racca_replay


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the claim's --quick search (3 languages, 4 cells)")
    args = ap.parse_args(argv)
    res = racca_replay.CLAIM.run(args.quick)
    print(f"{res.verdict}: {res.reason}")
    print(json.dumps(res.details, indent=1))
    return 0 if res.details["certificates_rejected"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
