"""The inference methods of `framework.load(path)`: predict, generate, score, rescore.

`InferenceMixin` needs `self.model` (a TaskModel), `self.tokenizer` and `self.config` (the
checkpoint's resolved config); `framework.pipeline.Pipeline` inherits it.
"""
from __future__ import annotations

import json
import math
import operator
from collections.abc import Mapping
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence

import torch

from framework.errors import NlpfError, did_you_mean
from framework.inference.generation import Generation, generate_ids, resolve_options

# head / objective name -> task
_TASK_NAMES = {
    "lm": "lm", "causal_lm": "lm", "masked_lm": "mlm", "seq2seq": "seq2seq", "span_corruption": "seq2seq",
    "sequence_classification": "classification", "classification": "classification",
    "sequence_regression": "regression", "multi_label_classification": "multilabel",
    "token_classification": "token_classification", "qa": "qa",
}

_TASK_WORDS = {
    "lm": "a language model (decoder)", "seq2seq": "an encoder-decoder", "mlm": "a masked language model",
    "encoder": "a bare encoder (no task head)", "classification": "a sequence classifier",
    "regression": "a sequence regressor", "multilabel": "a multi-label classifier",
    "token_classification": "a token classifier", "qa": "a question-answering model",
}

BARE_ENCODER_HINT = ("a bare encoder gives sentence embeddings (`embed`, CLI `nlpf embed`); for a task, fine-tune it "
                     "first: nlpf train ... init_from=PATH")


def _node_name(config, key: str) -> Optional[str]:
    node = config.get(key) if hasattr(config, "get") else getattr(config, key, None)
    if node is None:
        return None
    return node.get("name") if hasattr(node, "get") else getattr(node, "name", None)


# ---------------------------------------------------------------- checking arguments at the API boundary


def describe(value: Any) -> str:
    """A value and its type for an error message: `None`, `5 (int)`, `[1, 2] (list)`."""
    if value is None:
        return "None"
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def positive_int(method: str, name: str, value: Any) -> int:
    """`value` as an int >= 1 (batch sizes, counts), or an NlpfError naming the method, argument and value."""
    try:
        number = operator.index(value) if not isinstance(value, bool) else None
    except TypeError:
        number = None
    if number is None or number < 1:
        raise NlpfError(f"{method}: invalid value {describe(value)} for '{name}': a whole number, at least 1",
                        hint=f"pass {name}=N with N >= 1 (e.g. {name}=16)")
    return number


def check_bool(method: str, name: str, value: Any, allow_none: bool = False) -> None:
    """True/False (a string 'false' would count as true)."""
    if isinstance(value, bool) or (allow_none and value is None):
        return
    raise NlpfError(f"{method}: invalid value {describe(value)} for '{name}': expected True or False"
                    + (" (or None)" if allow_none else ""), hint=f"pass {name}=True or {name}=False")


def check_number(method: str, name: str, value: Any) -> float:
    """A finite int or float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise NlpfError(f"{method}: invalid value {describe(value)} for '{name}': expected a finite number",
                        hint=f"pass {name}=0.5 (a number)")
    return float(value)


def _text_hint(value: Any, token_ids: bool) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if token_ids:
            return ("texts are strings: for token ids use generate_tokens(torch.tensor([[...]])); for the text of a "
                    "number pass str(x)")
        return f"texts are strings: pass str({value!r}) for the text of a number"
    if isinstance(value, torch.Tensor) and token_ids:
        return "for token ids use generate_tokens(input_ids)"
    return "pass a string, or a list of strings"


def as_texts(method: str, texts: Any, what: str = "texts", token_ids: bool = False) -> tuple[bool, list[str]]:
    """(single, texts) for methods that take one string or a list of strings (generate, score, embed), as
    `transformers` pipelines do: a single string gives a single result. Anything else (None, a number, a dict, an
    item that is not a string) is an NlpfError that names the argument, the item's index and its value."""
    if isinstance(texts, str):
        return True, [texts]
    if texts is None or isinstance(texts, (bytes, Mapping)) or not isinstance(texts, Iterable):
        raise NlpfError(f"{method}: {what} is {describe(texts)}, not a string or a list of strings",
                        hint=_text_hint(texts, token_ids))
    items = list(texts)
    for index, item in enumerate(items):
        if not isinstance(item, str):
            raise NlpfError(f"{method}: {what}[{index}] is {describe(item)}, not a string",
                            hint=_text_hint(item, token_ids))
    return False, items


