"""SentencePiece subwords (unigram or BPE; one joint model or one per side), kept as model bytes.

The model bytes go into the checkpoint's task state, so ``translate`` needs only the checkpoint.
Special ids match ``ModelConfig``: pad 0, bos 1, eos 2, unk 3; a SentencePiece model built
with other ids is refused (its ids would index the wrong embeddings).
"""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sentencepiece as spm

from seq2seq.errors import DataError

PAD, BOS, EOS, UNK = 0, 1, 2, 3
TYPES = ("unigram", "bpe")
MODES = ("joint", "separate")


class SubwordError(DataError):
    """A SentencePiece model that is missing, unreadable or does not fit; the message says which."""


def train(sentences: Sequence[str], vocab_size: int, model_type: str, where: str) -> bytes:
    """Train a SentencePiece model on ``sentences``; returns the serialised model.

    ``hard_vocab_limit=False`` lets a small corpus get fewer pieces than asked instead of failing.
    """
    if model_type not in TYPES:
        raise SubwordError(f"data.subword_type '{model_type}': use one of {', '.join(TYPES)}")
    if vocab_size < 8:
        raise SubwordError(f"data.vocab_size {vocab_size}: need at least 8 (4 special ids and some pieces)")
    text = [s for s in sentences if s.strip()]
    if not text:
        raise SubwordError(f"{where}: no text to train a SentencePiece model on")
    buf = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(text),
            model_writer=buf,
            vocab_size=vocab_size,
            model_type=model_type,
            character_coverage=1.0,
            pad_id=PAD,
            bos_id=BOS,
            eos_id=EOS,
            unk_id=UNK,
            hard_vocab_limit=False,
            input_sentence_size=0,  # every sentence: no sampling, so the model is reproducible
            num_threads=1,
            minloglevel=2,
        )
    except RuntimeError as e:
        raise SubwordError(f"{where}: SentencePiece training failed: {str(e).strip().splitlines()[-1]}") from None
    return buf.getvalue()


def load(proto: bytes, where: str) -> spm.SentencePieceProcessor:
    """A processor from model bytes, checked for the special ids the models use."""
    sp = spm.SentencePieceProcessor()
    try:
        sp.LoadFromSerializedProto(proto)
    except (RuntimeError, OSError, TypeError) as e:
        raise SubwordError(f"{where}: not a SentencePiece model ({str(e).strip()[:120]})") from None
    ids = (sp.pad_id(), sp.bos_id(), sp.eos_id(), sp.unk_id())
    if ids != (PAD, BOS, EOS, UNK):
        raise SubwordError(
            f"{where}: SentencePiece ids pad/bos/eos/unk are {'/'.join(map(str, ids))}, the models need 0/1/2/3; "
            f"retrain it with --pad_id=0 --bos_id=1 --eos_id=2 --unk_id=3 (or leave data.subword_models empty "
            f"to train one)"
        )
    return sp


def read_model_file(path: str | Path) -> bytes:
    path = Path(path)
    if not path.is_file():
        raise SubwordError(f"{path}: no such SentencePiece model (data.subword_models)")
    proto = path.read_bytes()
    load(proto, str(path))
    return proto


class Subwords:
    """Source and target SentencePiece models (the same one for a joint vocabulary)."""

    def __init__(self, src_proto: bytes, tgt_proto: bytes | None = None, where: str = "subwords") -> None:
        self.src_proto, self.tgt_proto = src_proto, tgt_proto
        self.src = load(src_proto, f"{where} (source model)")
        self.tgt = self.src if tgt_proto is None else load(tgt_proto, f"{where} (target model)")

    @property
    def joint(self) -> bool:
        return self.tgt_proto is None

    @property
    def src_size(self) -> int:
        return self.src.get_piece_size()

    @property
    def tgt_size(self) -> int:
        return self.tgt.get_piece_size()

    def encode_src(self, lines: Sequence[str]) -> list[list[int]]:
        return self.src.encode(list(lines), out_type=int)

    def encode_tgt(self, lines: Sequence[str]) -> list[list[int]]:
        return self.tgt.encode(list(lines), out_type=int)

    def sample(
        self, src: Sequence[str], tgt: Sequence[str], alpha: float, nbest: int, seed: int
    ) -> tuple[list[list[int]], list[list[int]]]:
        """Subword regularisation (Kudo, 2018): a segmentation of every sentence drawn from the
        unigram model (n-best size ``nbest``, -1 for all, flattened by ``alpha``; for a BPE model
        ``alpha`` is the BPE-dropout rate). The same ``seed`` gives the same ids."""
        out: dict[str, Any] = {}

        def draw() -> None:
            # SentencePiece keeps one generator per thread, seeded from the global seed when the
            # thread first samples: a fresh thread is the only way to restart it at ``seed``.
            spm.set_random_generator_seed(seed)
            opts = dict(out_type=int, enable_sampling=True, alpha=alpha, nbest_size=nbest, num_threads=1)
            try:
                out["ids"] = (self.src.encode(list(src), **opts), self.tgt.encode(list(tgt), **opts))
            except (RuntimeError, ValueError) as e:
                out["error"] = e

        worker = threading.Thread(target=draw)
        worker.start()
        worker.join()
        if "error" in out:
            raise SubwordError(f"subword sampling (alpha {alpha}, n-best {nbest}): {out['error']}")
        return out["ids"]

    def decode_tgt(self, ids: Sequence[Sequence[int]]) -> list[str]:
        """Detokenised text of target id lists."""
        return self.tgt.decode([list(x) for x in ids])

    def src_pieces(self, ids: Sequence[int]) -> list[str]:
        return [self.src.id_to_piece(int(i)) for i in ids]

    def tgt_pieces(self, ids: Sequence[int]) -> list[str]:
        return [self.tgt.id_to_piece(int(i)) for i in ids]

    def state(self) -> dict[str, Any]:
        return {"src": self.src_proto, "tgt": self.tgt_proto}

    @classmethod
    def from_state(cls, state: Any, where: str) -> Subwords:
        if not isinstance(state, dict) or not isinstance(state.get("src"), bytes):
            raise SubwordError(f"{where}: holds no SentencePiece model; it was not trained by the translation task")
        return cls(state["src"], state.get("tgt"), where)


def build(
    src_lines: Sequence[str], tgt_lines: Sequence[str], mode: str, model_type: str, vocab_size: int,
    model_files: Sequence[str], where: str,
) -> Subwords:  # fmt: skip
    """Train (or read, when ``model_files`` are given) the subword models for a corpus."""
    if mode not in MODES:
        raise SubwordError(f"data.subwords '{mode}': use one of {', '.join(MODES)}")
    if model_files:
        wanted = 1 if mode == "joint" else 2
        if len(model_files) != wanted:
            raise SubwordError(
                f"data.subword_models: {mode} subwords take {wanted} SentencePiece model file(s), "
                f"got {len(model_files)}"
            )
        protos = [read_model_file(p) for p in model_files]
        return Subwords(protos[0], protos[1] if mode == "separate" else None, where)
    if mode == "joint":
        return Subwords(train([*src_lines, *tgt_lines], vocab_size, model_type, where), None, where)
    return Subwords(
        train(src_lines, vocab_size, model_type, f"{where} (source)"),
        train(tgt_lines, vocab_size, model_type, f"{where} (target)"),
        where,
    )
