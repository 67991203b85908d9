"""`python -m checks`: run the claim checks and write reports/ (see checks.cli)."""

from checks.cli import main

raise SystemExit(main())