def _check_inputs(method: str, records: Any) -> None:
    """The inputs of predict / predict_stream are an iterable (of strings and dicts, checked one by one as they are
    read): not None, a number or bytes."""
    if records is None or isinstance(records, bytes) or not isinstance(records, Iterable):
        raise NlpfError(f"{method}: the input is {describe(records)}, not a text, a record (dict) or a list of them",
                        hint=_text_hint(records, False) + ', or a dict such as {"text": "..."}')


def check_options(method: str, given: Iterable[str], known: Iterable[str]) -> None:
    """Refuse a keyword argument the method does not take, with a did-you-mean (as generation options do)."""
    known = sorted(known)
    for key in given:
        if key not in known:
            raise NlpfError(f"unknown {method} option '{key}'." + did_you_mean(key, known),
                            hint=f"{method} options: " + ", ".join(known))


def token_strings(tokenizer, ids: Sequence[int]) -> list[str]:
    """Each token as the tokenizer writes it, as `transformers`' convert_ids_to_tokens gives it: sentencepiece's
    ▁ and byte-level BPE's Ġ before a word, WordPiece's ## inside one, a character per byte (Latin-1,
    as ByT5). Decoded one by one, tokens lose those marks (where the words start) and a byte of a longer
    character becomes U+FFFD. A tokenizer without a string for a token gives its decoded text."""
    try:
        names = [tokenizer.id_to_token(int(i)) for i in ids]
    except NotImplementedError:  # a plugin tokenizer that only encodes and decodes
        names = [None] * len(ids)
    return [n if n is not None else tokenizer.decode([i], skip_special_tokens=False) for n, i in zip(names, ids)]


