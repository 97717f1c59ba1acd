"""Recurrent stacks: the fused layers used for training, and readable reference cells.

Cell equations, for input x_t and previous hidden state h_{t-1} (the same as PyTorch's, so the
reference cells load the fused layers' weights unchanged):

- tanh-RNN:  h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)
- LSTM:      i = σ(W_ii x_t + W_hi h_{t-1} + b_i)      input gate
             f = σ(W_if x_t + W_hf h_{t-1} + b_f)      forget gate
             g = tanh(W_ig x_t + W_hg h_{t-1} + b_g)   candidate cell
             o = σ(W_io x_t + W_ho h_{t-1} + b_o)      output gate
             c_t = f ⊙ c_{t-1} + i ⊙ g,  h_t = o ⊙ tanh(c_t)
- GRU:       r = σ(W_ir x_t + W_hr h_{t-1} + b_r)      reset gate
             z = σ(W_iz x_t + W_hz h_{t-1} + b_z)      update gate
             n = tanh(W_in x_t + b_in + r ⊙ (W_hn h_{t-1} + b_hn))
             h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}

State is always a tuple: ``(h,)`` for rnn and gru, ``(h, c)`` for lstm, each of shape
``(layers * directions, batch, hidden)``, so code that carries, detaches or reorders state never
needs to know the cell type.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

State = tuple[Tensor, ...]

CELLS = ("rnn", "lstm", "gru")
GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def _fused_class(cell: str) -> type[nn.RNNBase]:
    if cell not in CELLS:
        raise ValueError(f"unknown cell '{cell}'; use one of {', '.join(CELLS)}")
    return {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell]


@functools.cache
def cpu_bf16_kernels(cell: str) -> bool:
    """Whether this CPU's oneDNN runs the fused ``cell`` under bf16 autocast. Without AVX-512 it
    cannot ("could not create a primitive descriptor"); the stack then runs its recurrent kernels
    in float32 inside an autocast region (the rest of the model stays bf16). Probed once, on a
    tiny layer built under a forked RNG so the probe draws nothing from the training seed."""
    with torch.random.fork_rng(devices=[]):
        layer = _fused_class(cell)(2, 2, batch_first=True)
    try:
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            layer(torch.zeros(1, 1, 2))
    except RuntimeError:
        return False
    return True


class RecurrentStack(nn.Module):
    """Layers of tanh-RNN / LSTM / GRU cells over variable-length batches.

    Runs PyTorch's fused kernels (cuDNN on a GPU, oneDNN on a CPU) over packed sequences, so padded
    steps cost nothing and change nothing. With ``reference=True`` the same parameters run through
    the readable cells below instead (slow; for teaching and for inspecting gates).
    """

    def __init__(
        self,
        cell: str,
        input_size: int,
        hidden_size: int,
        layers: int = 1,
        *,
        bidirectional: bool = False,
        dropout: float = 0.0,
        reference: bool = False,
    ) -> None:
        super().__init__()
        self.cell = cell
        self.hidden_size = hidden_size
        self.layers = layers
        self.directions = 2 if bidirectional else 1
        kwargs = dict(
            input_size=input_size,
            hidden_size=hidden_size,
            num_layers=layers,
            batch_first=True,
            dropout=dropout if layers > 1 else 0.0,
            bidirectional=bidirectional,
        )
        if reference:
            self.rnn: nn.Module = ReferenceRNN(cell, **kwargs)
        else:
            if cell == "rnn":
                kwargs["nonlinearity"] = "tanh"
            self.rnn = _fused_class(cell)(**kwargs)

    @property
    def output_size(self) -> int:
        return self.hidden_size * self.directions

    def zero_state(self, batch: int, device: torch.device | None = None, dtype=None) -> State:
        shape = (self.layers * self.directions, batch, self.hidden_size)
        h = torch.zeros(shape, device=device, dtype=dtype)
        return (h, torch.zeros_like(h)) if self.cell == "lstm" else (h,)

    def forward(self, x: Tensor, lengths: Tensor | None = None, state: State | None = None) -> tuple[Tensor, State]:
        """x: (batch, time, input_size); lengths: (batch,) int64 on the CPU, or None when every
        sequence fills the time axis. Returns outputs (batch, time, directions * hidden), zero at
        padded steps, and the state after each sequence's last real step."""
        hx = None
        if state is not None:
            hx = state if self.cell == "lstm" else state[0]
        if isinstance(self.rnn, ReferenceRNN):
            out, hn = self.rnn(x, hx, lengths=lengths)
            return out, (tuple(hn) if self.cell == "lstm" else (hn,))
        if x.device.type == "cpu" and torch.is_autocast_enabled("cpu") and not cpu_bf16_kernels(self.cell):
            with torch.autocast("cpu", enabled=False):
                hx = None if hx is None else (tuple(h.float() for h in hx) if isinstance(hx, tuple) else hx.float())
                return self._fused(x.float(), lengths, hx)
        return self._fused(x, lengths, hx)

    def _fused(self, x: Tensor, lengths: Tensor | None, hx) -> tuple[Tensor, State]:
        if lengths is None or bool((lengths == x.size(1)).all()):
            out, hn = self.rnn(x, hx)
        else:
            # A chunk of truncated BPTT can hold sequences that already ended (length 0); the
            # packed kernel needs >= 1 step, and their outputs are masked out of every loss.
            packed = pack_padded_sequence(x, lengths.clamp(min=1), batch_first=True, enforce_sorted=False)
            out, hn = self.rnn(packed, hx)
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.size(1))
        return out, (tuple(hn) if self.cell == "lstm" else (hn,))


