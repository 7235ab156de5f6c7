"""Text generation from decoder and encoder-decoder TaskModels: greedy, sampling, beam search.

The decoding loops are written against a small runner (`prefill`, `advance`, `select`) that hides
whether the model is a decoder or an encoder-decoder and whether the key/value cache is used.
Beam search follows the semantics of `transformers` `generate` (2 x num_beams candidates a step,
finished hypotheses scored by log-prob / generated_length ** length_penalty, the same early-stop
heuristic), so the same options give the same tokens.
"""
from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, replace
from typing import Callable, Optional, Sequence

import torch

from framework.errors import NlpfError, did_you_mean
from framework.inference.lm_head import big_linears, head_logits
from framework.inference.options import STRATEGIES, GenerationOptions
from framework.modules.kv_cache import StaticCache

NEG_INF = -1.0e9

# on_token(row, token_id): called for every new token of every unfinished row (greedy and sampling)
TokenCallback = Callable[[int, int], None]


@dataclass
class Generation:
    """One generated continuation (the prompt is not included)."""

    token_ids: list[int]  # without the end-of-sequence token
    score: Optional[float]  # beam: length-normalised score; greedy/sampling: summed log-prob when asked for
    finish_reason: str  # eos | length | stop
    text: Optional[str] = None  # filled in by the pipeline (stop strings cut it)


# ---------------------------------------------------------------- options


# transformers' lengths count the prompt too; a did-you-mean by spelling would offer length_penalty for max_length
TRANSFORMERS_LENGTHS = {"max_length": "max_new_tokens", "min_length": "min_new_tokens"}


def check_transformers_names(keys) -> None:
    """Refuse transformers' `max_length` / `min_length`, pointing to the option nlpf has instead."""
    for key in keys:
        if key in TRANSFORMERS_LENGTHS:
            ours = TRANSFORMERS_LENGTHS[key]
            raise NlpfError(f"unknown generation option '{key}': nlpf counts the new tokens only",
                            hint=f"use {ours}=N (transformers' {key} also counts the prompt's tokens)")


def resolve_options(options: GenerationOptions | None = None, **overrides) -> GenerationOptions:
    """Merge keyword overrides into options and check them, naming the bad key."""
    options = options or GenerationOptions()
    known = set(GenerationOptions.__dataclass_fields__)
    check_transformers_names(overrides)
    for key in overrides:
        if key not in known:
            raise NlpfError(f"unknown generation option '{key}'." + did_you_mean(key, known),
                            hint="options: " + ", ".join(sorted(known)))
    o = replace(options, **overrides)
    if isinstance(o.stop, str):
        o = replace(o, stop=[o.stop])
    elif o.stop is None:
        o = replace(o, stop=[])
    elif not all(isinstance(s, str) for s in o.stop):
        raise NlpfError(f"invalid value {o.stop!r} for 'stop': expected a string or a list of strings",
                        hint="stop='.' or stop='[\".\", \"!\"]'")
    if "" in o.stop:  # found before the first character: every text would be cut to nothing
        raise NlpfError("stop= is an empty string, which every text starts with, so every generation would be empty",
                        hint="give the text to stop at (stop='.' or stop='\\n'), or leave stop= out")
    if o.strategy not in STRATEGIES:
        raise NlpfError(f"unknown strategy '{o.strategy}'." + did_you_mean(o.strategy, STRATEGIES),
                        hint="strategy is one of " + ", ".join(STRATEGIES))
    checks = [
        (o.max_new_tokens >= 1, "max_new_tokens", "at least 1"),
        (o.min_new_tokens >= 0, "min_new_tokens", "0 or more"),
        (o.temperature > 0, "temperature", "greater than 0 (use strategy=greedy for temperature 0)"),
        (o.top_k >= 0, "top_k", "0 (off) or more"),
        (0 < o.top_p <= 1, "top_p", "in (0, 1]"),
        (o.repetition_penalty > 0, "repetition_penalty", "greater than 0 (1.0 is off)"),
        (o.no_repeat_ngram_size >= 0, "no_repeat_ngram_size", "0 (off) or more"),
        (o.num_beams >= 1, "num_beams", "at least 1"),
        (o.num_return_sequences >= 1, "num_return_sequences", "at least 1"),
    ]
    if isinstance(o.early_stopping, str) and o.early_stopping.lower() in ("true", "false"):
        o = replace(o, early_stopping=o.early_stopping.lower() == "true")
    elif not isinstance(o.early_stopping, str) and o.early_stopping in (0, 1):  # 1 (early_stopping=1) means true:
        o = replace(o, early_stopping=bool(o.early_stopping))  # beam search asks `is True`
    checks.append((o.early_stopping in (True, False, "never"), "early_stopping", "true, false or never"))
    for ok, key, what in checks:
        if not ok:
            raise NlpfError(f"invalid value {getattr(o, key)!r} for '{key}': must be {what}", hint=f"set {key}=...")
    if strategy_of(o) == "beam" and o.num_return_sequences > o.num_beams:
        raise NlpfError(f"num_return_sequences={o.num_return_sequences} is larger than num_beams={o.num_beams}",
                        hint="beam search returns at most num_beams hypotheses; raise num_beams")
    if strategy_of(o) == "greedy" and o.num_return_sequences > 1:
        raise NlpfError("greedy decoding returns one sequence per prompt",
                        hint="use num_beams=N for an n-best list or do_sample=true for several samples")
    return o


