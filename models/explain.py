"""``python -m models.explain MODEL DATA ID OUT.png``: where a network looked, drawn by its
attention weights or by Grad-CAM, as the figure says (the library is
``models.report.explain``)."""

import sys

from models.report.explain import main

if __name__ == "__main__":
    sys.exit(main())
