"""The four model kinds, all built from a ``ModelConfig`` and the data's ``Dims`` by
``build_model`` (the one place).

- ``EncoderDecoder``: sequence to sequence (translation), attention and input feeding.
- ``Tagger``: one label per input step (video frames); bidirectional offline, or causal
  (unidirectional) for streaming with carried state.
- ``LanguageModel``: next-step prediction (music, text); softmax over a vocabulary, or for
  multi-hot frames independent sigmoids or a NADE over the keys (``model.frame_output``).
- ``Classifier``: one class per sequence (a sentence's sentiment, a clip's action): the encoder,
  a pooling over time (``seq2seq.nn.pooling``), a linear layer to the classes.
- ``Captioner``: feature vectors (an image's grid cells, a clip's frames) to a sentence: their
  mean starts the decoder, which attends over them or not (``seq2seq.nn.captioner``).
- ``QuestionAnswerer`` (``seq2seq.nn.vqa``): a question and an image grid in, an answer out, with
  attention over the grid conditioned on the question.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn

from seq2seq.config import ConfigError, ModelConfig
from seq2seq.nn.captioner import Captioner
from seq2seq.nn.decoder import DecoderState, decoder_for
from seq2seq.nn.encoder import Encoder, InputLayer
from seq2seq.nn.nade import Nade
from seq2seq.nn.pooling import Pooling
from seq2seq.nn.rnn import RecurrentStack, State
from seq2seq.nn.vqa import QuestionAnswerer

KINDS = ("encoder_decoder", "tagger", "language_model", "classifier", "captioner", "vqa")

# The [model] keys each kind reads; a recipe that sets another one is refused at load.
_COMMON = {"kind", "cell", "embed_dim", "hidden_size", "layers", "dropout", "embed_dropout", "word_dropout"}
READS: dict[str, frozenset[str]] = {
    "encoder_decoder": frozenset(_COMMON | {"decoder_layers", "bidirectional", "attention", "input_feeding", "bridge",
                                            "tie_embeddings", "share_embeddings"}),
    "tagger": frozenset(_COMMON | {"bidirectional"}),
    "language_model": frozenset(_COMMON | {"tie_embeddings", "frame_output", "nade_hidden"}),
    "classifier": frozenset(_COMMON | {"bidirectional", "pooling"}),
    "captioner": frozenset(_COMMON | {"attention", "input_feeding", "tie_embeddings"}),
    "vqa": frozenset(_COMMON | {"bidirectional", "attention", "hops", "image"}),
}  # fmt: skip


@dataclass(frozen=True)
class Dims:
    """What the data decides about a model: returned by ``Task.prepare()``, stored in checkpoints
    (so inference rebuilds the model from the file alone), never written into the config.

    Token inputs have ``input_vocab`` > 0, feature inputs ``input_dim`` > 0 (exactly one of them);
    ``output_size`` counts classes, target vocabulary or keys; ``output`` is ``softmax`` over them
    or independent ``sigmoid`` outputs (multi-hot frames such as piano-roll keys); ``image_dim`` > 0
    is the size of a second input's feature vectors (VQA: an image grid's cells); ``grid`` > 0
    says the input vectors are the cells of a ``grid`` x ``grid`` feature map, row-major (image
    captions), 0 that they are a sequence."""

    output_size: int
    input_vocab: int = 0
    input_dim: int = 0
    output: Literal["softmax", "sigmoid"] = "softmax"
    pad_id: int = 0
    bos_id: int = 1
    eos_id: int = 2
    image_dim: int = 0
    grid: int = 0

    def __post_init__(self) -> None:
        if (self.input_vocab > 0) == (self.input_dim > 0):
            raise ValueError(f"Dims: give input_vocab or input_dim, not {self.input_vocab} and {self.input_dim}")
        if self.output_size <= 0 or self.output not in ("softmax", "sigmoid"):
            raise ValueError(f"Dims: bad output {self.output_size} / {self.output!r}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def length_mask(lengths: Tensor, steps: int, device: torch.device | None = None) -> Tensor:
    """(batch,) lengths -> (batch, steps) bool, True at real steps."""
    # non_blocking: a pinned batch (CUDA loaders pin) copies without waiting for the device
    lengths = lengths.to(device, non_blocking=True) if device is not None else lengths
    return torch.arange(steps, device=lengths.device)[None, :] < lengths[:, None]


class EncoderDecoder(nn.Module):
    """Bidirectional encoder, a bridge to the decoder's initial state, an attentional decoder."""

    kind = "encoder_decoder"

    def __init__(self, cfg: ModelConfig, dims: Dims, reference: bool = False) -> None:
        super().__init__()
        dec_layers = cfg.decoder_layers or cfg.layers
        self.encoder = encoder(cfg, dims, reference)
        self.decoder = decoder_for(cfg, dims, dec_layers, self.encoder.output_size, reference)
        if cfg.share_embeddings:
            if dims.input_vocab != dims.output_size:
                raise ConfigError("model.share_embeddings needs one joint vocabulary for source and target")
            self.encoder.inputs.embed.weight = self.decoder.embed.weight
        self.dec_layers = dec_layers
        self.enc_layers = cfg.layers
        self.directions = self.encoder.rnn.directions
        self.bridge = None
        if cfg.bridge:
            n_states = 2 if cfg.cell == "lstm" else 1
            self.bridge = nn.ModuleList(nn.Linear(self.encoder.output_size, cfg.hidden_size) for _ in range(n_states))
        self.bos_id, self.eos_id, self.pad_id = dims.bos_id, dims.eos_id, dims.pad_id

    def _bridge(self, final: State, batch: int) -> State:
        """Encoder final states (enc_layers * dirs, batch, H) -> decoder initial (dec_layers, batch, H)."""
        if self.bridge is None:
            return self.decoder.rnn.zero_state(batch, final[0].device, final[0].dtype)
        out = []
        # made on the state's device: a CPU index copied over would make the host wait every step
        pick = torch.arange(self.dec_layers, device=final[0].device).clamp_(max=self.enc_layers - 1)
        for s, linear in zip(final, self.bridge, strict=True):
            # (layers * dirs, batch, H) -> (layers, batch, dirs * H): both directions of a layer
            s = (
                s.view(self.enc_layers, self.directions, batch, -1)
                .permute(0, 2, 1, 3)
                .reshape(self.enc_layers, batch, -1)
            )
            out.append(torch.tanh(linear(s[pick])))
        return tuple(out)

    def start(self, src: Tensor, src_lengths: Tensor) -> DecoderState:
        """Encode a batch. src: (batch, src) ids; src_lengths: (batch,) on the CPU."""
        memory, final = self.encoder(src, src_lengths)
        mask = length_mask(src_lengths, src.size(1), memory.device)
        return self.decoder.init_state(self._bridge(final, src.size(0)), memory, mask)

    def forward(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor) -> Tensor:
        """Teacher-forced logits (batch, tgt, vocab) for decoder inputs tgt_in (batch, tgt)."""
        logits, _ = self.decoder(tgt_in, self.start(src, src_lengths))
        return logits

    def step(self, tokens: Tensor, state: DecoderState) -> tuple[Tensor, DecoderState]:
        """Search interface: previous tokens (batch,) -> next-token logits (batch, vocab)."""
        logits, state, _ = self.decoder.step(tokens, state)
        return logits, state


