"""Core modules: recurrent stacks and reference cells, attention, encoder, decoder, models."""

from seq2seq.nn.attention import Attention
from seq2seq.nn.decoder import Decoder, DecoderState
from seq2seq.nn.encoder import Encoder, InputLayer
from seq2seq.nn.models import Classifier, EncoderDecoder, LanguageModel, Tagger, build_model, length_mask
from seq2seq.nn.rnn import RecurrentStack, ReferenceRNN

__all__ = [
    "Attention", "Classifier", "Decoder", "DecoderState", "Encoder", "EncoderDecoder", "InputLayer",
    "LanguageModel", "RecurrentStack", "ReferenceRNN", "Tagger", "build_model", "length_mask",
]  # fmt: skip