def strategy_of(o: GenerationOptions) -> str:
    if o.strategy != "auto":
        return o.strategy
    if o.num_beams > 1:
        return "beam"
    return "sample" if o.do_sample else "greedy"


# ---------------------------------------------------------------- cache handling


def select_rows(state, index: torch.Tensor):
    """Pick batch rows of a (nested) key/value cache or tensor; the cache may also define `select_rows`."""
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return state.index_select(0, index)
    if hasattr(state, "select_rows"):
        return state.select_rows(index)
    if hasattr(state, "reorder_cache"):  # transformers Cache objects (used by the benchmarks' reference)
        state.reorder_cache(index)
        return state
    if isinstance(state, (list, tuple)):
        return type(state)(select_rows(s, index) for s in state)
    if isinstance(state, dict):
        return {k: select_rows(v, index) for k, v in state.items()}
    raise TypeError(f"cannot reorder a cache of type {type(state).__name__}")


def last_position(hidden: torch.Tensor) -> torch.Tensor:
    """[B, 1, H] hidden state of the last position, contiguous: a strided slice of a prompt makes linear
    layers fall back to a batched matmul over a broadcast weight (25 ms instead of 3 for GPT-2's vocabulary)."""
    return hidden[:, -1:, :].contiguous()


def _accepts(fn, name: str) -> bool:
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def decoding_step(backbone):
    """The backbone's one-position steps without module calls (GPT/T5 `decoding_step`), or None."""
    make = getattr(backbone, "decoding_step", None)
    return make() if make is not None else None