class InferenceMixin:
    model: Any
    tokenizer: Any
    config: Any

    # ------------------------------------------------------------ what the checkpoint is

    @property
    def kind(self) -> str:
        """encoder | decoder | encoder-decoder."""
        model = self.model
        for obj in (model, getattr(model, "backbone", None)):
            kind = getattr(obj, "kind", None)
            if isinstance(kind, str):
                return kind
        raise NlpfError("cannot tell the architecture kind of this checkpoint's model")

    @property
    def task(self) -> str:
        """lm | seq2seq | classification | regression | multilabel | token_classification | qa | mlm | encoder (a bare
        encoder, no head)."""
        for key in ("objective", "head"):  # the objective first: regressors and multi-label classifiers have a
            # classification head
            name = _node_name(self.config, key)
            task = _TASK_NAMES.get(name) if name in _TASK_NAMES else (
                self._plugin_objective_task() if key == "objective" and name else None)
            if task is not None:
                if task == "lm" and self.kind != "decoder":  # an LM head on an encoder predicts masked tokens
                    return "seq2seq" if self.kind == "encoder-decoder" else "mlm"
                return task
        return {"encoder-decoder": "seq2seq", "decoder": "lm"}.get(self.kind, "encoder")

    def _plugin_objective_task(self) -> Optional[str]:
        """The `task` of an objective from a third-party plugin, built as training built it."""
        from framework.config import validate_component
        from framework.plugins import registries

        if "_plugin_task" not in self.__dict__:  # built once: `task` is read on every call
            node = self.config.get("objective") if hasattr(self.config, "get") else None
            task = None
            if node is not None and node.get("name") in registries().objective:
                from framework.model import call_builder

                objective = call_builder(registries().objective.get(node.name),
                                         validate_component("objective", node), self.tokenizer)
                task = getattr(objective, "task", None)
            self.__dict__["_plugin_task"] = task
        return self.__dict__["_plugin_task"]

    @property
    def labels(self) -> Optional[list[str]]:
        labels = self.config.get("labels") if hasattr(self.config, "get") else None
        return [str(x) for x in labels] if labels else None

    @property
    def device(self) -> torch.device:
        try:
            return next(self.model.parameters()).device
        except StopIteration:
            return torch.device("cpu")

    @property
    def max_length(self) -> int:
        value = self.config.get("max_length") if hasattr(self.config, "get") else None
        return int(value) if value else 512

    def _source_config(self) -> dict:
        """The Hugging Face config an imported checkpoint came from (for token ids when it has no tokenizer)."""
        import json
        from pathlib import Path

        path = getattr(self, "path", None)
        try:
            meta = json.loads((Path(path) / "meta.json").read_text()) if path else {}
        except (OSError, ValueError):
            meta = {}
        return (meta.get("source") or {}).get("config") or {}

    def _special_id(self, name: str) -> Optional[int]:
        value = getattr(self.tokenizer, f"{name}_id", None) if self.tokenizer is not None else None
        if value is None:
            value = self._source_config().get(f"{name}_token_id")
        return value if isinstance(value, int) else None

    def _pad_id(self) -> int:
        for value in (self._special_id("pad"), self._special_id("eos"), 0):
            if value is not None:
                return value
        return 0

    def _eos_ids(self) -> list[int]:
        ids = []
        eos = self._special_id("eos")
        if eos is not None:
            ids.append(eos)
        model_node = self.config.get("model") if hasattr(self.config, "get") else None
        extra = model_node.get("eos_token_id") if model_node is not None and hasattr(model_node, "get") else None
        if isinstance(extra, int) and extra not in ids:
            ids.append(extra)
        return ids

    def _decoder_start_id(self) -> Optional[int]:
        model_node = self.config.get("model") if hasattr(self.config, "get") else None
        start = model_node.get("decoder_start_token_id") if model_node is not None and hasattr(model_node, "get") else None
        if start is not None:
            return int(start)
        pad = self._special_id("pad")
        return pad if pad is not None else self._special_id("bos")

    def _text_tokenizer(self):
        if self.tokenizer is None:
            raise NlpfError("this checkpoint has no tokenizer, so it cannot turn text into tokens",
                            hint="import it from a directory that has tokenizer files, or use generate_tokens() "
                                 "with token ids")
        return self.tokenizer

    def _require(self, allowed: Sequence[str], what: str, hint: str) -> None:
        if self.task not in allowed:
            if self.task == "encoder":
                hint = BARE_ENCODER_HINT
            wanted = ", ".join(_TASK_WORDS[t] for t in allowed[:-1]) + (" or " if len(allowed) > 1 else "")
            raise NlpfError(f"{what} needs {wanted}{_TASK_WORDS[allowed[-1]]}; this checkpoint is "
                            f"{_TASK_WORDS.get(self.task, self.task)}", hint=hint)

    # ------------------------------------------------------------ predict

    def predict(self, texts: Any, batch_size: int = 32, **options) -> Any:
        """Labels for texts (classification; multi-label: every label over `threshold`), scores (regression),
        entity spans (token classification), answers (QA) or filled masks (masked LM).

        `texts`: one input or a list of them; an input is a string or a dict (`{"text", "text_pair"}`,
        `{"tokens"}`, `{"question", "context"}`). As in `transformers` pipelines, one input (a string or a dict)
        gives one result dict, and a list gives a list of dicts in input order. `options`: see `predict_stream`.
        """
        single = isinstance(texts, (str, Mapping))
        if not single:
            _check_inputs("predict", texts)
        results = list(self.predict_stream([texts] if single else texts, batch_size=batch_size, **options))
        return results[0] if single else results

    def predict_stream(self, records: Iterable[Any], batch_size: int = 32, chunk_size: int = 1024,
                       record_names: Optional[Iterable[str]] = None, **options) -> Iterator[dict]:
        """Like `predict` over an iterable of inputs (a list, a generator, an open file: each line a text), reading
        `chunk_size` records ahead; one result dict per input. Options: max_length, top_k, max_answer_length,
        threshold, text_field, pair_field, question_field, context_field (an option the checkpoint's task does not
        use is an error). `record_names`: where each record is, for errors ('FILE, line 4'); by default
        'example N'."""
        from framework.inference.predict import PREDICT_OPTIONS, Predictor

        if isinstance(records, (str, Mapping)):
            raise NlpfError("predict_stream reads an iterable of inputs (a list, a generator, an open file); got a "
                            f"single {'text' if isinstance(records, str) else 'record'}: {describe(records)}",
                            hint="for one input use predict(x), which returns one result; to read a file pass "
                                 "predict_stream(open(path))")
        _check_inputs("predict_stream", records)
        check_options("predict", options, PREDICT_OPTIONS)
        batch_size = positive_int("predict", "batch_size", batch_size)
        chunk_size = positive_int("predict", "chunk_size", chunk_size)
        self._text_tokenizer()
        predictor = Predictor(self, self.task, batch_size=batch_size, **options)
        # a string is a text (a file's lines too); a dict a record; anything else is refused by the predictor,
        # naming the example
        records = ({"text": r.rstrip("\r\n")} if isinstance(r, str) else dict(r) if isinstance(r, Mapping) else r
                   for r in records)
        self.model.eval()
        return predictor.run(records, chunk_size=chunk_size, names=record_names)

    # ------------------------------------------------------------ generate

    def _encode_prompts(self, prompts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        tok = self._text_tokenizer()
        pad = self._pad_id()
        if self.kind == "encoder-decoder":
            rows = [e.ids for e in tok.encode_batch(list(prompts), add_special_tokens=True, max_length=self.max_length)]
            left = False
        else:
            rows = [e.ids for e in tok.encode_batch(list(prompts), add_special_tokens=False)]
            start = tok.bos_id if tok.bos_id is not None else tok.eos_id
            rows = [r if r else ([start] if start is not None else [pad]) for r in rows]
            left = True  # decoders continue from the last real token
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            span = slice(width - len(r), width) if left else slice(0, len(r))
            ids[i, span] = torch.tensor(r, dtype=torch.long)
            mask[i, span] = 1
        return ids.to(self.device), mask.to(self.device)

    def generate_tokens(self, input_ids: torch.Tensor, attention_mask: Optional[torch.Tensor] = None,
                        on_token: Optional[Callable[[int, int], None]] = None, stop_check=None,
                        eos_token_id: int | Sequence[int] | None = None, with_scores: bool = False,
                        **options) -> list[list[Generation]]:
        """Generate from token ids (decoder prompts left padded). Options as in `generate`;
        `eos_token_id` overrides the checkpoint's end-of-sequence id(s); `with_scores` sums the
        log-probabilities of greedy/sampled tokens into `Generation.score`."""
        self._require(("lm", "seq2seq"), "generation",
                      "a masked LM does not generate; `score` gives its pseudo-log-likelihoods" if self.task == "mlm"
                      else "use `predict` for classification, tagging and QA checkpoints")
        o = resolve_options(**options)
        if eos_token_id is None:
            eos = self._eos_ids()
        else:
            eos = [eos_token_id] if isinstance(eos_token_id, int) else list(eos_token_id)
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        self._check_positions(input_ids.shape[1], o.max_new_tokens)
        if any(m.training for m in self.model.modules()):  # eval() sets an attribute per module: costly per call
            self.model.eval()
        seq2seq = self.kind == "encoder-decoder"
        device = self.device
        return generate_ids(self.model, input_ids.to(device), attention_mask.to(device), o,
                            eos, seq2seq, self._decoder_start_id() if seq2seq else None,
                            on_token=on_token, stop_check=stop_check, with_scores=with_scores)

    def _check_positions(self, prompt_length: int, max_new_tokens: int, where: Optional[str] = None) -> None:
        """A decoder with learned positions cannot read past its position table. The last new token is never
        fed back, so prompt + max_new_tokens - 1 positions are read (as in `transformers`). `where` names the
        prompt in the error ("prompt 3", "prompts.txt, line 7")."""
        from framework.config import position_limit

        model_node = self.config.get("model") if hasattr(self.config, "get") else None
        found = position_limit(model_node) if self.kind == "decoder" and model_node is not None else None
        if not found:
            return
        key, limit = found
        room = limit + 1 - prompt_length  # new tokens that fit after this prompt
        if max_new_tokens <= room:
            return
        if room >= 1:
            hint = f"set max_new_tokens to at most {room} or shorten the prompt"
        elif max_new_tokens <= limit:
            hint = f"shorten the prompt to at most {limit + 1 - max_new_tokens} tokens, leaving room for the new ones"
        else:
            hint = f"shorten the prompt and set max_new_tokens to at most {limit}"
        raise NlpfError(f"{where + ': ' if where else ''}the prompt ({prompt_length} tokens) plus "
                        f"max_new_tokens={max_new_tokens} needs "
                        f"{prompt_length + max_new_tokens - 1} positions, more than the model's position table "
                        f"(model.{key}={limit})", hint=hint)

    def generate(self, prompts: str | Sequence[str], batch_size: int = 8, details: bool = False,
                 on_text: Optional[Callable[[str], None]] = None, prompt_names: Optional[Sequence[str]] = None,
                 **options) -> Any:
        """Continue prompts (decoders) or transform sources (encoder-decoders, e.g. translation).

        Args:
            prompts: one string or a list of strings.
            batch_size: prompts decoded together (left padded for decoders).
            details: return `Generation` objects (token ids, score, finish reason, text) instead of strings.
            on_text: called with each new piece of text of the first prompt as it is generated
                (greedy and sampling only), for streaming.
            prompt_names: what an error about a prompt (too long for the position table) calls each one, such as
                the input line it came from; by default "prompt N" of the list.
            options: `GenerationOptions` fields: strategy, max_new_tokens, min_new_tokens, do_sample,
                temperature, top_k, top_p, repetition_penalty, no_repeat_ngram_size, num_beams, length_penalty,
                early_stopping, num_return_sequences, stop (a string or list of strings), seed, use_cache
                (docs/inference.md has what each does).

        Returns:
            a string per prompt, or a list of `num_return_sequences` strings per prompt when it is > 1
            (a single prompt string gives a single result rather than a list).
        """
        single, prompt_list = as_texts("generate", prompts, "prompts", token_ids=True)
        batch_size = positive_int("generate", "batch_size", batch_size)
        check_bool("generate", "details", details)
        if on_text is not None and not callable(on_text):
            raise NlpfError(f"generate: on_text is {describe(on_text)}, not a function",
                            hint="pass on_text=lambda piece: print(piece, end='', flush=True), or leave it out")
        o = resolve_options(**options)
        stops = [s for s in o.stop if s]
        results: list[list[Generation]] = [[] for _ in prompt_list]
        # similar lengths batched together: less padding; padding does not change the tokens
        order = sorted(range(len(prompt_list)), key=lambda i: -len(prompt_list[i]))
        if on_text is not None and order:  # the streamed prompt goes first, alone
            order.remove(0)
            batches = [[0]] + [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
        else:
            batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
        if prompt_names is not None and len(prompt_names) != len(prompt_list):
            raise NlpfError(f"generate: {len(prompt_list)} prompts but {len(prompt_names)} prompt_names",
                            hint="give one name a prompt, or leave prompt_names out")
        for batch in batches:
            ids, mask = self._encode_prompts([prompt_list[i] for i in batch])
            # checked here, where it is known which prompt of the batch is the longest, to name it
            lengths = mask.sum(1)
            longest = batch[int(lengths.argmax())]
            if prompt_names is not None:
                where = prompt_names[longest]
            else:
                where = None if single else f"prompt {longest + 1}"
            self._check_positions(int(lengths.max()), o.max_new_tokens, where)
            streamer = TextStream(self.tokenizer, on_text, stops) if on_text is not None and batch == [0] else None
            stop_check = self._stop_checker(stops) if stops else None
            out = self.generate_tokens(ids, mask, on_token=streamer, stop_check=stop_check, with_scores=details,
                                       **options)
            for i, hyps in zip(batch, out):
                results[i] = hyps
            if streamer is not None:
                streamer.finish(self._cut_at_stop(self.tokenizer.decode(results[0][0].token_ids), stops))
        for hyps in results:
            for g in hyps:
                g.text = self._cut_at_stop(self.tokenizer.decode(g.token_ids), stops)
        if details:
            out: Any = results
        elif o.num_return_sequences > 1:
            out = [[g.text for g in hyps] for hyps in results]
        else:
            out = [hyps[0].text for hyps in results]
        return out[0] if single else out

    def _stop_checker(self, stops: list[str]):
        decode = self.tokenizer.decode
        tail = max(len(s) for s in stops) + 16  # tokens enough to contain any stop string

        def check(row: int, ids: list[int]) -> bool:
            text = decode(ids[-tail:])
            return any(s in text for s in stops)

        return check

    @staticmethod
    def _cut_at_stop(text: str, stops: list[str]) -> str:
        cut = min((text.find(s) for s in stops if s in text), default=-1)
        return text if cut < 0 else text[:cut]

    # ------------------------------------------------------------ score

    def score(self, texts: str | Sequence[str], sources: Optional[Sequence[str]] = None, batch_size: int = 16,
              tokens: bool = False, eos: Optional[bool] = None) -> Any:
        """Log-likelihood (natural log), token count and perplexity of each text under the LM.

        For encoder-decoders each text is scored as the target given `sources[i]` (one source a text; a string
        with a single text).
        With `tokens=True` the result also lists the tokens (the tokenizer's own strings, see `token_strings`)
        and their log-probabilities.
        `eos=True` also scores the end-of-sequence token after the text (the probability that it ends there);
        None (the default) means no for decoders, as in `transformers` perplexity, and yes for encoder-decoders,
        which are trained to end their targets with it.
        Returns a dict per text (one dict for a single string).
        """
        from framework.inference.scoring import score_seq2seq

        self._require(("lm", "seq2seq", "mlm"), "scoring",
                      "scoring needs a language model (decoder, encoder-decoder or masked LM)")
        single, text_list = as_texts("score", texts, token_ids=True)
        batch_size = positive_int("score", "batch_size", batch_size)
        check_bool("score", "tokens", tokens)
        check_bool("score", "eos", eos, allow_none=True)
        tok = self._text_tokenizer()
        self.model.eval()
        if self.kind == "encoder-decoder":
            if sources is None:
                raise NlpfError("an encoder-decoder scores a target given a source, and no sources were given",
                                hint='pass sources=[...] (CLI: JSONL lines with "source" and "target")')
            _, source_list = as_texts("score", sources, "sources")  # a string is one source, not its characters
            if len(source_list) != len(text_list):
                raise NlpfError(f"score: {len(text_list)} text{'s' * (len(text_list) != 1)} but {len(source_list)} "
                                f"source{'s' * (len(source_list) != 1)}",
                                hint="pass one source a text: text i is scored as the target of sources[i]")
            src_rows = [e.ids for e in tok.encode_batch(source_list, max_length=self.max_length)]
            tgt_rows = [e.ids for e in tok.encode_batch(text_list, max_length=self.max_length)]
            end = self._end_id(eos is None or eos)
            # the tokenizer's template may or may not end a target with EOS: make it end as asked
            tgt_rows = [(r[:-1] if r and r[-1] == tok.eos_id else r)[:self.max_length - (end is not None)]
                        + ([end] if end is not None else []) for r in tgt_rows]
            scorer = lambda idx: score_seq2seq(self.model, [src_rows[i] for i in idx], [tgt_rows[i] for i in idx],
                                                self._pad_id(), self._decoder_start_id(), self.device)
            lengths = [len(r) for r in tgt_rows]
        elif self.task == "mlm":
            if eos:
                raise NlpfError("eos=true does not apply to a masked LM: it scores each token given all the others",
                                hint="leave eos out")
            from framework.inference.scoring import score_masked

            if tok.mask_id is None:
                raise NlpfError("this checkpoint's tokenizer has no mask token, so a masked LM cannot score with it",
                                hint="use a tokenizer with a mask token (BERT's [MASK])")
            rows = [e.ids for e in tok.encode_batch(text_list, max_length=self.max_length)]
            skip = tok.special_ids - {tok.unk_id}  # an unknown word is still a word: skipped, it would score 0
            scorer = lambda idx: score_masked(self.model, [rows[i] for i in idx], tok.mask_id, skip,
                                              self._pad_id(), self.device, batch_size)
            lengths = [len(r) for r in rows]
        else:
            # the first token is context only; a BOS (or EOS, as in GPT-2) in front lets every real token count
            start = tok.bos_id if tok.bos_id is not None else tok.eos_id
            rows = [e.ids for e in tok.encode_batch(text_list, add_special_tokens=False)]
            if start is not None:
                rows = [[start] + r for r in rows]
            end = self._end_id(bool(eos))
            rows = [r + [end] if end is not None else r for r in rows]
            # a text longer than max_length is scored in sliding windows, every token with context before it
            scorer = lambda idx: self._score_windows([rows[i] for i in idx], batch_size)
            lengths = [len(r) for r in rows]
        from framework.inference.predict import by_length

        results: list[Any] = [None] * len(text_list)
        for batch in by_length(lengths, batch_size):
            for i, s in zip(batch, scorer(batch)):
                results[i] = s.as_dict(token_strings(tok, s.token_ids) if tokens else None)
        return results[0] if single else results

    def _score_windows(self, rows: list[list[int]], batch_size: int) -> list:
        """Decoder scores of token rows, each split into `max_length` windows, batch_size windows a forward."""
        from framework.inference.scoring import joined, score_decoder, windows

        pieces = [(i, window, context) for i, row in enumerate(rows) for window, context in windows(row, self.max_length)]
        parts: list[list] = [[] for _ in rows]
        for k in range(0, len(pieces), batch_size):
            chunk = pieces[k:k + batch_size]
            scores = score_decoder(self.model, [w for _, w, _ in chunk], [c for _, _, c in chunk], self._pad_id(),
                                   self.device)
            for (i, _, _), s in zip(chunk, scores):
                parts[i].append(s)
        return [joined(p) for p in parts]

    def _end_id(self, wanted: bool) -> Optional[int]:
        """The end-of-sequence id to score after each text, or None when not `wanted`."""
        if not wanted:
            return None
        end = self.tokenizer.eos_id
        if end is None:
            raise NlpfError("this checkpoint's tokenizer has no end-of-sequence token to score",
                            hint="pass eos=false to score the text alone")
        return end

    def rescore(self, nbest: Iterable[dict], lm_weight: float = 0.5, length_bonus: float = 0.0,
                batch_size: int = 16, eos: Optional[bool] = None) -> list[dict]:
        """Re-rank n-best lists by first-pass score + lm_weight * LM log-likelihood + length_bonus * words.

        The LM log-likelihood includes the end-of-sequence token unless `eos=False`: without it a hypothesis cut
        short (or an empty one) loses nothing for where it stops, and a shorter hypothesis always scores higher.

        `nbest`: dicts `{"id", "hypotheses": [{"text", "score"}, ...], "source"?}` (see
        `framework.inference.scoring`). Returns them with hypotheses sorted best first.
        """
        from framework.inference.scoring import read_nbest, rerank

        if nbest is None or isinstance(nbest, (str, bytes, Mapping)) or not isinstance(nbest, Iterable):
            raise NlpfError(f"rescore: nbest is {describe(nbest)}, not a list of n-best items",
                            hint='pass a list of dicts: [{"id": 1, "hypotheses": [{"text": "...", "score": -1.0}]}]')
        lm_weight = check_number("rescore", "lm_weight", lm_weight)
        length_bonus = check_number("rescore", "length_bonus", length_bonus)
        batch_size = positive_int("rescore", "batch_size", batch_size)
        check_bool("rescore", "eos", eos, allow_none=True)
        items = list(nbest)
        for number, item in enumerate(items, 1):  # the same checks as the file reader
            list(read_nbest([json.dumps(item)], where=f"n-best item {number}"))
        if self.kind == "encoder-decoder":
            for number, item in enumerate(items, 1):
                if item["hypotheses"] and item.get("source") is None:
                    raise NlpfError(f"n-best item {number} (id {item.get('id')!r}) has no 'source'",
                                    hint='an encoder-decoder scores each hypothesis given its source: add '
                                         '"source": "..." to every line')
        texts = [h["text"] for item in items for h in item["hypotheses"]]
        sources = [item.get("source") or "" for item in items for _ in item["hypotheses"]]
        if not texts:
            return [rerank(item, [], lm_weight, length_bonus) for item in items]
        if eos is None:  # the end token counts, where the model has one to score
            eos = self.task != "mlm"
        scored = self.score(texts, sources=sources if self.kind == "encoder-decoder" else None, batch_size=batch_size,
                            eos=eos)
        out, k = [], 0
        for item in items:
            n = len(item["hypotheses"])
            out.append(rerank(item, [s["log_likelihood"] for s in scored[k:k + n]], lm_weight, length_bonus))
            k += n
        return out

    # ------------------------------------------------------------ embed

    def embed(self, texts: str | Sequence[str], batch_size: int = 32, pooling: str = "mean",
              normalize: bool = True) -> torch.Tensor:
        """Sentence embeddings [N, hidden] (float32, on the CPU) from an encoder's last hidden states, or from
        an encoder-decoder's encoder: `pooling="mean"` over the real tokens (sentence-transformers' default,
        all-MiniLM-L6-v2's pooling) or "cls" (the first token); `normalize` scales each to unit length, so a
        dot product is the cosine similarity. One string gives a [hidden] vector."""
        from framework.inference.predict import by_length
        from framework.inference.scoring import pad_right

        if pooling not in ("mean", "cls"):
            raise NlpfError(f"unknown pooling '{pooling}'." + did_you_mean(str(pooling), ["mean", "cls"]),
                            hint="pooling=mean|cls")
        if self.kind == "decoder":
            raise NlpfError("sentence embeddings need an encoder (or an encoder-decoder's encoder); this checkpoint "
                            "is a decoder", hint="use `score` or `generate` with a decoder")
        single, text_list = as_texts("embed", texts)
        batch_size = positive_int("embed", "batch_size", batch_size)
        check_bool("embed", "normalize", normalize)
        tok = self._text_tokenizer()
        rows = [e.ids for e in tok.encode_batch(text_list, max_length=self.max_length)]
        self.model.eval()
        vectors: list[torch.Tensor] = [torch.empty(0)] * len(rows)
        with torch.inference_mode():
            for batch in by_length([len(r) for r in rows], batch_size):
                ids, mask = pad_right([rows[i] for i in batch], self._pad_id(), self.device)
                if self.kind == "encoder-decoder":
                    hidden = self.model.encode(ids, attention_mask=mask).last_hidden_state
                else:
                    backbone = getattr(self.model, "backbone", self.model)
                    hidden = backbone(ids, attention_mask=mask).last_hidden_state
                hidden = hidden.float()
                if pooling == "cls":
                    pooled = hidden[:, 0]
                else:
                    weights = mask.unsqueeze(-1).to(hidden.dtype)
                    pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)
                if normalize:
                    pooled = torch.nn.functional.normalize(pooled, dim=-1)
                for i, vector in zip(batch, pooled.cpu()):
                    vectors[i] = vector
        if single:
            return vectors[0]
        if not vectors:  # [0, hidden]: no rows, but the width of any other batch's vectors
            return torch.empty(0, getattr(self.model, "backbone", self.model).hidden_size)
        return torch.stack(vectors)


class TextStream:
    """Turns streamed token ids of row 0 into text pieces, waiting out incomplete UTF-8 sequences and holding
    back any end of the text that may be the start of a stop string, so a stop string is never printed."""

    def __init__(self, tokenizer, on_text: Callable[[str], None], stops: Sequence[str] = ()):
        self.tokenizer, self.on_text, self.stops = tokenizer, on_text, [s for s in stops if s]
        self.ids: list[int] = []
        self.printed = 0
        self.stopped = False

    def _safe_end(self, text: str) -> int:
        """How much of `text` may be printed: up to the first stop string, else all but a possible stop start."""
        cuts = [text.find(s) for s in self.stops if s in text]
        if cuts:
            self.stopped = True
            return min(cuts)
        held = max((k for s in self.stops for k in range(1, len(s)) if text.endswith(s[:k])), default=0)
        return len(text) - held

    def _emit(self, text: str, end: int) -> None:
        if end > self.printed:
            self.on_text(text[self.printed:end])
            self.printed = end

    def __call__(self, row: int, token_id: int) -> None:
        if row != 0 or self.stopped:
            return
        self.ids.append(token_id)
        text = self.tokenizer.decode(self.ids)
        if text.endswith("\ufffd"):
            return
        self._emit(text, self._safe_end(text))

    def finish(self, final_text: str) -> None:
        """Emit what was held back (an incomplete character or a stop-string start at the end); `final_text` is
        the generated text already cut before any stop string."""
        self._emit(final_text, len(final_text))
