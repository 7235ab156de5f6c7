"""Classification inference sentences/s: nlpf `predict` beside `transformers`, same weights, one run.

A random-weight BertForSequenceClassification of the MiniLM size (12 layers, hidden 384) with a
WordPiece tokenizer over a synthetic vocabulary is saved with save_pretrained and imported with
`framework.hf.import_hf`. Both sides tokenize raw sentences of mixed length, run the model and take
the softmax; `transformers` batches the sentences in input order (the usual loop), nlpf sorts each
chunk by length. The script checks that both give the same labels before timing.

    python benchmarks/classification_inference.py
    python benchmarks/classification_inference.py --sentences 512 --dtypes float32
"""
from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import torch

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def words(n: int) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    out = []
    for i in range(n):
        w, k = "", i + 26
        while k:
            w, k = letters[k % 26] + w, k // 26
        out.append(w)
    return out


def build(args, root: Path):
    import transformers

    import framework
    from framework.hf import import_hf

    vocab = words(args.vocab_words)
    (root / "vocab.txt").write_text("\n".join(SPECIALS + vocab) + "\n")
    tok = transformers.BertTokenizerFast(vocab_file=str(root / "vocab.txt"))
    cfg = transformers.BertConfig(vocab_size=len(SPECIALS) + len(vocab), hidden_size=384, num_hidden_layers=args.layers,
                                  num_attention_heads=12, intermediate_size=1536, max_position_embeddings=512,
                                  num_labels=3, id2label={0: "neg", 1: "neu", 2: "pos"},
                                  label2id={"neg": 0, "neu": 1, "pos": 2})
    torch.manual_seed(0)
    hf = transformers.BertForSequenceClassification(cfg).eval()
    hf.save_pretrained(root / "hf")
    tok.save_pretrained(root / "hf")
    import_hf(root / "hf", root / "nlpf")
    return hf, tok, framework.load(root / "nlpf"), vocab


def timed_pair(a, b, repeats: int) -> tuple[float, float]:
    """Best wall time of each, runs interleaved so that load from other processes hits both alike."""
    best = [float("inf"), float("inf")]
    for _ in range(repeats):
        for k, fn in enumerate((a, b)):
            start = time.perf_counter()
            fn()
            best[k] = min(best[k], time.perf_counter() - start)
    return best[0], best[1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sentences", type=int, default=256)
    p.add_argument("--min-words", type=int, default=4)
    p.add_argument("--max-words", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--layers", type=int, default=12)
    p.add_argument("--vocab-words", type=int, default=5000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"])
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        hf, tok, pipe, vocab = build(args, Path(tmp))
        rng = random.Random(0)
        texts = [" ".join(rng.choice(vocab) for _ in range(rng.randint(args.min_words, args.max_words)))
                 for _ in range(args.sentences)]
        labels = ["neg", "neu", "pos"]

        def theirs():
            out = []
            with torch.inference_mode():
                for i in range(0, len(texts), args.batch_size):
                    enc = tok(texts[i:i + args.batch_size], padding=True, truncation=True, max_length=512,
                              return_tensors="pt")
                    probs = hf(**enc).logits.float().softmax(-1)
                    out.extend(labels[j] for j in probs.argmax(-1).tolist())
            return out

        def ours():
            return [r["label"] for r in pipe.predict(texts, batch_size=args.batch_size)]

        print(f"BERT (MiniLM size: {args.layers} layers, hidden 384), {args.sentences} sentences of "
              f"{args.min_words}-{args.max_words} words, batch {args.batch_size}, {args.threads} threads, "
              f"torch {torch.__version__}")
        print(f"{'dtype':>9} {'nlpf sent/s':>12} {'transformers sent/s':>20} {'ratio':>6}  same labels")
        for dtype in args.dtypes:
            hf.to(getattr(torch, dtype))
            pipe.model.to(getattr(torch, dtype))
            same = sum(a == b for a, b in zip(ours(), theirs())) / len(texts)
            t_ours, t_theirs = timed_pair(ours, theirs, args.repeats)  # the label check above warmed both up
            n = len(texts)
            print(f"{dtype:>9} {n / t_ours:>12.1f} {n / t_theirs:>20.1f} {t_theirs / t_ours:>5.2f}x  {same:.1%}")


if __name__ == "__main__":
    main()