class DecoderRunner:
    """Steps a decoder-only model. Prompts are left padded; positions come from the attention mask.

    With a TaskModel (`backbone` + `head`) the head runs on the last position only, and a batch
    without padding passes no mask, so attention takes its fused causal path. A backbone that sets
    `static_cache = True` gets a preallocated cache sized for prompt + `max_new_tokens` - 1: the last new
    token is never fed back (the position check of `InferenceMixin.generate_tokens` counts the same way).
    """

    def __init__(self, model, use_cache: bool = True, max_new_tokens: int = 0):
        self.model = model
        self.use_cache = use_cache
        self.max_new = max_new_tokens
        self.split = hasattr(model, "backbone") and getattr(model, "head", None) is not None
        backbone = model.backbone if self.split else model
        self.static = use_cache and getattr(backbone, "static_cache", False)
        self.pass_positions = _accepts(backbone.forward, "position_ids")
        self.linears = big_linears(model.head) if self.split else []
        self.step = decoding_step(backbone) if self.static and self.split else None

    def _call(self, ids, past):
        kwargs = {}
        if self.padded:  # mask and positions of every step are made once, in prefill
            kwargs["attention_mask"] = self.full_mask[:, :self.length]
            if self.pass_positions:
                kwargs["position_ids"] = self.positions[:, self.length - ids.shape[1]:self.length]
        if self.step is not None and ids.shape[1] == 1 and past is not None:
            hidden = self.step(ids, past, kwargs.get("attention_mask"), kwargs.get("position_ids"))
            self.past = past  # written in place
            return head_logits(self.model.head, hidden, self.linears)[:, -1, :].float()
        if self.split:
            out = self.model.backbone(ids, past_key_values=past, use_cache=self.use_cache, **kwargs)
            logits = head_logits(self.model.head, last_position(out.last_hidden_state), self.linears)
        else:
            out = self.model(input_ids=ids, past_key_values=past, use_cache=self.use_cache, **kwargs)
            logits = out.logits
        self.past = out.past_key_values if self.use_cache else None
        return logits[:, -1, :].float()

    def prefill(self, input_ids, attention_mask) -> torch.Tensor:
        self.ids, self.mask = input_ids, attention_mask
        self.length = input_ids.shape[1]
        self.padded = bool((attention_mask == 0).any())
        fed = self.length + max(self.max_new - 1, 0)  # positions ever fed: the last new token is not
        if self.padded:
            extra = attention_mask.new_ones(len(attention_mask), fed - self.length)
            self.full_mask = torch.cat([attention_mask, extra], 1)
            self.positions = (self.full_mask.long().cumsum(-1) - 1).clamp(min=0)
        past = StaticCache(fed) if self.static else None
        return self._call(input_ids, past)

    def advance(self, tokens: torch.Tensor) -> torch.Tensor:
        self.length += 1
        if self.use_cache:
            return self._call(tokens[:, None], self.past)
        self.ids = torch.cat([self.ids, tokens[:, None]], dim=1)
        return self._call(self.ids, None)

    def select(self, index: torch.Tensor) -> None:
        self.ids, self.mask = self.ids.index_select(0, index), self.mask.index_select(0, index)
        if self.padded:
            self.full_mask, self.positions = self.full_mask.index_select(0, index), self.positions.index_select(0, index)
        self.past = select_rows(self.past, index)

    def history(self) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """The tokens a repetition penalty counts: the (unpadded) prompt."""
        return self.ids, self.mask


class Seq2SeqRunner:
    """Steps an encoder-decoder: the encoder runs once, the decoder starts from `decoder_start_id`;
    the cross-attention keys/values are computed at the first step and kept in the cache."""

    def __init__(self, model, decoder_start_id: int, use_cache: bool = True, max_new_tokens: int = 0):
        self.model = model
        self.start_id = decoder_start_id
        self.use_cache = use_cache
        self.max_new = max_new_tokens
        self.split = hasattr(model, "backbone") and getattr(model, "head", None) is not None
        self.static = use_cache and self.split and getattr(model.backbone, "static_cache", False)
        self.linears = big_linears(model.head) if self.split else []
        self.step = decoding_step(model.backbone) if self.static else None

    def _call(self, ids):
        if self.step is not None and ids.shape[1] == 1 and len(self.past):  # the first step fills the cross cache
            hidden = self.step(ids, self.past, self.mask)
            return head_logits(self.model.head, hidden, self.linears)[:, -1, :].float()
        if self.split:
            out = self.model.backbone.decode(ids, self.encoder_states, encoder_attention_mask=self.mask,
                                             past_key_values=self.past, use_cache=self.use_cache)
            logits = head_logits(self.model.head, last_position(out.last_hidden_state), self.linears)
        else:
            out = self.model.decode(ids, self.encoder_states, encoder_attention_mask=self.mask,
                                    past_key_values=self.past, use_cache=self.use_cache)
            logits = out.logits
        self.past = out.past_key_values if self.use_cache else None
        return logits[:, -1, :].float()

    def prefill(self, input_ids, attention_mask) -> torch.Tensor:
        self.encoder_states = self.model.encode(input_ids, attention_mask=attention_mask).last_hidden_state
        # without padding the decoder's cross-attention needs no mask (checked once, not at every step)
        self.mask = attention_mask if bool((attention_mask == 0).any()) else None
        self.ids = input_ids.new_full((input_ids.shape[0], 1), self.start_id)
        # fed: the start token and every new token but the last
        self.past = StaticCache(max(self.max_new, 1)) if self.static else None
        return self._call(self.ids)

    def advance(self, tokens: torch.Tensor) -> torch.Tensor:
        self.ids = torch.cat([self.ids, tokens[:, None]], dim=1)
        return self._call(tokens[:, None] if self.use_cache else self.ids)

    def select(self, index: torch.Tensor) -> None:
        self.ids = self.ids.index_select(0, index)
        self.mask = self.mask.index_select(0, index) if self.mask is not None else None
        self.encoder_states = self.encoder_states.index_select(0, index)
        self.past = select_rows(self.past, index)

    def history(self) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """The tokens a repetition penalty counts: the decoder's (the start token), not the source."""
        return self.ids, None


