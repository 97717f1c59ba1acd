"""Machine translation: SentencePiece subwords, the core attentional encoder-decoder, beam search,
sacreBLEU, and the ``translate`` / ``evaluate`` commands (see docs/translation.md)."""
