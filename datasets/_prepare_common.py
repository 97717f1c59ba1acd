"""What the ``prepare_*.py`` scripts share: bounded downloads and name checks, from
``seq2seq.download`` (the package's own data preparation uses the same code).

Each script catches ``PrepareError`` in its ``main`` and prints ``prepare_NAME: error: MESSAGE``
(one line, exit status 2).
"""

from seq2seq.download import NotFound, PrepareError, download, plain_name

__all__ = ["NotFound", "PrepareError", "download", "plain_name"]