# ---------------------------------------------------------------- logits processing


class LogitsProcessor:
    """Repetition penalty, n-gram blocking, minimum length, then temperature, top-k, top-p (the `transformers`
    order)."""

    def __init__(self, o: GenerationOptions, eos_ids: Sequence[int], sampling: bool, min_keep: int = 1):
        self.o, self.eos_ids, self.sampling, self.min_keep = o, list(eos_ids), sampling, min_keep
        self.seen: Optional[torch.Tensor] = None  # [rows, vocab] bool: tokens to penalise
        self.history: Optional[list[list[int]]] = None  # per row: the tokens n-gram blocking looks at

    def start(self, prompt_ids: torch.Tensor, prompt_mask: Optional[torch.Tensor], vocab: int) -> None:
        if self.o.no_repeat_ngram_size > 0:
            rows = prompt_ids.tolist()
            if prompt_mask is not None:  # left padding is not text: it neither blocks nor is blocked
                rows = [[t for t, k in zip(row, keep) if k] for row, keep in zip(rows, prompt_mask.bool().tolist())]
            self.history = rows
        if self.o.repetition_penalty == 1.0:
            return
        self.seen = torch.zeros(prompt_ids.shape[0], vocab + 1, dtype=torch.bool, device=prompt_ids.device)
        ids = prompt_ids if prompt_mask is None else prompt_ids.masked_fill(prompt_mask == 0, vocab)
        self.seen.scatter_(1, ids, True)
        self.seen = self.seen[:, :vocab].contiguous()

    def observe(self, tokens: torch.Tensor) -> None:
        if self.seen is not None:
            self.seen[torch.arange(tokens.shape[0], device=tokens.device), tokens] = True
        if self.history is not None:
            for row, t in zip(self.history, tokens.tolist()):
                row.append(t)

    def select(self, index: torch.Tensor) -> None:
        if self.seen is not None:
            self.seen = self.seen.index_select(0, index)
        if self.history is not None:
            self.history = [list(self.history[i]) for i in index.tolist()]

    def _blocked(self, row: list[int]) -> list[int]:
        """Tokens that would complete an n-gram already in `row`."""
        n = self.o.no_repeat_ngram_size
        if len(row) < n:
            return []
        prefix = row[len(row) - n + 1:]
        return [row[i + n - 1] for i in range(len(row) - n + 1) if row[i:i + n - 1] == prefix]

    def __call__(self, scores: torch.Tensor, step: int) -> torch.Tensor:
        o = self.o
        if self.seen is not None:
            penalised = torch.where(scores < 0, scores * o.repetition_penalty, scores / o.repetition_penalty)
            scores = torch.where(self.seen, penalised, scores)
        if self.history is not None:
            for r, row in enumerate(self.history):
                blocked = self._blocked(row)
                if blocked:
                    scores[r, blocked] = -math.inf  # in place, like the minimum length below
        if step < o.min_new_tokens and self.eos_ids:
            scores[:, self.eos_ids] = -math.inf  # in place: callers pass logits they no longer need
        if not self.sampling:
            return scores
        if o.temperature != 1.0:
            scores = scores / o.temperature
        if o.top_k > 0:
            kth = torch.topk(scores, min(max(o.top_k, self.min_keep), scores.shape[-1]), dim=-1).values[:, -1:]
            scores = scores.masked_fill(scores < kth, -math.inf)
        if o.top_p < 1.0:
            sorted_scores, order = torch.sort(scores, descending=False)
            cumulative = sorted_scores.softmax(-1).cumsum(-1)
            drop = cumulative <= (1 - o.top_p)
            drop[:, -self.min_keep:] = False
            scores = scores.masked_fill(drop.scatter(1, order, drop), -math.inf)
        return scores