class Tagger(nn.Module):
    """A label for every input step: input layer, recurrent stack, per-step classifier."""

    kind = "tagger"

    def __init__(self, cfg: ModelConfig, dims: Dims, reference: bool = False) -> None:
        super().__init__()
        self.encoder = encoder(cfg, dims, reference)
        self.dropout = nn.Dropout(cfg.dropout)
        self.classifier = nn.Linear(self.encoder.output_size, dims.output_size)
        self.causal = not cfg.bidirectional

    def forward(self, x: Tensor, lengths: Tensor | None = None, state: State | None = None) -> tuple[Tensor, State]:
        """x: (batch, time) ids or (batch, time, input_dim) features -> logits (batch, time,
        classes) and the final state (meaningful to carry only for a causal tagger)."""
        out, state = self.encoder(x, lengths, state)
        return self.classifier(self.dropout(out)), state


class LanguageModel(nn.Module):
    """Predicts step t+1 from steps <= t: x_1..x_T in, logits for x_2..x_{T+1} out."""

    kind = "language_model"

    def __init__(self, cfg: ModelConfig, dims: Dims, reference: bool = False) -> None:
        super().__init__()
        self.inputs = InputLayer(
            vocab=dims.input_vocab,
            input_dim=dims.input_dim,
            embed_dim=cfg.embed_dim,
            dropout=cfg.embed_dropout,
            word_dropout=cfg.word_dropout,
            pad_id=dims.pad_id,
        )
        self.rnn = RecurrentStack(
            cfg.cell, cfg.embed_dim, cfg.hidden_size, cfg.layers, bidirectional=False, dropout=cfg.dropout,
            reference=reference,
        )  # fmt: skip
        self.dropout = nn.Dropout(cfg.dropout)
        self.output = dims.output
        tie = cfg.tie_embeddings
        if tie and not (self.inputs.tokens and dims.input_vocab == dims.output_size):
            raise ConfigError("model.tie_embeddings needs token inputs whose vocabulary is the output's")
        self.project = (
            nn.Linear(cfg.hidden_size, cfg.embed_dim, bias=False)
            if tie and cfg.hidden_size != cfg.embed_dim
            else nn.Identity()
        )
        # A joint frame output (NADE) models the keys of a multi-hot frame together; its logits
        # are each key's conditional given the keys below it, so it needs the frame it scores.
        self.joint = cfg.frame_output == "nade"
        if self.joint and dims.output != "sigmoid":
            raise ConfigError("model.frame_output = nade models multi-hot frames (the music task); a softmax "
                              "output is already one joint choice per step: use frame_output = sigmoid")  # fmt: skip
        size = cfg.embed_dim if tie else cfg.hidden_size
        self.head = Nade(size, dims.output_size, cfg.nade_hidden) if self.joint else nn.Linear(size, dims.output_size)
        if tie:
            self.head.weight = self.inputs.embed.weight

    def features(self, x: Tensor, lengths: Tensor | None = None, state: State | None = None) -> tuple[Tensor, State]:
        """x: (batch, time) ids or (batch, time, input_dim) frames -> the output layer's input
        (batch, time, size) and the final state."""
        out, state = self.rnn(self.inputs(x), lengths, state)
        return self.project(self.dropout(out)), state

    def forward(
        self, x: Tensor, lengths: Tensor | None = None, state: State | None = None, targets: Tensor | None = None
    ) -> tuple[Tensor, State]:
        """x: (batch, time) ids or (batch, time, input_dim) frames -> logits (batch, time, out).
        A joint frame output needs ``targets`` (batch, time, keys), the frames that follow the
        inputs (teacher forcing): its logits are each key's given the keys below it."""
        out, state = self.features(x, lengths, state)
        if self.joint:
            if targets is None:
                raise ValueError("a joint (nade) frame output scores given frames: pass targets, or sample "
                                 "with seq2seq.music.generate")  # fmt: skip
            return self.head(out, targets), state
        return self.head(out), state

    def step(self, x: Tensor, state: State | None) -> tuple[Tensor, State]:
        """Search interface: one step, x (batch,) ids or (batch, input_dim) -> logits (batch, out)."""
        logits, state = self(x[:, None], None, state)
        return logits[:, 0], state


