"""Character-level language models (char-rnn style): the ``text`` task, generation, inspection."""
