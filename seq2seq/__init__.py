"""seq2seq: recurrent sequence models in PyTorch (tanh-RNN, LSTM, GRU; encoder-decoder with
attention, taggers, language models) with recipes for video labelling, translation and music."""

__version__ = "0.1.0"
