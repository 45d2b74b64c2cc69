import sys

from models.report.page import main

sys.exit(main())