class ReferenceRNN(nn.Module):
    """The textbook equations, one step at a time, with the parameter names and layout of
    ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU``: ``load_state_dict`` works across the two.

    After a forward with ``record=True``, ``self.activations`` maps ``(layer, direction)`` to a
    dict of tensors ``(batch, time, hidden)``: the gates (i, f, g, o or r, z, n), ``c`` for the
    LSTM cell and ``h``.
    """

    def __init__(
        self,
        cell: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        batch_first: bool = True,
        dropout: float = 0.0,
        bidirectional: bool = False,
    ) -> None:
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"unknown cell '{cell}'; use one of {', '.join(CELLS)}")
        if not batch_first:
            raise ValueError("ReferenceRNN takes (batch, time, features) inputs only")
        self.cell = cell
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.dropout = dropout
        self.directions = 2 if bidirectional else 1
        self.record = False
        self.activations: dict[tuple[int, int], dict[str, Tensor]] = {}
        gates = GATES[cell] * hidden_size
        for layer in range(num_layers):
            layer_in = input_size if layer == 0 else hidden_size * self.directions
            for d in range(self.directions):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                self.register_parameter("weight_ih" + sfx, nn.Parameter(torch.empty(gates, layer_in)))
                self.register_parameter("weight_hh" + sfx, nn.Parameter(torch.empty(gates, hidden_size)))
                self.register_parameter("bias_ih" + sfx, nn.Parameter(torch.empty(gates)))
                self.register_parameter("bias_hh" + sfx, nn.Parameter(torch.empty(gates)))
        bound = 1.0 / math.sqrt(hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def _params(self, layer: int, d: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        sfx = f"_l{layer}" + ("_reverse" if d else "")
        return tuple(getattr(self, n + sfx) for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))

    def step(self, x: Tensor, state: State, layer: int, d: int) -> tuple[State, dict[str, Tensor]]:
        """One time step of one layer and direction. x: (batch, input); state: ((batch, hidden), ...)."""
        W_ih, W_hh, b_ih, b_hh = self._params(layer, d)
        h = state[0]
        if self.cell == "rnn":
            h = torch.tanh(x @ W_ih.T + b_ih + h @ W_hh.T + b_hh)
            return (h,), {"h": h}
        if self.cell == "lstm":
            c = state[1]
            i, f, g, o = (x @ W_ih.T + b_ih + h @ W_hh.T + b_hh).chunk(4, dim=1)
            i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
            c = f * c + i * g
            h = o * torch.tanh(c)
            return (h, c), {"i": i, "f": f, "g": g, "o": o, "c": c, "h": h}
        x_r, x_z, x_n = (x @ W_ih.T + b_ih).chunk(3, dim=1)
        h_r, h_z, h_n = (h @ W_hh.T + b_hh).chunk(3, dim=1)
        r = torch.sigmoid(x_r + h_r)
        z = torch.sigmoid(x_z + h_z)
        n = torch.tanh(x_n + r * h_n)
        h = (1 - z) * n + z * h
        return (h,), {"r": r, "z": z, "n": n, "h": h}

    def forward(
        self, x: Tensor, hx: Tensor | tuple[Tensor, Tensor] | None = None, lengths: Tensor | None = None
    ) -> tuple[Tensor, Tensor | tuple[Tensor, Tensor]]:
        """Same contract as the fused layers: x (batch, time, input); hx (layers*dirs, batch, hidden)
        or a (h, c) pair; returns outputs (batch, time, dirs*hidden) and the final state."""
        batch, steps, _ = x.shape
        if lengths is None:
            lengths = torch.full((batch,), steps, dtype=torch.long)
        lengths = lengths.to(x.device)
        t_idx = torch.arange(steps, device=x.device)
        valid = t_idx[None, :] < lengths[:, None]  # (batch, time)
        # Reverse each sequence within its own length, so the backward direction starts at the
        # last real step, not at padding.
        rev = torch.where(valid, lengths[:, None] - 1 - t_idx[None, :], t_idx[None, :])
        if hx is None:
            h0 = x.new_zeros(self.num_layers * self.directions, batch, self.hidden_size)
            hx = (h0, h0.clone()) if self.cell == "lstm" else h0
        init = hx if isinstance(hx, tuple) else (hx,)
        finals: list[list[Tensor]] = [[] for _ in init]
        self.activations = {}
        layer_in = x
        for layer in range(self.num_layers):
            outs = []
            for d in range(self.directions):
                k = layer * self.directions + d
                state = tuple(s[k] for s in init)
                seq = layer_in if d == 0 else layer_in.gather(1, rev[..., None].expand_as(layer_in))
                hs, recs = [], []
                for t in range(steps):
                    new, rec = self.step(seq[:, t], state, layer, d)
                    keep = valid[:, t, None]
                    state = tuple(torch.where(keep, n, s) for n, s in zip(new, state, strict=True))
                    hs.append(state[0] * keep)
                    recs.append(rec)
                out = torch.stack(hs, dim=1)
                if d == 1:
                    out = out.gather(1, rev[..., None].expand_as(out))
                outs.append(out)
                for i, s in enumerate(state):
                    finals[i].append(s)
                if self.record:
                    acts = {key: torch.stack([r[key] for r in recs], dim=1) for key in recs[0]}
                    if d == 1:
                        acts = {key: v.gather(1, rev[..., None].expand_as(v)) for key, v in acts.items()}
                    self.activations[(layer, d)] = {key: v * valid[..., None] for key, v in acts.items()}
            layer_in = torch.cat(outs, dim=-1)
            if self.training and self.dropout > 0 and layer < self.num_layers - 1:
                layer_in = F.dropout(layer_in, self.dropout, training=True)
        final = tuple(torch.stack(f, dim=0) for f in finals)
        return layer_in, (final if self.cell == "lstm" else final[0])