# ---------------------------------------------------------------- decoding loops


def first_argmax(scores: torch.Tensor) -> torch.Tensor:
    """`scores.argmax(-1)` (the first maximum of each row) for [rows, vocab] scores.

    On the CPU torch's reductions that track indices run element by element (8 rows x 50257: ~300 us for
    `max(-1)`); NumPy's argmax is vectorised (~30 us; one row: ~4 against ~50 us). Same rule: the first maximum,
    a NaN counting as the maximum. Other devices and dtypes use torch."""
    if scores.device.type == "cpu" and scores.dtype in (torch.float32, torch.float64) and not scores.requires_grad:
        return torch.from_numpy(scores.numpy().argmax(-1))
    return scores.argmax(-1)


def _generator(seed: Optional[int], device) -> Optional[torch.Generator]:
    if seed is None:
        return None
    g = torch.Generator(device=device)
    g.manual_seed(int(seed))
    return g


def _finish_reason(hit_eos: bool, hit_stop: bool) -> str:
    return "eos" if hit_eos else "stop" if hit_stop else "length"


def sample_or_greedy(runner, input_ids, attention_mask, o: GenerationOptions, eos_ids: Sequence[int],
                     sampling: bool, on_token: Optional[TokenCallback] = None,
                     stop_check: Optional[Callable[[int, list[int]], bool]] = None,
                     with_scores: bool = False) -> list[Generation]:
    """One continuation per row of `input_ids` (already expanded for num_return_sequences).

    Bookkeeping is plain Python on one `tolist()` a step: at small sizes per-step overhead, not
    arithmetic, decides the speed.
    """
    rows = input_ids.shape[0]
    generator = _generator(o.seed, input_ids.device)
    eos = set(eos_ids)
    fill = eos_ids[0] if eos_ids else 0  # what finished rows are fed (their outputs are ignored)
    process = LogitsProcessor(o, eos_ids, sampling)
    logits = runner.prefill(input_ids, attention_mask)
    process.start(*runner.history(), logits.shape[-1])
    live = [True] * rows
    hit_eos = [False] * rows
    hit_stop = [False] * rows
    tokens: list[list[int]] = [[] for _ in range(rows)]
    logprob = [0.0] * rows
    for step in range(o.max_new_tokens):
        scores = process(logits.clone() if with_scores else logits, step)
        if sampling:
            next_tokens = torch.multinomial(scores.softmax(-1), 1, generator=generator).squeeze(1)
        else:
            next_tokens = first_argmax(scores)
        new = next_tokens.tolist()
        if with_scores:  # log p(token) under the model, before penalties and warping
            chosen = (logits.gather(1, next_tokens[:, None]).squeeze(1) - torch.logsumexp(logits, -1)).tolist()
        for r in range(rows):
            if not live[r]:
                new[r] = fill
                continue
            t = new[r]
            if with_scores:
                logprob[r] += chosen[r]
            if t in eos:
                live[r], hit_eos[r] = False, True
                continue
            tokens[r].append(t)
            if on_token is not None:
                on_token(r, t)
            if stop_check is not None and stop_check(r, tokens[r]):
                live[r], hit_stop[r] = False, True
        if step + 1 == o.max_new_tokens or not any(live):
            break
        if not all(live):
            next_tokens = torch.tensor(new, device=next_tokens.device)
        process.observe(next_tokens)
        logits = runner.advance(next_tokens)
    return [Generation(tokens[r], logprob[r] if with_scores else None, _finish_reason(hit_eos[r], hit_stop[r]))
            for r in range(rows)]


