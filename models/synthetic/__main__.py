"""``python -m models.synthetic murmur|ecg|pcg2016 OUT_DIR ...``; see ``cli`` for the options."""

from models.synthetic.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