class Classifier(nn.Module):
    """One class per sequence: input layer, (bi)directional stack, pooling over the real steps
    (``model.pooling``), dropout, a linear layer to the classes."""

    kind = "classifier"

    def __init__(self, cfg: ModelConfig, dims: Dims, reference: bool = False) -> None:
        super().__init__()
        self.encoder = encoder(cfg, dims, reference)
        self.pool = Pooling(cfg.pooling, self.encoder.output_size, self.encoder.rnn.directions)
        self.dropout = nn.Dropout(cfg.dropout)
        self.classifier = nn.Linear(self.encoder.output_size, dims.output_size)

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        """x: (batch, time) ids or (batch, time, input_dim) features; lengths: (batch,) >= 1 on the
        CPU. Returns logits (batch, classes)."""
        out, _ = self.encoder(x, lengths)
        return self.classifier(self.dropout(self.pool(out, lengths)))

    def attention(self, x: Tensor, lengths: Tensor) -> Tensor:
        """Attention pooling's weights (batch, time) over each sequence's steps (0 at padding)."""
        if self.pool.kind != "attention":
            raise ValueError(f"a classifier with {self.pool.kind} pooling has no attention weights")
        out, _ = self.encoder(x, lengths)
        return self.pool.weights(out, lengths)


def encoder(cfg: ModelConfig, dims: Dims, reference: bool = False) -> Encoder:
    """The input layer and (bi)directional stack of an encoder-decoder, a tagger or a classifier."""
    return Encoder(
        cell=cfg.cell,
        vocab=dims.input_vocab,
        input_dim=dims.input_dim,
        embed_dim=cfg.embed_dim,
        hidden_size=cfg.hidden_size,
        layers=cfg.layers,
        bidirectional=cfg.bidirectional,
        dropout=cfg.dropout,
        embed_dropout=cfg.embed_dropout,
        word_dropout=cfg.word_dropout,
        pad_id=dims.pad_id,
        reference=reference,
    )


MODELS: dict[str, type[nn.Module]] = {
    m.kind: m for m in (EncoderDecoder, Tagger, LanguageModel, Classifier, Captioner, QuestionAnswerer)
}


def build_model(cfg: ModelConfig, dims: Dims, reference: bool = False) -> nn.Module:
    """The one place a model is built: the architecture from the config, the sizes from the data.
    ``reference=True`` swaps the fused recurrent kernels for the readable cells (same parameters;
    for inspection)."""
    try:
        return MODELS[cfg.kind](cfg, dims, reference)
    except ValueError as e:
        raise ConfigError(f"model: {e}") from None