def beam_search(runner, input_ids, attention_mask, o: GenerationOptions, eos_ids: Sequence[int],
                prompt_length: int, stop_check: Optional[Callable[[int, list[int]], bool]] = None) -> list[list[Generation]]:
    """Beam search over a batch; returns the best `num_return_sequences` hypotheses per prompt.

    `prompt_length` is the length the length penalty does not count (the padded prompt for decoders,
    the start token for encoder-decoders), as in `transformers`.
    """
    batch, beams = input_ids.shape[0], o.num_beams
    device = input_ids.device
    keep = max(2, 1 + len(eos_ids)) * beams  # candidates per step: enough to continue when beams end
    eos = torch.tensor(list(eos_ids) or [-1], device=device)
    # beam sampling (do_sample with num_beams > 1) draws the candidates instead of taking the top ones;
    # warpers keep at least one token besides the end-of-sequence ones, as in `transformers`
    sampling = o.do_sample
    generator = _generator(o.seed, device) if sampling else None
    process = LogitsProcessor(o, eos_ids, sampling=sampling, min_keep=len(eos_ids) + 1)

    logits = runner.prefill(input_ids, attention_mask)
    expand = torch.arange(batch, device=device).repeat_interleave(beams)
    runner.select(expand)
    logits = logits.index_select(0, expand)
    process.start(*runner.history(), logits.shape[-1])

    vocab = logits.shape[-1]
    max_new = o.max_new_tokens
    running = torch.zeros(batch, beams, max_new, dtype=torch.long, device=device)
    running_scores = torch.zeros(batch, beams, device=device)
    running_scores[:, 1:] = NEG_INF  # only the first beam is live at the start
    done = torch.zeros(batch, beams, max_new, dtype=torch.long, device=device)
    done_scores = torch.full((batch, beams), NEG_INF, device=device)
    done_lengths = torch.zeros(batch, beams, dtype=torch.long, device=device)
    done_eos = torch.zeros(batch, beams, dtype=torch.bool, device=device)
    is_done = torch.zeros(batch, beams, dtype=torch.bool, device=device)
    can_improve = torch.ones(batch, 1, dtype=torch.bool, device=device)
    top_mask = torch.arange(keep, device=device) < beams
    offsets = torch.arange(batch, device=device)[:, None] * beams

    def gather(t, idx):
        while idx.dim() < t.dim():
            idx = idx.unsqueeze(-1)
        return torch.take_along_dim(t, idx, dim=1)

    for step in range(max_new):
        cur_len = prompt_length + step  # length before this step's token
        log_probs = process(logits.log_softmax(-1), step).view(batch, beams, vocab)
        total = (log_probs + running_scores[:, :, None]).view(batch, -1)
        if sampling:
            cand = torch.multinomial(total.softmax(-1), keep, generator=generator)
            cand_scores, order = total.gather(1, cand).sort(dim=-1, descending=True)
            cand = cand.gather(1, order)
        else:
            cand_scores, cand = torch.topk(total, keep, dim=1)
        cand_beam, cand_token = cand // vocab, cand % vocab
        cand_seqs = gather(running, cand_beam).clone()
        cand_seqs[:, :, step] = cand_token
        ends_eos = torch.isin(cand_token, eos)
        ends = ends_eos | (step + 1 == max_new)
        if stop_check is not None:
            stops = torch.tensor([[stop_check(0, cand_seqs[b, k, :step + 1].tolist()) for k in range(keep)]
                                  for b in range(batch)], device=device)
            ends = ends | stops

        # the best `beams` candidates that did not end continue
        live_scores = cand_scores + ends.float() * NEG_INF
        next_idx = torch.topk(live_scores, beams, dim=1).indices
        running = gather(cand_seqs, next_idx)
        running_scores = gather(live_scores, next_idx)
        source_beam = gather(cand_beam, next_idx)

        # candidates among the top `beams` that ended join the finished pool if they beat it
        just_done = ends & top_mask[None, :]
        final_scores = cand_scores / ((cur_len + 1 - prompt_length) ** o.length_penalty)
        pool_full = is_done.all(dim=1, keepdim=True) & (o.early_stopping is True)
        final_scores = final_scores + (pool_full | ~can_improve).float() * NEG_INF + (~just_done).float() * NEG_INF
        merged_scores = torch.cat([done_scores, final_scores], dim=1)
        best = torch.topk(merged_scores, beams, dim=1).indices
        done = gather(torch.cat([done, cand_seqs], dim=1), best)
        done_scores = gather(merged_scores, best)
        done_lengths = gather(torch.cat([done_lengths, done_lengths.new_full((batch, keep), step + 1)], dim=1), best)
        done_eos = gather(torch.cat([done_eos, ends_eos], dim=1), best)
        is_done = gather(torch.cat([is_done, just_done], dim=1), best)

        # the early-stop heuristic of `transformers`: can the best running beam still beat the worst
        # finished one, judged at its current length (or at the longest, for "never" with a positive penalty)
        hypothetical = max_new if o.early_stopping == "never" and o.length_penalty > 0 else cur_len + 1 - prompt_length
        best_running = running_scores[:, :1] / (hypothetical ** o.length_penalty)
        worst_done = torch.where(is_done, done_scores.min(dim=1, keepdim=True).values, NEG_INF)
        can_improve = can_improve & (best_running > worst_done).any(dim=-1, keepdim=True)
        if not bool(can_improve.any()) or (o.early_stopping is True and bool(is_done.all())) or step + 1 == max_new:
            break
        if bool(ends.all()):
            break
        rows = (source_beam + offsets).view(-1)
        runner.select(rows)
        process.select(rows)
        next_tokens = running[:, :, step].reshape(-1)
        process.observe(next_tokens)
        logits = runner.advance(next_tokens)

    results = []
    for b in range(batch):
        hyps = []
        for k in range(o.num_return_sequences):
            n = int(done_lengths[b, k])
            ids = done[b, k, :n].tolist()
            ended_eos = bool(done_eos[b, k])
            if ended_eos:
                ids = ids[:-1]
            # asked of the hypothesis itself: one whose last allowed token completed a stop string also stopped
            hit_stop = stop_check is not None and not ended_eos and stop_check(0, done[b, k, :n].tolist())
            hyps.append(Generation(ids, float(done_scores[b, k]), _finish_reason(ended_eos, hit_stop)))
        results.append(hyps)
    return results


