"""``python -m models.explain MODEL DATA ID OUT.png``: where an attention network looked
(the library is ``models.report.explain``)."""

import sys

from models.report.explain import main

if __name__ == "__main__":
    sys.exit(main())
