import sys

from models.synthetic import main

sys.exit(main())