@torch.inference_mode()
def generate_ids(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, options: GenerationOptions,
                 eos_ids: Sequence[int], encoder_decoder: bool, decoder_start_id: Optional[int] = None,
                 on_token: Optional[TokenCallback] = None,
                 stop_check: Optional[Callable[[int, list[int]], bool]] = None,
                 with_scores: bool = False) -> list[list[Generation]]:
    """Generate for a batch of prompts. Decoder prompts must be left padded.

    Args:
        model: a TaskModel with an LM head (decoder `forward(..., past_key_values, use_cache)` or
            encoder-decoder `encode`/`decode`).
        input_ids, attention_mask: [B, L] prompts (sources for encoder-decoders).
        options: decoding options (see `GenerationOptions`); check them with `resolve_options`.
        eos_ids: token ids that end a sequence.
        encoder_decoder: whether `model` is an encoder-decoder.
        decoder_start_id: the first decoder token of an encoder-decoder.
        on_token: called as tokens are chosen, for streaming (not called by beam search).
        stop_check: `(row, token_ids) -> bool`, true when a stop string appeared.
        with_scores: also sum the log-probabilities of greedy/sampled tokens (beam search always scores).

    Returns:
        per prompt, `num_return_sequences` `Generation`s (best first for beam search).
    """
    o = options
    strategy = strategy_of(o)
    if encoder_decoder:
        if decoder_start_id is None:
            raise NlpfError("this encoder-decoder checkpoint does not name a decoder start token",
                            hint="set tokenizer pad/bos ids or decoder_start_token_id in the checkpoint config")
        runner = Seq2SeqRunner(model, decoder_start_id, o.use_cache, o.max_new_tokens)
    else:
        runner = DecoderRunner(model, o.use_cache, o.max_new_tokens)
    if strategy == "beam":
        prompt_length = 1 if encoder_decoder else input_ids.shape[1]
        return beam_search(runner, input_ids, attention_mask, o, eos_ids, prompt_length, stop_check)
    n = o.num_return_sequences
    if n > 1:
        input_ids = input_ids.repeat_interleave(n, dim=0)
        attention_mask = attention_mask.repeat_interleave(n, dim=0)
    flat = sample_or_greedy(runner, input_ids, attention_mask, o, eos_ids, strategy == "sample", on_token, stop_check,
                            with_scores)
    return [flat[i * n:(i + 1) * n] for i in range(len(flat) // n)]
