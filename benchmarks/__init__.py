"""Speed benchmarks and the peer comparison (``make bench``, ``make bench-peers``); not part of the wheel."""
